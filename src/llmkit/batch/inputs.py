"""Input files -> shards: the unit of work, of output and of resume.

A shard is a run of at most ``shard_rows`` rows of one input file; its name is a hash of the job (task, model,
options) and of the rows' identity (the file's sha256 and the row range), so a rerun of the same job on the same
files names the same shards and can skip the finished ones, and no two shards ever share a name.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..textio import FORMATS, read_records


@dataclass(frozen=True)
class Shard:
    name: str                       # part-<hash>: the output file's stem
    source: str                     # the input file
    start: int                      # first row (0-based) of the file in this shard
    rows: list[tuple[Any, Any]]     # (id, value): value is the text, or the audio path


def expand(spec: str) -> list[Path]:
    """The input files of ``--input``: a file, a folder (its JSONL/CSV/Parquet files, recursively) or a glob."""
    path = Path(spec)
    if path.is_file():
        return [path]
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in FORMATS)
        if not found:
            raise InputError(f"--input {spec}: the folder holds no .jsonl, .csv, .tsv or .parquet files.")
        return found
    found = sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())
    if not found:
        raise InputError(f"--input {spec} matches no files; give a file, a folder or a glob such as 'data/*.jsonl'.")
    return found


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_shards(files: list[Path], *, job_key: str, id_column: str, value_column: str, shard_rows: int,
                audio: bool = False) -> list[Shard]:
    """Every row of ``files`` as (id, value), cut into shards. Ids must be unique across the inputs; a file with
    no id column gets ``FILE:ROW`` ids (said once on stderr)."""
    shards: list[Shard] = []
    seen: set = set()
    for path in files:
        records = read_records(path)
        if records and value_column not in records[0]:
            raise InputError(f"{path}: no column {value_column!r} (its columns: {', '.join(map(str, records[0]))}); "
                             "name the right one with --text-column.")
        made_ids = bool(records) and id_column not in records[0]
        if made_ids:
            print(f"llmkit: {path} has no {id_column!r} column; ids are {path}:ROW (0-based row); name the id "
                  "column with --id-column.", file=sys.stderr)
        rows = []
        for n, rec in enumerate(records):
            key = f"{path}:{n}" if made_ids or rec.get(id_column) is None else rec[id_column]
            if _hashable(key) in seen:
                raise InputError(f"{path}: id {key!r} appears twice in the input; ids must be unique "
                                 "(or drop the id column to number rows by file and row).")
            seen.add(_hashable(key))
            value = rec.get(value_column)
            if audio and isinstance(value, str) and value.strip():
                value = _audio_path(value, path)
            rows.append((key, value))
        digest = file_digest(path)
        for start in range(0, len(rows), shard_rows):
            part = rows[start:start + shard_rows]
            ident = json.dumps([job_key, digest, start, start + len(part)])
            name = "part-" + hashlib.sha256(ident.encode()).hexdigest()[:20]
            shards.append(Shard(name, str(path), start, part))
    return shards


def _hashable(key: Any) -> Any:
    return json.dumps(key, sort_keys=True, default=str) if isinstance(key, (list, dict)) else key


def _audio_path(value: str, source: Path) -> str:
    """An absolute path (workers on other nodes, or in other folders, read it): relative to the current folder,
    else to the input file's folder."""
    p = Path(value)
    if not p.is_absolute() and not p.exists() and (source.parent / p).exists():
        p = source.parent / p
    return os.path.abspath(p)
