"""Argument mistakes, for every verb of the CLI: one line on stderr that names the flag, exit 2, no usage block.

The verbs come from ``cli.COMMANDS`` and each verb's bad value from its own parser, so a verb added later is
covered without touching this file.
"""
from __future__ import annotations

import argparse

import pytest

from cli_helpers import llmkit
from llmkit import cli


def _verb_parsers() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _bad_value(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> tuple[list[str], str]:
    """(arguments with one bad flag value, the flag the error must name) for this parser or its first subverb."""
    for action in parser._actions:
        if action.option_strings and action.type in (int, float):
            return [*prefix, action.option_strings[-1], "nope"], action.option_strings[-1]
    for action in parser._actions:
        if action.option_strings and action.choices:
            return [*prefix, action.option_strings[-1], "nope"], action.option_strings[-1]
        if isinstance(action, argparse._SubParsersAction):  # `models`: its actions have no typed flags
            name, child = next(iter(action.choices.items()))
            return [*prefix, name, "--no-such-flag", "nope"], "--no-such-flag"
    return [*prefix, "--no-such-flag", "nope"], "--no-such-flag"


def _one_line(r) -> str:
    err = r.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err and "usage:" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


VERBS = sorted(_verb_parsers())


def test_every_verb_is_covered():
    assert set(VERBS) == set(cli.COMMANDS)


@pytest.mark.parametrize("verb", VERBS)
def test_a_bad_flag_value_is_one_line_naming_the_flag(verb):
    args, flag = _bad_value(_verb_parsers()[verb])
    r = llmkit(verb, *args)
    line = _one_line(r)
    assert r.returncode == 2, line
    assert line.startswith(f"llmkit {verb}") and ": error: " in line and flag in line, line


@pytest.mark.parametrize("verb", VERBS)
def test_a_non_utf8_argument_is_one_line(verb):
    # bytes as a shell passes them (Latin-1 "café"); Python keeps them in sys.argv as lone surrogates
    r = llmkit(verb, b"caf\xe9", timeout=60)  # a verb that took it as input would load a model: fail, not hang
    line = _one_line(r)
    assert r.returncode == 2, line
    assert line.startswith(f"llmkit {verb}: error:") and "not valid UTF-8" in line and "caf\\xe9" in line, line


def test_typed_flags_say_what_they_expect():
    line = _one_line(r := llmkit("serve", "--port", "eighty"))
    assert r.returncode == 2 and "--port" in line and "expected a whole number, got 'eighty'" in line
    line = _one_line(r := llmkit("finetune", "--epochs", "two"))
    assert r.returncode == 2 and "--epochs" in line and "expected a number, got 'two'" in line
