"""llmkit serve: the OpenAI-compatible HTTP server (see docs/server.md)."""
from __future__ import annotations

import argparse

HELP = "Serve every task over an OpenAI-compatible HTTP API (chat, embeddings, speech, classification)."
EXAMPLES = """\
  llmkit serve                                         # 127.0.0.1:8000, models load on first use
  llmkit serve --model smollm2-135m-instruct --model all-minilm-l6-v2 --api-key sk-local
  llmkit serve --model ./runs/my-classifier --port 9000
  llmkit serve --model fast=openai:gpt-4o-mini --allow-remote   # a remote model under a local name
  llmkit serve --config serve.yaml                     # any setting; LLMKIT_SERVE_* variables work too
  llmkit serve --replicas 2 --model all-minilm-l6-v2   # 2 copies on Ray Serve (local Ray; --ray auto: a cluster)
"""

# Flags come from ServeSettings' fields (llmkit.options); each is None unless given, so the file and environment
# keep their say. These are the access settings; every other one is listed under "limits and queues".
ACCESS = ("host", "port", "models", "api_keys", "allow_any_model", "allowed_hosts", "open_docs", "allow_remote",
          "redact", "log_level")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..options import add_flags
    from ..serve.settings import ServeSettings

    add_flags(p, ServeSettings, only=ACCESS)
    p.add_argument("--config", default=None, metavar="FILE", help="a YAML or JSON file of settings")
    add_flags(p.add_argument_group("limits and queues"), ServeSettings, skip=ACCESS)
    from ..serve.ray_serve import ReplicaOptions

    add_flags(p.add_argument_group("replicas (Ray Serve)"), ReplicaOptions)


def settings_from_args(args: argparse.Namespace):
    """ServeSettings: defaults < --config file < LLMKIT_SERVE_* environment < the flags given."""
    from ..options import given
    from ..serve.settings import ServeSettings, load_settings

    return load_settings(args.config, **given(args, ServeSettings))


def run(args: argparse.Namespace) -> int:
    from ..serve import serve

    settings = settings_from_args(args)
    if args.replicas is not None or args.ray is not None:
        from ..serve.ray_serve import serve_replicas

        serve_replicas(settings, 1 if args.replicas is None else args.replicas, args.ray)
        return 0
    serve(settings)  # refuses a non-loopback --host without a key (create_app: one place for every entry point)
    return 0
