"""Shared CLI plumbing: reading texts from arguments, stdin or a file, and writing JSON lines."""
from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..textio import column, decode_utf8, read_records


def add_text_input_arguments(parser, noun: str = "texts") -> None:
    parser.add_argument("texts", nargs="*", metavar="TEXT", help=f"{noun} (default: one per line from stdin)")
    parser.add_argument("--file", "-f", metavar="F", help="JSONL with a text field, or CSV/TSV/Parquet with a text column")
    parser.add_argument("--text-column", default="text", metavar="NAME", help="column or field to read (default: text)")
    parser.add_argument("--output", "-o", metavar="O.jsonl", help="write one JSON object a line, in input order")


def add_device_arguments(parser, only: Iterable[str] | None = None) -> None:
    """--device (and --precision): ``llmkit.devices.DeviceOptions``, one definition for every verb."""
    from ..devices import DeviceOptions
    from ..options import add_flags

    add_flags(parser, DeviceOptions, only=only)


def device_options(args) -> dict[str, Any]:
    """The --device/--precision given, as pipeline keywords (left out: the pipeline's default, the CPU)."""
    from ..devices import DeviceOptions
    from ..options import given

    return given(args, DeviceOptions)


def read_stdin_lines() -> list[str]:
    text = decode_utf8(sys.stdin.buffer.read(), "stdin")
    return [line for line in text.splitlines() if line.strip()]


def gather_texts(args) -> list[str]:
    if args.file:
        if args.texts:
            raise InputError("give texts as arguments or with --file, not both.")
        records = read_records(args.file)
        return [str(v) for v in column(records, args.text_column, args.file)]
    if args.texts:
        return list(args.texts)
    if sys.stdin is None or sys.stdin.isatty():
        raise InputError("no input: give TEXT arguments, --file F, or pipe text on stdin.")
    return read_stdin_lines()


def write_jsonl(rows: Iterable[dict[str, Any]], output: str | None) -> None:
    if output:
        path = Path(output)
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        tmp.replace(path)
        return
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
