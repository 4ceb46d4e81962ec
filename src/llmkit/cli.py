"""The command line: one table, verb -> module. Each module in ``llmkit.commands`` has
``HELP`` (one line), ``EXAMPLES`` (shown in ``--help``), ``add_arguments(parser)`` and ``run(args) -> int``.

Command modules import only light things at top level; heavy engines load inside ``run``.
Errors a user can fix (``LlmkitError``) print one line and exit non-zero; never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .errors import LlmkitError

COMMANDS: dict[str, str] = {
    "classify": "llmkit.commands.classify",
    "embed": "llmkit.commands.embed",
    "generate": "llmkit.commands.generate",
    "chat": "llmkit.commands.chat",
    "transcribe": "llmkit.commands.transcribe",
    "finetune": "llmkit.commands.finetune",
    "multitask": "llmkit.commands.multitask",
    "evaluate": "llmkit.commands.evaluate",
    "models": "llmkit.commands.models",
    "demo": "llmkit.commands.demo",
    "serve": "llmkit.commands.serve",
    "ui": "llmkit.commands.ui",
}

# Verbs that train (the web app trains in its own process): these run under tcmalloc, see llmkit/allocator.py.
TRAINING_VERBS = {"finetune", "multitask", "models", "ui"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llmkit",
        description="Run, adapt, combine, compare and serve open-source language and speech models, offline.",
        epilog="Run `llmkit COMMAND --help` for a command's options and examples.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"llmkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for verb, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name == module_name:  # a command not built yet in this checkout
                continue
            raise
        p = sub.add_parser(
            verb,
            help=module.HELP,
            description=module.HELP,
            epilog="examples:\n" + module.EXAMPLES if getattr(module, "EXAMPLES", "") else None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] in TRAINING_VERBS:  # a real command line, not a call
        from .allocator import relaunch_under_tcmalloc

        relaunch_under_tcmalloc(sys.argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except LlmkitError as e:
        print(f"llmkit: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("llmkit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `llmkit classify ... | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
