"""Transcript writers: txt, srt, vtt, json, tsv (the formats of openai-whisper's and whisper.cpp's CLIs).

>>> from llmkit.writers import render
>>> print(render(result, "srt"))        # doctest: +SKIP
1
00:00:00,000 --> 00:00:02,480
The birch canoe slid on the smooth planks.

Each writer takes a ``Transcription`` (or anything with ``segments``) and returns a string; timestamps are
clamped to be monotonic and every cue lasts at least one millisecond, so strict parsers accept the files.

Subtitles (srt, vtt) take openai-whisper's layout options, which need word timestamps: ``max_line_width``
(characters per line), ``max_line_count`` (lines per cue; a pause over 3 s also starts a new cue) and
``highlight_words`` (one cue per word, the spoken word underlined, for karaoke-style captions).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .errors import InputError
from .options import opt

FORMATS = ("txt", "srt", "vtt", "json", "tsv")


def timestamp(seconds: float, *, decimal: str = ".", always_hours: bool = True) -> str:
    """``3661.5`` -> ``01:01:01.500`` (``,`` as the decimal mark for SRT)."""
    ms = max(0, int(round(seconds * 1000)))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    head = f"{hours:02d}:" if always_hours or hours else ""
    return f"{head}{minutes:02d}:{secs:02d}{decimal}{ms:03d}"


@dataclass(frozen=True)
class SubtitleLayout:
    highlight_words: bool = opt(False, "srt/vtt: one cue per word with the spoken word underlined "
                                       "(turns word timestamps on)")
    max_line_width: int | None = opt(None, "srt/vtt: at most N characters per line, breaking between words "
                                           "(turns word timestamps on)", metavar="N")
    max_line_count: int | None = opt(None, "srt/vtt: at most N lines per cue (turns word timestamps on)",
                                     metavar="N")

    def __post_init__(self) -> None:
        for name in ("max_line_width", "max_line_count"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InputError(f"--{name.replace('_', '-')} must be >= 1.")

    @property
    def by_words(self) -> bool:
        return self.highlight_words or self.max_line_width is not None or self.max_line_count is not None


def _monotonic(raw: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """Cues with non-empty text, clamped to be monotonic, each at least 1 ms long."""
    cues, last = [], 0.0
    for start, end, text in raw:
        if not text.strip():
            continue
        start = max(float(start), last)
        end = max(float(end), start + 0.001)
        cues.append((start, end, text.replace("-->", "->")))
        last = end
    return cues


def _cues(result: Any, layout: SubtitleLayout | None = None) -> list[tuple[float, float, str]]:
    """(start, end, text) per segment, or per line group / per word when ``layout`` asks for word layout."""
    if layout is not None and layout.by_words and any(seg.words for seg in result.segments):
        return _monotonic(list(_word_cues(result, layout)))
    return _monotonic([(seg.start, seg.end, " ".join(seg.text.split())) for seg in result.segments])


def _lines(result: Any, layout: SubtitleLayout) -> Any:
    """Group words into cues, openai-whisper's rule: a word that does not fit ``max_line_width`` starts a new line,
    a line past ``max_line_count`` (or a pause over 3 s) a new cue; without both limits segments stay cues."""
    width = layout.max_line_width if layout.max_line_width is not None else (
        1000 if layout.max_line_count is not None else None)
    preserve_segments = layout.max_line_count is None or layout.max_line_width is None
    cue: list[list] = []  # [start, end, text] per word (text may begin with a line break)
    line_len, line_count, last = 0, 1, None
    for seg in result.segments:
        for i, w in enumerate(seg.words):
            word = [float(w.start), float(w.end), w.word]
            long_pause = not preserve_segments and last is not None and word[0] - last > 3.0
            has_room = width is None or line_len + len(word[2]) <= width
            seg_break = i == 0 and bool(cue) and preserve_segments
            if line_len > 0 and has_room and not long_pause and not seg_break:
                line_len += len(word[2])
            else:
                word[2] = word[2].strip()
                if cue and (seg_break or (layout.max_line_count is not None
                                          and (long_pause or line_count >= layout.max_line_count))):
                    yield cue
                    cue, line_count = [], 1
                elif line_len > 0:
                    line_count += 1
                    word[2] = "\n" + word[2]
                line_len = len(word[2].strip())
            cue.append(word)
            last = word[0]
    if cue:
        yield cue


def _word_cues(result: Any, layout: SubtitleLayout) -> Any:
    for cue in _lines(result, layout):
        if not layout.highlight_words:
            yield cue[0][0], cue[-1][1], "".join(w[2] for w in cue).strip()
            continue
        last = cue[0][0]
        for j, (start, end, _) in enumerate(cue):
            if last < start:  # the gap before a word shows the line with nothing underlined
                yield last, start, "".join(w[2] for w in cue).strip()
            text = "".join(_underline(w[2]) if k == j else w[2] for k, w in enumerate(cue)).strip()
            yield start, end, text
            last = end


def _underline(word: str) -> str:
    head = word[: len(word) - len(word.lstrip())]
    return f"{head}<u>{word.strip()}</u>"


def write_txt(result: Any) -> str:
    return "".join(f"{text}\n" for _, _, text in _cues(result))


def write_srt(result: Any, layout: SubtitleLayout | None = None) -> str:
    blocks = [f"{i}\n{timestamp(s, decimal=',')} --> {timestamp(e, decimal=',')}\n{text}\n"
              for i, (s, e, text) in enumerate(_cues(result, layout), 1)]
    return "\n".join(blocks)


def write_vtt(result: Any, layout: SubtitleLayout | None = None) -> str:
    blocks = [f"{timestamp(s)} --> {timestamp(e)}\n{text}\n" for s, e, text in _cues(result, layout)]
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


def render(result: Any, fmt: str, layout: SubtitleLayout | None = None) -> str:
    """The transcript in ``fmt``; ``layout`` shapes srt/vtt cues (other formats ignore it)."""
    if fmt not in WRITERS:
        raise InputError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)} or all.")
    if fmt in ("srt", "vtt") and layout is not None:
        return WRITERS[fmt](result, layout)  # type: ignore[call-arg]
    return WRITERS[fmt](result)


def write(result: Any, fmt: str, path: Path, layout: SubtitleLayout | None = None) -> Path:
    """Write atomically-enough for a CLI: to ``path.tmp`` then rename, so a crash leaves no half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render(result, fmt, layout), encoding="utf-8")
    tmp.replace(path)
    return path
