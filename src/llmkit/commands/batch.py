"""``llmkit batch TASK --input GLOB --output DIR``: a task over many rows on Ray Data, resumable.

TASK is a pipeline task or its verb (classify, embed, generate, transcribe); each has the options of its verb.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

HELP = "Run a task over JSONL/CSV/Parquet shards on Ray Data (local cores or a cluster); resumable."
EXAMPLES = """\
  llmkit batch classify --input 'reviews/*.jsonl' --output labels/            # local Ray, all cores
  llmkit batch classify --input reviews.csv --output labels/ --workers 2 --threads-per-worker 1
  llmkit batch embed --input docs/ --output vectors/ --normalize --format jsonl
  llmkit batch generate --input prompts.jsonl --output answers/ --max-new-tokens 64 --temperature 0
  llmkit batch transcribe --input calls.csv --text-column audio --output transcripts/ --fast
  llmkit batch classify --input 's3-mount/*.parquet' --output out/ --ray auto  # join a running cluster
"""

# verb -> pipeline task; the pipeline task's own name and aliases work too (see llmkit/task_table.py)
VERBS = {"classify": "text-classification", "embed": "sentence-embeddings", "generate": "text-generation",
         "transcribe": "automatic-speech-recognition"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..task_table import get

    sub = p.add_subparsers(dest="batch_task", metavar="TASK", required=True)
    for verb, task in VERBS.items():
        aliases = [n for n in get(task).names]
        s = sub.add_parser(verb, aliases=aliases, help=f"{task} ({get(task).default_model} by default)",
                           description=f"llmkit batch {verb}: {task} over many rows on Ray Data.")
        s.set_defaults(batch_task=task, _prog=s.prog)
        _add_job_flags(s, audio=verb == "transcribe")
        _TASK_FLAGS[task](s)


def _add_job_flags(s: argparse.ArgumentParser, audio: bool) -> None:
    g = s.add_argument_group("job")
    # --input and --output are required, checked in run(): argparse's own check would hide a misspelt flag
    g.add_argument("--input", "-i", metavar="PATH_OR_GLOB",
                   help="a JSONL/CSV/TSV/Parquet file, a folder of them, or a glob of shards (quote it)")
    g.add_argument("--output", "-o", type=Path, metavar="DIR",
                   help="folder for part-<hash> shards, errors.jsonl and the job manifest")
    g.add_argument("--workers", type=int, default=None, metavar="N",
                   help="model copies (Ray actors) (default: CPUs / threads per worker)")
    g.add_argument("--threads-per-worker", type=int, default=1, metavar="T", help="threads per model copy (default: 1)")
    g.add_argument("--ray", default=None, metavar="ADDRESS",
                   help="join a cluster: auto, or ray://host:port (default: a local Ray on this machine's cores)")
    g.add_argument("--id-column", default="id", metavar="NAME",
                   help="carried to the output (default: id; without one, ids are FILE:ROW)")
    g.add_argument("--text-column", default="audio" if audio else "text", metavar="NAME",
                   help="column of audio file paths (default: audio)" if audio else "column to read (default: text)")
    g.add_argument("--format", default="parquet", choices=["parquet", "jsonl"], help="output shards (default: parquet)")
    g.add_argument("--shard-rows", type=int, default=1000, metavar="N",
                   help="rows per output shard: the unit of retry and resume (default: 1000)")


def _classify_flags(s) -> None:
    from .classify import add_model_arguments

    add_model_arguments(s)


def _embed_flags(s) -> None:
    from .embed import add_model_arguments

    add_model_arguments(s)


def _generate_flags(s) -> None:
    from ..options import add_flags
    from ..tasks.generate_options import GenerationOptions

    from ..task_table import get

    s.add_argument("--model", "-m", default=None, help="catalog name, .gguf file, model folder or hub id "
                   f"(default: {get('text-generation').default_model})")
    s.add_argument("--engine", choices=["auto", "llamacpp", "llama-cpp-python", "torch"], default="auto")
    from ._io import add_device_arguments

    add_device_arguments(s, only=["device"])
    add_flags(s, GenerationOptions, skip=["logprobs"])
    from ..providers import add_remote_flags

    add_remote_flags(s)  # --allow-remote, --redact/--no-redact: a remote model (docs/remote.md) on every worker
    s.add_argument("--system", default=None, metavar="TEXT", help="a system prompt")
    s.add_argument("--context", type=int, default=None, metavar="N", help="context window in tokens")
    s.add_argument("--raw", action="store_true", help="send each prompt as is, without the chat template")


def _transcribe_flags(s) -> None:
    from ..options import add_flags
    from ..tasks.transcribe_options import TranscribeOptions
    from .transcribe import CLI_DEFAULTS

    s.add_argument("--model", default=None, help="catalog name, hub id or local folder (default: whisper-tiny.en)")
    s.set_defaults(engine="auto")
    decoding = s.add_mutually_exclusive_group()
    add_flags(decoding, TranscribeOptions, only=["beam_size"])
    decoding.add_argument("--fast", action="store_true", help="greedy decoding: faster, less accurate")
    add_flags(s, TranscribeOptions, skip=["beam_size", "cpu_threads", "word_timestamps", "timestamps"],
              shown_defaults=CLI_DEFAULTS)


_TASK_FLAGS = {"text-classification": _classify_flags, "sentence-embeddings": _embed_flags,
               "text-generation": _generate_flags, "automatic-speech-recognition": _transcribe_flags}


def task_options(args: argparse.Namespace, task: str) -> dict[str, Any]:
    """The verb's options, validated here (before Ray starts) by the same classes the verbs use."""
    from ..errors import InputError
    from ..options import given
    from ._io import device_options

    where = device_options(args)  # --device/--precision (transcribe: TranscribeOptions' own --device)
    if task == "text-classification":
        from ..tasks.classify import ClassifyOptions

        if args.top_k < 0:
            raise InputError("--top-k must be >= 0 (0 means every label).")
        ClassifyOptions(task=args.task, max_length=args.max_length, batch_size=args.batch_size, **where)
        return {"task": args.task, "max_length": args.max_length, "batch_size": args.batch_size, "top_k": args.top_k,
                **where}
    if task == "sentence-embeddings":
        from ..tasks.embed import EmbedOptions

        EmbedOptions(batch_size=args.batch_size, **where)
        return {"batch_size": args.batch_size, "normalize": args.normalize, **where}
    if task == "text-generation":
        from ..tasks.generate_options import GenerationOptions

        opts = given(args, GenerationOptions)
        GenerationOptions().replace(**opts)
        if args.context is not None and args.context < 64:
            raise InputError(f"--context must be 64 tokens or more (got {args.context}).")
        return {**opts, "system": args.system, "raw": args.raw, "context": args.context,
                "allow_remote": args.allow_remote, "redact": args.redact, **where}
    from ..tasks.transcribe_options import TranscribeOptions
    from .transcribe import CLI_DEFAULTS

    opts = {**CLI_DEFAULTS, **given(args, TranscribeOptions)}
    TranscribeOptions.preset("fast" if args.fast else "accurate", **opts)
    return {**opts, "fast": args.fast}


def run(args: argparse.Namespace) -> int:
    import json

    from .. import providers
    from ..batch.inputs import expand, file_digest, read_shards
    from ..batch.job import JobSpec, check_output, import_ray, run_job
    from ..errors import InputError
    from ..hub import resolve
    from ..task_table import get

    task = args.batch_task
    missing = [flag for flag, value in (("--input", args.input), ("--output", args.output)) if value is None]
    if missing:
        print(f"{args._prog}: error: the following arguments are required: {', '.join(missing)} (see "
              f"`{args._prog} --help`)", file=sys.stderr)
        return 2
    for flag, value in (("--workers", args.workers), ("--threads-per-worker", args.threads_per_worker),
                        ("--shard-rows", args.shard_rows)):
        if value is not None and value < 1:
            raise InputError(f"{flag} must be 1 or more (got {value}).")
    import_ray()  # before reading anything: the one line that says how to install it
    options = task_options(args, task)
    from ..devices import resolve_torch

    resolve_torch(options.get("device", "cpu"))  # no GPU here: one line before Ray starts
    # where rows run is not what they compute: a job resumed on another --device is the same job (fp32 is
    # the default precision; bf16/fp16 round differently, so they stay in the job's key)
    # the opt-in says who may run it, not what it computes: a job resumed with LLMKIT_ALLOW_REMOTE=1 is the same
    # (and redact left unsaid keeps the keys of jobs written before it existed)
    kept = {k: v for k, v in options.items()
            if k not in ("device", "allow_remote") and (k, v) not in (("precision", "fp32"), ("redact", None))}
    files = expand(args.input)
    model = args.model or get(task).default_model
    remote = providers.parse(model) if task == "text-generation" else None
    if remote:  # refused here, in one line, before Ray starts or a byte leaves (each worker checks again)
        providers.check_allowed(remote, options.get("allow_remote"))
        providers.settings(remote)  # a missing key, likewise
    # the manifest is written into --output: a remote reference as shown (no user:password@ or ?key= of its URL)
    manifest = {"task": task, "model": remote.name if remote else model, "engine": args.engine, "options": kept,
                "format": args.format, "id_column": args.id_column, "text_column": args.text_column,
                "shard_rows": args.shard_rows}
    shards = read_shards(files, job_key=json.dumps(manifest, sort_keys=True, default=str), id_column=args.id_column,
                         value_column=args.text_column, shard_rows=args.shard_rows,
                         audio=task == "automatic-speech-recognition")
    if not shards:
        raise InputError(f"--input {args.input}: no rows to process.")
    manifest["inputs"] = [[str(f.resolve()), file_digest(f)] for f in files]
    check_output(args.output, manifest)  # another job's folder: refused before anything loads
    resolve(model)  # an unknown model fails here, once, not in every worker
    spec = JobSpec(task, model, args.engine, options, args.output, args.format, args.workers,
                   args.threads_per_worker, args.ray)
    s = run_job(spec, shards, manifest)
    done = s["rows"] - s["errors"]
    skipped = f", {s['skipped_shards']} shard(s) done before, skipped" if s["skipped_shards"] else ""
    rate = (s["rows"] - s["skipped_rows"]) / s["seconds"] if s["seconds"] > 0 else 0.0
    errors = f", {s['errors']} error(s) in {args.output / 'errors.jsonl'}" if s["errors"] else ", 0 errors"
    workers = f" on {s['workers']} worker(s) x {args.threads_per_worker} thread(s)" if s["workers"] else ""
    print(f"llmkit batch: {done} of {s['rows']} rows -> {args.output} ({s['shards']} shard(s){skipped}){errors}"
          f"{workers}" + (f", {s['seconds']:.1f} s, {rate:.{0 if rate >= 10 else 1}f} rows/s" if s["workers"] else ""), file=sys.stderr)
    return 0
