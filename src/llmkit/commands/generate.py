"""``llmkit generate PROMPT``: stream a model's answer to the terminal (or print one JSON object)."""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from typing import Any

from ..errors import InputError

HELP = "Generate text from a prompt, streamed to the terminal (chat models get their chat template)."
EXAMPLES = """\
  llmkit generate "What is the capital of France?"
  echo "Write a haiku about tea" | llmkit generate --temperature 0.8 --seed 1
  llmkit generate "List three colours" --max-new-tokens 40 --stop "4." --json
  llmkit generate "Once upon a time" --raw --temperature 0          # no chat template, greedy
  llmkit generate "Hi" --system "Answer in French." --engine torch  # the transformers reference engine
  llmkit generate "Describe Paris" --json-object                     # the answer is always a JSON object
  llmkit generate "Hi" --model openai:gpt-4o-mini --allow-remote     # a remote model (docs/remote.md)
  llmkit generate "The capital of France is" --raw --show-logprobs --max-new-tokens 8
"""


def add_generation_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by `generate` and `chat` (validated once, by GenerationOptions)."""
    from ..task_table import get

    parser.add_argument("--model", "-m", default=None, help="catalog name, .gguf file, model folder, hub id or "
                        f"remote model such as openai:gpt-4o-mini (default: {get('text-generation').default_model}; "
                        "smollm2-135m-instruct is 3x faster, weaker)")
    parser.add_argument("--engine", choices=["auto", "llamacpp", "llama-cpp-python", "torch"], default="auto",
                        help="auto: for GGUF llama-cpp-python if you built it, else llama.cpp via xllamacpp "
                             "(llamacpp), else torch")
    from ..options import add_flags
    from ..tasks.generate_options import GenerationOptions

    add_flags(parser, GenerationOptions)
    parser.add_argument("--system", default=None, metavar="TEXT", help="a system prompt")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: the engine's choice)")
    from ._io import add_device_arguments

    add_device_arguments(parser, only=["device"])  # llama.cpp runs its own precision (the GGUF's)
    parser.add_argument("--context", type=int, default=None, metavar="N", help="context window in tokens "
                        "(default: the model's, up to 8192); longer prompts are cut from the left")
    from ..engines.llamacpp import PROMPT_CACHE_HELP, PROMPT_CACHE_MIB

    parser.add_argument("--prompt-cache-mib", type=int, default=None, metavar="N",
                        help=f"llama.cpp: {PROMPT_CACHE_HELP} (default: {PROMPT_CACHE_MIB})")
    parser.add_argument("--json", action="store_true", help="print one JSON object with text and usage")
    from ..providers import add_remote_flags

    add_remote_flags(parser)  # --allow-remote, --redact/--no-redact


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", nargs="?", default=None, help="the prompt; read from stdin when absent or '-'")
    add_generation_arguments(parser)
    parser.add_argument("--raw", action="store_true", help="send the prompt as is, without the chat template")
    parser.add_argument("--show-logprobs", action="store_true", help="colour each token by its probability "
                        "(green: sure, yellow, red: unsure); not a terminal: unsure tokens as [token|p]")
    shape = parser.add_mutually_exclusive_group()
    shape.add_argument("--json-schema", default=None, metavar="FILE", help="constrain the answer to JSON valid "
                       "under the JSON Schema in FILE (llama.cpp grammars)")
    shape.add_argument("--json-object", action="store_true", help="constrain the answer to a JSON object")


def json_schema_from_args(args: argparse.Namespace) -> str | None:
    """--json-schema FILE (its text; GenerationOptions checks it) or --json-object."""
    if getattr(args, "json_object", False):
        return '{"type": "object"}'
    if getattr(args, "json_schema", None) is None:
        return None
    from pathlib import Path

    try:
        return Path(args.json_schema).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"--json-schema: cannot read {args.json_schema}: {e}") from None


def options_from_args(args: argparse.Namespace, **extra: Any):
    from ..options import given
    from ..tasks.generate_options import GenerationOptions

    return GenerationOptions().replace(**{**given(args, GenerationOptions), **extra})


def load_pipeline(args: argparse.Namespace, options: Any):
    from ..hub import resolve
    from ..task_table import get
    from ..tasks.generate import TextGenerationPipeline

    if args.threads is not None and args.threads < 1:
        raise InputError(f"--threads must be 1 or more (got {args.threads}).")
    if args.context is not None and args.context < 64:
        raise InputError(f"--context must be 64 tokens or more (got {args.context}).")
    ref = resolve(args.model or get(TextGenerationPipeline.task).default_model)
    pipe = TextGenerationPipeline.from_ref(ref, engine=args.engine, threads=args.threads, n_ctx=args.context,
                                           allow_remote=args.allow_remote, redact=args.redact,
                                           prompt_cache_mib=args.prompt_cache_mib, device=args.device or "cpu",
                                           speculative=options.speculative, draft=options.draft,
                                           repack=options.repack)
    pipe.options = options
    return pipe


def read_prompt(prompt: str | None) -> str:
    """The prompt argument, or stdin; refuses non-UTF-8 stdin and blank text with one clear line (a non-UTF-8
    argument is refused by the CLI's parser, for every verb)."""
    if prompt is None or prompt == "-":
        if sys.stdin is None or sys.stdin.isatty():
            raise InputError('give a prompt: `llmkit generate "Your question"`, or pipe text on stdin.')
        from ..textio import decode_utf8

        prompt = decode_utf8(sys.stdin.buffer.read(), "stdin")
    if not prompt.strip():
        raise InputError("the prompt is empty: give some text (as an argument or on stdin).")
    return prompt


def open_stream(pipe: Any, prompt: Any):
    """Start a stream; a prompt cut to fit the context is reported on stderr (one line), not as a traceback."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stream = pipe.stream(prompt)
    for w in caught:
        print(f"llmkit: warning: {w.message}", file=sys.stderr)
    return stream


def run(args: argparse.Namespace) -> int:
    extra = {"logprobs": True} if getattr(args, "show_logprobs", False) else {}
    options = options_from_args(args, json_schema=json_schema_from_args(args), **extra)  # bad values fail early
    prompt_text = read_prompt(args.prompt)
    pipe = load_pipeline(args, options)
    prompt: Any = prompt_text
    if not args.raw and (getattr(pipe, "can_chat", True) or args.system):  # a base model completes the text
        prompt = ([{"role": "system", "content": args.system}] if args.system else []) + [
            {"role": "user", "content": prompt_text}]
    stream = open_stream(pipe, prompt)
    if getattr(args, "show_logprobs", False) and not args.json:
        result = stream.collect()
        print(show_logprobs(result.logprobs or [], sys.stdout.isatty()))
        return 0
    if args.json:
        print(json.dumps(result_json(stream.collect(), pipe), ensure_ascii=False))
        return 0
    with stream:
        last = ""
        for piece in stream:
            sys.stdout.write(piece)
            sys.stdout.flush()
            last = piece
    if not last.endswith("\n"):
        sys.stdout.write("\n")
    return 0


def result_json(result: Any, pipe: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"text": result.text, "finish_reason": result.finish_reason, "model": pipe.model_name,
                           "usage": result.usage.to_dict(), "seed": result.seed}
    speculation = getattr(pipe.engine, "speculation", None)
    if speculation is not None and (speculation.mode != "off" or speculation.why):  # how auto chose, which draft
        out["speculative"] = speculation.describe()
    if result.truncated_tokens:
        out["truncated_prompt_tokens"] = result.truncated_tokens
    if result.logprobs is not None:
        out["logprobs"] = [{"token": t.token, "logprob": t.logprob,
                            **({"top_logprobs": [{"token": a, "logprob": lp} for a, lp in t.top]} if t.top else {})}
                           for t in result.logprobs]
    return out


def show_logprobs(logprobs: Any, color: bool, unsure: float = 0.5) -> str:
    """The answer with each token marked by its probability: ANSI green (>= 0.9), yellow (>= ``unsure``) or red;
    without colour, tokens under ``unsure`` are written ``[token|0.42]``."""
    import math

    parts = []
    for t in logprobs:
        p = math.exp(t.logprob)
        if color:
            parts.append(f"\033[{32 if p >= 0.9 else 33 if p >= unsure else 31}m{t.token}\033[0m")
        else:
            parts.append(t.token if p >= unsure else f"[{t.token.replace(chr(10), chr(92) + 'n')}|{p:.2f}]")
    return "".join(parts)

