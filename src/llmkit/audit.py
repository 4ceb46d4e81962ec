"""The audit log of remote calls: one JSON line per call in ``$LLMKIT_HOME/audit/remote.jsonl``.

It records that text left the machine, never the text: time, provider, model, endpoint, token counts, how each
call ended, whether redaction changed the text (and how many values of each kind), and the sha256 of exactly what
was sent, so a user holding a copy of a message can prove whether it was the one sent.
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path
from typing import Any

_LOCK = threading.Lock()


def log_path() -> Path:
    from .hub import home

    return home() / "audit" / "remote.jsonl"


def digest(payload: Any) -> str:
    """sha256 of the request body's content as sent (JSON, sorted keys, UTF-8)."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def record(**fields: Any) -> None:
    """Append one entry. Callers pass counts, names and hashes only (see ``RemoteEngine._audit``)."""
    entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **fields}
    path = log_path()
    line = json.dumps(entry, ensure_ascii=False) + "\n"
    with _LOCK:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:  # one write per line: entries never interleave
            f.write(line)
