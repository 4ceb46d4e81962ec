"""``llmkit compare MODEL MODEL ... --prompts FILE``: the same prompts through each model, a report side by side."""
from __future__ import annotations

import argparse
import os
import sys
import time

from ..errors import InputError

HELP = "Run the same prompts through several models and write a side-by-side report (outputs, speed, memory)."
EXAMPLES = """\
  llmkit compare smollm2-135m-instruct my-model.gguf --prompts prompts.txt --max-tokens 64 --output cmp
  llmkit compare smollm2-135m-instruct my-model.gguf --prompts chats.jsonl   # {"prompt": ...} or {"messages": [...]}
  llmkit compare --export-votes votes.csv        # the web app's Compare-tab votes, as CSV
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..compare import CompareOptions

    d = CompareOptions()
    parser.add_argument("models", nargs="*", metavar="MODEL", help="two or more: catalog names, .gguf files, folders")
    parser.add_argument("--prompts", metavar="FILE", help="one prompt a line (.txt), or JSONL with prompt or messages")
    parser.add_argument("--suite", metavar="NAME", help="an eval suite instead of --prompts (scores each model)")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="with --suite: its first N items")
    parser.add_argument("--max-tokens", type=int, default=d.max_tokens, metavar="N",
                        help=f"at most N new tokens per answer (default {d.max_tokens})")
    parser.add_argument("--temperature", type=float, default=d.temperature, help="0 is greedy (the default)")
    parser.add_argument("--seed", type=int, default=d.seed, help=f"sampling seed (default {d.seed})")
    parser.add_argument("--engine", choices=["auto", "llamacpp", "llama-cpp-python", "torch"], default=d.engine)
    from ..providers import add_remote_flags

    add_remote_flags(parser)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: the engine's choice)")
    parser.add_argument("--output", "-o", metavar="DIR", default=None,
                        help="where report.md, report.json and chart.png go (default: compare-DATE-TIME)")
    parser.add_argument("--export-votes", metavar="FILE.csv", default=None,
                        help="write the web app's Compare-tab votes as CSV, and do nothing else")


def run(args: argparse.Namespace) -> int:
    from ..compare import CompareOptions, VoteStore, compare, read_prompts, write_report
    from ..providers import remote_from_args

    remote_from_args(args)

    if args.export_votes:
        if args.models or args.prompts or args.suite:
            raise InputError("--export-votes runs alone; give no models, --prompts or --suite with it.")
        store = VoteStore()
        path = store.export_csv(args.export_votes)
        print(f"{len(store)} votes written to {path}", file=sys.stderr)
        return 0
    if bool(args.prompts) == bool(args.suite):
        raise InputError("give --prompts FILE (one prompt a line) or --suite NAME, one of the two.")
    options = CompareOptions(max_tokens=args.max_tokens, temperature=args.temperature, seed=args.seed,
                             engine=args.engine, threads=args.threads, suite=args.suite, limit=args.limit)
    prompts = read_prompts(args.prompts) if args.prompts else []
    output = args.output or time.strftime("compare-%Y%m%d-%H%M%S")
    if os.path.exists(output) and not os.path.isdir(output):
        raise InputError(f"--output {output} is a file; give a folder name (it is made if absent).")

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    result = compare(list(args.models), prompts, options, progress)
    folder = write_report(result, output)
    print(f"report: {folder}/report.md (and report.json, chart.png)", file=sys.stderr)
    for r in result.runs:
        speed = f"{r['tokens_per_s']:.1f} tok/s" if r.get("tokens_per_s") else "-"
        first = f"{r['first_token_s']:.3f} s" if r.get("first_token_s") is not None else "-"
        print(f"{r['model']}: {speed}, first token {first}, peak RSS {r['peak_rss_mb']:.0f} MB")
    return 0
