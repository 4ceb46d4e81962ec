"""A run's journal: the items it has finished, one JSON line each, written as they finish, so that a run stopped
half-way (Ctrl-C, a closed laptop, a killed job) continues where it stopped instead of starting over. HumanEval
on a 1.5B model is an hour or more on a 2-core CPU; EvalPlus and lm-evaluation-harness keep finished samples for
the same reason.

>>> journal = Journal(Path("evals/m/.code.partial.jsonl"), {"suite": "code", "model": "m", "temperature": 0.0})
>>> journal.done                     # {item id: item} kept by an earlier run with the same key
>>> journal.add({"id": "HumanEval/0", "passed": True})   # on disk (fsynced) before the next item starts

``results.save`` removes the journal once the run's result is written.

The first line is the run's key: everything that changes the answers (model file, suite, sampling, limits, llmkit's
version). A journal with another key belongs to another run: it is never mixed in, and never silently thrown away
(an hour of work, lost to a mistyped flag): the run is refused with the options that differ, and `--fresh` (in
Python: deleting the file) starts over. A torn last line (the process killed mid-write) is dropped.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import InputError


class Journal:
    def __init__(self, path: Path | None, key: dict[str, Any]) -> None:
        self.path = path
        self.key = json.loads(json.dumps(key))  # as it reads back from the file
        self.done: dict[str, dict[str, Any]] = self._read() if path else {}
        if path:
            self._start()

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return {}
        records = []
        for line in lines:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a torn last line
        if not records:
            return {}
        if records[0] != {"key": self.key}:
            theirs = records[0].get("key", {}) if isinstance(records[0], dict) else {}
            differ = ", ".join(f"{name} {theirs.get(name)!r} (now {self.key.get(name)!r})"
                               for name in sorted(set(theirs) | set(self.key)) if theirs.get(name) != self.key.get(name))
            raise InputError(f"{self.path} holds {len(records) - 1} finished item(s) of an interrupted run with other "
                             f"settings: {differ or 'unreadable key'}. Run it again as it was to continue, or add "
                             "--fresh to start over (in Python: delete that file).")
        return {r["id"]: r for r in records[1:] if isinstance(r, dict) and "id" in r}

    def _start(self) -> None:
        """Rewrite the file with the key and the items kept (dropping a torn last line)."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:  # before the first item, not after an hour of them
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "w", encoding="utf-8") as f:
                for record in [{"key": self.key}, *self.done.values()]:
                    f.write(json.dumps(record, ensure_ascii=False) + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as e:
            raise InputError(f"cannot write the run's journal and results in {self.path.parent}: {e.strerror}; "
                             "choose a writable folder with --output.") from None

    def add(self, item: dict[str, Any]) -> None:
        self.done[item["id"]] = item
        if self.path:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(item, ensure_ascii=False) + "\n")
                f.flush()
                os.fsync(f.fileno())

def run_key(model: str, suite: str, options: Any, **more: Any) -> dict[str, Any]:
    """What makes two runs the same run: the model (and, for a file, its size and time), the suite, the options that
    change answers (not threads or the journal itself), and llmkit's version."""
    from .. import __version__
    from . import shown_name

    key: dict[str, Any] = {"model": shown_name(model), "suite": suite, "llmkit": __version__}
    path = Path(str(model)).expanduser()
    if path.is_file():
        stat = path.stat()
        key["file"] = [str(path.resolve()), stat.st_size, int(stat.st_mtime)]
    fields = getattr(options, "__dataclass_fields__", {})
    key.update({name: getattr(options, name) for name in fields if name not in ("threads", "journal")})
    return {**key, **more}


def journal_path(folder: Path, stem: str) -> Path:
    """Where a run saved as ``<stem>.json`` in ``folder`` keeps its journal: hidden, next to it."""
    return folder / f".{stem}.partial.jsonl"
