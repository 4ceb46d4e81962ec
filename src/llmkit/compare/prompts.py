"""The prompts file of ``llmkit compare``: plain text, one prompt a line, or JSONL with ``prompt`` (text) or
``messages`` (an OpenAI-style chat) on each line. Every prompt becomes chat messages, so chat models get their
template."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InputError
from ..tasks.decoding import check_messages
from ..textio import decode_utf8, read_records

Messages = list[dict[str, str]]


def read_prompts(path: str | Path) -> list[Messages]:
    """Each prompt of ``path`` as chat messages; a missing, empty or malformed file is one InputError naming it."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"--prompts {path}: no such file; give a .txt file (one prompt a line) or a .jsonl file.")
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        prompts = [_record(path, n, r) for n, r in enumerate(read_records(path), 1)]
    else:
        text = decode_utf8(path.read_bytes(), path)
        prompts = [[{"role": "user", "content": line}] for line in text.splitlines() if line.strip()]
    if not prompts:
        raise InputError(f"--prompts {path}: the file has no prompts; write one prompt a line.")
    return prompts


def _record(path: Path, n: int, record: dict[str, Any]) -> Messages:
    # n counts records, which is the line number when the file has no blank lines (the usual case)
    if isinstance(record.get("prompt"), str) and record["prompt"].strip():
        return [{"role": "user", "content": record["prompt"]}]
    if "messages" in record:
        try:
            return check_messages(record["messages"])
        except InputError as e:
            raise InputError(f"{path}: record {n}: {e}") from None
    raise InputError(f'{path}: record {n}: expected {{"prompt": "text"}} or {{"messages": [...]}}.')


def prompt_text(messages: Messages) -> str:
    """The last user message: how a prompt is shown in reports."""
    return next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
