"""Reading user text: records (JSONL / CSV / Parquet), YAML configs and input texts, with errors that name the
file, line and fix.

Shared by ``llmkit classify --file``, ``llmkit finetune``, ``llmkit.multitask(config)``, the encoder tasks, the
server and friends.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .errors import InputError

FORMATS = (".jsonl", ".json", ".csv", ".tsv", ".parquet")


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """All records of a JSONL, CSV/TSV or Parquet file as dicts."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file.")
    if path.is_dir():
        raise InputError(f"{path} is a folder; give a .jsonl, .csv or .parquet file.")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _read_parquet(path)
    text = decode_utf8(path.read_bytes(), path)
    if suffix in (".csv", ".tsv"):
        return list(_read_csv(path, text, "\t" if suffix == ".tsv" else ","))
    if suffix in (".jsonl", ".json", ".ndjson") or text.lstrip().startswith("{"):
        return list(_read_jsonl(path, text))
    raise InputError(f"{path}: unknown file type {suffix!r}; use .jsonl, .csv, .tsv or .parquet.")


def decode_utf8(data: bytes, where: str | Path) -> str:
    """``data`` (a file's bytes, or stdin's) as text, a leading byte-order mark dropped. Bytes that are not UTF-8
    are refused with one line that names ``where``, the line and the byte, and how to convert.

    >>> decode_utf8(b"caf\\xe9", "stdin")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    llmkit.errors.InputError: stdin:1: not valid UTF-8 text (byte 0xe9); convert it, e.g. with `iconv ...`.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise InputError(f"{where}:{line}: not valid UTF-8 text (byte 0x{data[e.start]:02x}); convert it, e.g. with "
                         "`iconv -f latin1 -t utf-8`.") from None


def _read_jsonl(path: Path, text: str) -> Iterator[dict[str, Any]]:
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{path}:{n}: malformed JSON ({e.msg}); each line must be one JSON object.") from None
        if not isinstance(obj, dict):
            raise InputError(f"{path}:{n}: expected a JSON object like {{\"text\": ...}}, got {type(obj).__name__}.")
        yield obj


def _read_csv(path: Path, text: str, delimiter: str) -> Iterator[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    if not reader.fieldnames:
        raise InputError(f"{path}: empty file; the first line must name the columns (e.g. text,label).")
    try:
        for row in reader:
            if None in row:
                raise InputError(f"{path}:{reader.line_num}: more fields than the header's {len(reader.fieldnames)}.")
            yield row
    except csv.Error as e:
        raise InputError(f"{path}:{reader.line_num}: malformed CSV ({e}).") from None


def _read_parquet(path: Path) -> list[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError("reading Parquet needs pyarrow: `pip install 'llmkit[train]'`.") from None
    try:
        return pq.read_table(path).to_pylist()
    except Exception as e:  # pyarrow raises many types for a bad file
        raise InputError(f"{path}: not a readable Parquet file ({e}).") from None


def column(records: list[dict[str, Any]], name: str, path: str | Path, *, required: bool = True) -> list[Any]:
    """One column of ``records``; a missing column names the columns that exist."""
    if not records:
        raise InputError(f"{path}: no records; the file is empty.")
    for n, r in enumerate(records, 1):
        if name not in r or r[name] is None:
            if not required:
                return []
            have = ", ".join(sorted(records[0])) or "none"
            raise InputError(f"{path}: record {n} has no {name!r} column (columns: {have}); pick one with the column flag.")
    return [r[name] for r in records]


def check_texts(texts: Sequence[Any]) -> list[str]:
    """Every input must be non-empty text; the error names the first bad one (1-based)."""
    out = []
    for n, t in enumerate(texts, 1):
        if not isinstance(t, str):
            raise InputError(f"input {n} is {type(t).__name__}, not text.")
        if not t.strip():
            raise InputError(f"input {n} is empty; give some text to classify.")
        out.append(t)
    if not out:
        raise InputError("no input texts; give at least one.")
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML config file as a dict of options (``some-key`` read as ``some_key``)."""
    import yaml  # lazy: only training configs need it

    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except FileNotFoundError:
        raise InputError(f"{path}: no such config file.") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise InputError(f"{path}{where}: malformed YAML ({getattr(e, 'problem', e)}).") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping of options (key: value).")
    return {k.replace("-", "_"): v for k, v in data.items()}
