"""llmkit serve: the OpenAI-compatible HTTP server (see docs/server.md)."""
from __future__ import annotations

import argparse

HELP = "Serve every task over an OpenAI-compatible HTTP API (chat, embeddings, speech, classification)."
EXAMPLES = """\
  llmkit serve                                         # 127.0.0.1:8000, models load on first use
  llmkit serve --model smollm2-135m-instruct --model all-minilm-l6-v2 --api-key sk-local
  llmkit serve --model ./runs/my-classifier --port 9000
  llmkit serve --config serve.yaml                     # any setting; LLMKIT_SERVE_* variables work too
"""

# flag -> setting; each is left out (None) unless given, so the file and environment keep their say.
_FLAGS = [
    ("--max-body-bytes", int, "largest request body (default 25 MB)"),
    ("--max-audio-seconds", float, "longest audio to transcribe (default 1800)"),
    ("--max-prompt-tokens", int, "longest prompt (default 4096)"),
    ("--max-tokens", int, "largest max_tokens a request may ask for (default 2048)"),
    ("--default-max-tokens", int, "max_tokens when a request leaves it out (default 256)"),
    ("--max-n", int, "most choices per request (default 8)"),
    ("--max-generations", int, "most generations per request, prompts x n (default 16)"),
    ("--max-inputs", int, "most texts per embeddings/classifications request (default 2048)"),
    ("--max-input-chars", int, "longest text in an embeddings/classifications request (default 32768)"),
    ("--body-timeout-s", float, "seconds a request body may take to arrive before 408 (default 300)"),
    ("--batch-max-size", int, "most texts per encoder batch (default 64; 1 turns batching off)"),
    ("--batch-max-wait-ms", float, "how long an idle encoder waits to fill a batch (default 5)"),
    ("--batch-max-pending", int, "texts waiting per encoder model before 503 (default 8192)"),
    ("--queue-size", int, "generation/speech jobs queued per model before 503 (default 64)"),
    ("--queue-per-client", int, "... per API key (or client address without keys) before 429 (default 16)"),
    ("--retry-after-s", int, "the Retry-After of a 429 or 503 (default 1)"),
    ("--generation-slots", int, "chat requests generating at once: llama.cpp slots in one model (decoded as "
     "one batch), or model copies for other engines (default 1)"),
    ("--n-ctx", int, "context window for chat models (default 4096)"),
    ("--threads", int, "CPU threads per model (default: all cores)"),
]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default=None, help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=None, help="port (default 8000)")
    p.add_argument("--model", "-m", action="append", dest="models", default=None, metavar="NAME_OR_DIR",
                   help="load this model at start (repeatable); any catalog model also loads on first use")
    p.add_argument("--api-key", action="append", dest="api_keys", default=None, metavar="KEY",
                   help="require `Authorization: Bearer KEY` on every route but /health (repeatable)")
    p.add_argument("--allow-any-model", action="store_true", default=None,
                   help="let clients name local folders and hub ids, not just catalog and --model models")
    p.add_argument("--allowed-hosts", action="append", default=None, metavar="NAMES",
                   help="Host header names to answer besides localhost, IP addresses and --host (comma-separated, "
                        "repeatable; '*' for any). Others get 403: this stops DNS-rebinding web pages")
    p.add_argument("--open-docs", action="store_true", default=None,
                   help="serve /docs, /redoc and /openapi.json without a key (they need one when keys are set)")
    p.add_argument("--config", default=None, metavar="FILE", help="a YAML or JSON file of settings")
    p.add_argument("--log-level", default=None, choices=["critical", "error", "warning", "info", "debug"])
    limits = p.add_argument_group("limits and queues")
    for flag, kind, text in _FLAGS:
        limits.add_argument(flag, type=kind, default=None, help=text)


def run(args: argparse.Namespace) -> int:
    from ..serve import load_settings, serve

    names = ["host", "port", "models", "api_keys", "allow_any_model", "allowed_hosts", "open_docs", "log_level"]
    names += [flag[2:].replace("-", "_") for flag, _, _ in _FLAGS]
    settings = load_settings(args.config, **{n: getattr(args, n) for n in names})
    serve(settings)  # refuses a non-loopback --host without a key (create_app: one place for every entry point)
    return 0
