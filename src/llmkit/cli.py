"""The command line: one table, verb -> module. Each module in ``llmkit.commands`` has
``HELP`` (one line), ``EXAMPLES`` (shown in ``--help``), ``add_arguments(parser)`` and ``run(args) -> int``.

Command modules import only light things at top level; heavy engines load inside ``run``.
Errors a user can fix (``LlmkitError``) print one line and exit non-zero; never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import os
import re
import sys

from .errors import LlmkitError

COMMANDS: dict[str, str] = {
    "classify": "llmkit.commands.classify",
    "embed": "llmkit.commands.embed",
    "generate": "llmkit.commands.generate",
    "chat": "llmkit.commands.chat",
    "transcribe": "llmkit.commands.transcribe",
    "batch": "llmkit.commands.batch",
    "speak": "llmkit.commands.speak",
    "finetune": "llmkit.commands.finetune",
    "multitask": "llmkit.commands.multitask",
    "evaluate": "llmkit.commands.evaluate",
    "eval": "llmkit.commands.eval",
    "models": "llmkit.commands.models",
    "compare": "llmkit.commands.compare",
    "demo": "llmkit.commands.demo",
    "serve": "llmkit.commands.serve",
    "ui": "llmkit.commands.ui",
}

# Verbs that train (the web app trains in its own process): these run under tcmalloc, see llmkit/allocator.py.
TRAINING_VERBS = {"finetune", "multitask", "models", "ui"}


class CliParser(argparse.ArgumentParser):
    """Every parser of the CLI (subparsers inherit the class): a mistake in the arguments is one line on stderr
    that names the flag and what it expects, and exit 2, instead of argparse's usage block. Arguments that are
    not UTF-8 (bytes Python keeps as lone surrogates) are refused here too, before any verb sees them."""

    def parse_known_args(self, args=None, namespace=None):
        args = sys.argv[1:] if args is None else list(args)
        bad = next((a for a in args if not _is_utf8(a)), None)
        if bad is not None:
            verb = next((a for a in args if a in COMMANDS), None) if self.prog == "llmkit" else None
            shown = ascii(os.fsencode(bad))[2:-1]  # the raw bytes, printable on any terminal
            _fail(f"{self.prog} {verb}" if verb else self.prog,
                  f"argument '{shown}' is not valid UTF-8 text; convert it (e.g. with `iconv -t utf-8`) or "
                  "rename the file")
        return super().parse_known_args(args, namespace)

    def parse_args(self, args=None, namespace=None):
        ns, extra = self.parse_known_args(args, namespace)
        if extra:  # argparse reports these from the top parser; name the verb they were given to
            prog = getattr(ns, "_prog", self.prog)
            _fail(prog, f"unrecognized arguments: {' '.join(extra)} (see `{prog} --help`)")
        return ns

    def error(self, message: str):
        _fail(self.prog, _explain(message) + f" (see `{self.prog} --help`)")


def _is_utf8(arg: str) -> bool:
    try:
        arg.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


# argparse says "invalid int value: 'x'"; say what is expected instead.
_EXPECTED = {"int": "a whole number", "float": "a number"}


def _explain(message: str) -> str:
    return re.sub(r"invalid (int|float) value: (.*)$", lambda m: f"expected {_EXPECTED[m[1]]}, got {m[2]}", message)


def _fail(prog: str, message: str):
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def build_parser(verbs: set[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser, or (``verbs``) one whose other verbs have no flags yet: flags come from the options
    classes (llmkit.options), and `llmkit classify` need not import the server's settings to build `serve`'s."""
    parser = CliParser(
        prog="llmkit",
        description="Run, adapt, combine, compare and serve open-source language and speech models, offline.",
        epilog="Run `llmkit COMMAND --help` for a command's options and examples.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"llmkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for verb, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(
            verb,
            help=module.HELP,
            description=module.HELP,
            epilog="examples:\n" + module.EXAMPLES if getattr(module, "EXAMPLES", "") else None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if verbs is None or verb in verbs:
            module.add_arguments(p)
        p.set_defaults(_run=module.run, _prog=p.prog)
    return parser


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] in TRAINING_VERBS:  # a real command line, not a call
        from .allocator import relaunch_under_tcmalloc

        relaunch_under_tcmalloc(sys.argv[1:])
    words = sys.argv[1:] if argv is None else argv
    parser = build_parser({words[0]} if words and words[0] in COMMANDS else set())
    args = parser.parse_args(argv)
    args._words = words  # the command line as typed (torchrun reruns it on every rank: train/distributed.py)
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
