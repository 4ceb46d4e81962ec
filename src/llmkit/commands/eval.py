"""``llmkit eval MODEL --suite NAME``: score a model on a benchmark suite; results saved as JSON + Markdown."""
from __future__ import annotations

import json
import sys
from pathlib import Path

HELP = "Score a model on a benchmark suite: code (HumanEval, sandboxed), chat, classify, asr."
EXAMPLES = """\
  llmkit eval smollm2-135m-instruct --suite chat
  llmkit eval qwen2.5-coder-0.5b-instruct --suite code              # HumanEval, greedy pass@1
  llmkit eval MODEL --suite code --samples 10 --temperature 0.8     # pass@1 and pass@10, unbiased estimator
  llmkit eval qwen2.5-coder-0.5b-instruct --suite code --prompt makers   # as its makers prompted it (code-makers.json)
  llmkit eval sentiment --suite classify --data fine_food_reviews:test --limit 200
  llmkit eval whisper-tiny.en --suite asr --data clips/             # clips/x.wav + clips/x.txt pairs
  llmkit eval smollm2-135m-instruct --suite chat --limit 5 --json --output /tmp/evals

  llmkit eval openai:gpt-4o-mini --suite chat --allow-remote        # a remote model (docs/remote.md)

Results go to LLMKIT_HOME/evals/<model>/<suite>.json and .md (or --output DIR); `models recommend` and `compare`
read them. An interrupted code run keeps the problems it finished: the same command continues (--fresh starts
over). See docs/evals.md.
"""


def add_arguments(p) -> None:
    from ..evals import describe_suites

    p.add_argument("model", help="catalog name, .gguf file, model folder or hub id")
    p.add_argument("--suite", required=True, metavar="NAME", help=f"one of: {describe_suites()}")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N items (a quick look)")
    p.add_argument("--samples", type=int, default=1, metavar="K", help="answers per item (code: pass@k); "
                   "needs --temperature above 0")
    p.add_argument("--temperature", type=float, default=0.0, metavar="T", help="0 (default) is greedy")
    p.add_argument("--seed", type=int, default=0, help="first sampling seed (sample i uses seed + i)")
    p.add_argument("--max-new-tokens", type=int, default=None, metavar="N",
                   help="answer length cap (default: code 768, chat 256)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for llama.cpp")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S",
                   help="code: seconds each program may run in the sandbox (default 10)")
    from ..evals.humaneval import PROMPT_CHOICES

    p.add_argument("--prompt", default="evalplus", choices=PROMPT_CHOICES,
                   help="code: evalplus (default: one prompt for every model, so they compare), makers (the prompt the "
                   "model's makers published their scores with, where the catalog names one), or a prompt by name")
    p.add_argument("--data", default=None, metavar="D", help="classify: built-in dataset name or CSV/JSONL with "
                   "text,label; asr: a folder of audio + .txt pairs, or a manifest (JSONL/CSV with audio,text)")
    p.add_argument("--task", default=None, help="classify: the head of a multi-task model folder")
    from ..providers import add_remote_flags

    add_remote_flags(p)  # --allow-remote, --redact/--no-redact: a remote model (openai:..., docs/remote.md)
    p.add_argument("--output", default=None, metavar="DIR", help="write <suite>.json and <suite>.md here "
                   "(default: LLMKIT_HOME/evals/<model>/)")
    p.add_argument("--fresh", action="store_true", help="code: start over, dropping the problems an interrupted "
                   "run of the same command finished (by default it continues from them)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")


def run(args) -> int:
    from ..evals import run_suite, shown_name, suite_module
    from ..evals.journal import journal_path
    from ..errors import InputError
    from ..evals.results import result_stem, results_dir, save
    from ..providers import remote_from_args

    remote_from_args(args)  # as compare does: the suites' pipelines (and compare --suite's workers) see it
    module = suite_module(args.suite)  # an unknown suite fails before any model loads
    journal = None
    if args.fresh and not getattr(module, "RESUMABLE", False):
        raise InputError(f"--fresh is for the code suite (the one that keeps a journal); a {args.suite} run always "
                         "starts over: drop --fresh.")
    if args.prompt != "evalplus" and args.suite != "code":
        raise InputError(f"--prompt is for the code suite; a {args.suite} run has one way of asking: drop --prompt.")
    if getattr(module, "RESUMABLE", False):
        folder = Path(args.output).expanduser() if args.output else results_dir(shown_name(args.model))
        variant = args.prompt if args.prompt != "evalplus" else None
        journal = journal_path(folder, result_stem(args.suite, args.limit, variant))
        if args.fresh:
            journal.unlink(missing_ok=True)
    state = {"done": 0, "total": 0}

    def progress(done: int, total: int, note: str) -> None:
        state.update(done=done, total=total)
        if not args.quiet:
            print(f"[{args.suite} {done}/{total}] {note}", file=sys.stderr, flush=True)

    try:
        result = run_suite(args.model, args.suite, args.limit, progress=progress, samples=args.samples,
                           temperature=args.temperature, seed=args.seed, max_new_tokens=args.max_new_tokens,
                           threads=args.threads, timeout=args.timeout, data=args.data, task=args.task,
                           journal=str(journal) if journal else None, prompt=args.prompt)
    except KeyboardInterrupt:
        if journal is None or not state["done"]:
            raise
        print(f"llmkit: interrupted after {state['done']} of {state['total']} items; they are kept: run the same "
              "command again to continue (--fresh starts over).", file=sys.stderr)
        return 130
    json_path, md_path = save(result, args.output)  # removes the journal
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
        return 0
    better = "higher is better" if result.higher_is_better else "lower is better"
    print(f"{result.suite} on {result.model}: {result.primary} {result.score:.4f} ({better}; {result.n} items"
          f"{', --limit: not the full benchmark' if args.limit else ''})")
    for name, value in result.metrics.items():
        if name != result.primary:
            print(f"  {name} {value:.4f}" if isinstance(value, float) else f"  {name} {value}")
    if result.options.get("resumed"):
        print(f"  ({result.options['resumed']} of {result.n} items kept from the interrupted run)")
    print(f"saved {json_path} and {md_path.name}" + (" (a --limit run: kept apart from the full result, which "
                                                     "`models recommend` and `compare` use)" if result.partial else ""))
    return 0
