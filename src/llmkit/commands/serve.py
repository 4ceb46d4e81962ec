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
    ("--max-n", int, "most choices per request (default 8)"),
    ("--max-inputs", int, "most texts per embeddings/classifications request (default 2048)"),
    ("--batch-max-size", int, "most texts per encoder batch (default 64; 1 turns batching off)"),
    ("--batch-max-wait-ms", float, "how long an idle encoder waits to fill a batch (default 5)"),
    ("--queue-size", int, "generation/speech jobs queued per model before 503 (default 64)"),
    ("--queue-per-client", int, "... per client before 429 (default 16)"),
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
    p.add_argument("--config", default=None, metavar="FILE", help="a YAML or JSON file of settings")
    p.add_argument("--log-level", default=None, choices=["critical", "error", "warning", "info", "debug"])
    limits = p.add_argument_group("limits and queues")
    for flag, kind, text in _FLAGS:
        limits.add_argument(flag, type=kind, default=None, help=text)


def run(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..serve import load_settings, serve

    names = ["host", "port", "models", "api_keys", "allow_any_model", "log_level"]
    names += [flag[2:].replace("-", "_") for flag, _, _ in _FLAGS]
    settings = load_settings(args.config, **{n: getattr(args, n) for n in names})
    if settings.host not in ("127.0.0.1", "localhost", "::1") and not settings.api_keys:
        raise InputError(f"--host {settings.host} exposes the server to the network without a key; add "
                         "--api-key KEY (or set LLMKIT_SERVE_API_KEYS).")
    serve(settings)
    return 0
