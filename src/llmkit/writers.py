"""Transcript writers: txt, srt, vtt, json, tsv (the formats of openai-whisper's and whisper.cpp's CLIs).

>>> from llmkit.writers import render
>>> print(render(result, "srt"))        # doctest: +SKIP
1
00:00:00,000 --> 00:00:02,480
The birch canoe slid on the smooth planks.

Each writer takes a ``Transcription`` (or anything with ``segments``) and returns a string; timestamps are
clamped to be monotonic and every cue lasts at least one millisecond, so strict parsers accept the files.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from .errors import InputError

FORMATS = ("txt", "srt", "vtt", "json", "tsv")


def timestamp(seconds: float, *, decimal: str = ".", always_hours: bool = True) -> str:
    """``3661.5`` -> ``01:01:01.500`` (``,`` as the decimal mark for SRT)."""
    ms = max(0, int(round(seconds * 1000)))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    head = f"{hours:02d}:" if always_hours or hours else ""
    return f"{head}{minutes:02d}:{secs:02d}{decimal}{ms:03d}"


def _cues(result: Any) -> list[tuple[float, float, str]]:
    """(start, end, text) per segment with non-empty text; monotonic, each at least 1 ms long."""
    cues, last = [], 0.0
    for seg in result.segments:
        text = " ".join(seg.text.split())
        if not text:
            continue
        start = max(float(seg.start), last)
        end = max(float(seg.end), start + 0.001)
        cues.append((start, end, text.replace("-->", "->")))
        last = end
    return cues


def write_txt(result: Any) -> str:
    return "".join(f"{text}\n" for _, _, text in _cues(result))


def write_srt(result: Any) -> str:
    blocks = [f"{i}\n{timestamp(s, decimal=',')} --> {timestamp(e, decimal=',')}\n{text}\n"
              for i, (s, e, text) in enumerate(_cues(result), 1)]
    return "\n".join(blocks)


def write_vtt(result: Any) -> str:
    blocks = [f"{timestamp(s)} --> {timestamp(e)}\n{text}\n" for s, e, text in _cues(result)]
    return "WEBVTT\n\n" + "\n".join(blocks)


def write_tsv(result: Any) -> str:
    """Integer milliseconds, as openai-whisper writes them (tabs and newlines in text become spaces)."""
    rows = ["start\tend\ttext"]
    rows += [f"{int(round(s * 1000))}\t{int(round(e * 1000))}\t{text.replace(chr(9), ' ')}"
             for s, e, text in _cues(result)]
    return "\n".join(rows) + "\n"


def write_json(result: Any) -> str:
    data = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


WRITERS: dict[str, Callable[[Any], str]] = {
    "txt": write_txt, "srt": write_srt, "vtt": write_vtt, "json": write_json, "tsv": write_tsv,
}


def render(result: Any, fmt: str) -> str:
    if fmt not in WRITERS:
        raise InputError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)} or all.")
    return WRITERS[fmt](result)


def write(result: Any, fmt: str, path: Path) -> Path:
    """Write atomically-enough for a CLI: to ``path.tmp`` then rename, so a crash leaves no half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render(result, fmt), encoding="utf-8")
    tmp.replace(path)
    return path
