"""The ``asr`` suite: word error rate of a speech model on a folder of audio with reference transcripts.

``--data`` is either a folder of pairs, ``x.wav`` (any audio llmkit reads: wav, flac, mp3, ogg ...) next to
``x.txt`` (its transcript, UTF-8), or a manifest: a JSONL or CSV file with ``audio`` (a path, relative to the
manifest) and ``text`` on each row. Audio without a transcript is an error, not skipped.

>>> from llmkit.evals import run_suite
>>> run_suite("whisper-tiny.en", "asr", data="clips/").metrics
{'wer': 0.04..., 'wer_raw': 0.11...}

Both texts are normalised before counting, as is standard for English WER: Whisper's ``EnglishTextNormalizer``
(https://github.com/openai/whisper/blob/main/whisper/normalizers/english.py; lower case, no punctuation or
bracketed noise, fillers such as "uh" dropped, contractions and spelled-out numbers made uniform), the copy that
ships with transformers, without its British-to-American spelling list (that list ships with each Whisper
tokenizer, not here). Without transformers, a simpler normaliser: lower case, punctuation removed, whitespace
collapsed (jiwer's). ``wer`` is corpus-level (all errors / all reference words), ``wer_raw`` the same on texts
only lower-cased and stripped of punctuation, for comparison.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

from ..audio import is_audio_path
from ..errors import EngineUnavailableError, InputError
from ..textio import read_records
from .results import SuiteResult

DESCRIPTION = "word error rate on a folder of audio + .txt transcripts or a manifest (--data), normalised"


def pairs(data: str | None) -> list[tuple[Path, str]]:
    """(audio, reference) pairs from a folder or a manifest (see the module's docstring)."""
    if not data:
        raise InputError("the asr suite needs --data: a folder of x.wav + x.txt pairs, or a JSONL/CSV manifest "
                         "with audio,text columns.")
    where = Path(data).expanduser()
    if where.is_dir():
        audio = sorted(p for p in where.iterdir() if p.is_file() and is_audio_path(p))
        if not audio:
            raise InputError(f"{where}: no audio files (x.wav with x.txt next to it).")
        missing = [p.name for p in audio if not p.with_suffix(".txt").exists()]
        if missing:
            raise InputError(f"{where}: no transcript for {', '.join(missing[:3])}; add "
                             f"{Path(missing[0]).stem}.txt next to it.")
        return [(p, p.with_suffix(".txt").read_text(encoding="utf-8").strip()) for p in audio]
    if where.is_file():
        rows = read_records(where)
        out = []
        for n, row in enumerate(rows, 1):
            if not row.get("audio") or row.get("text") is None:
                raise InputError(f"{where}: row {n} needs 'audio' and 'text'.")
            path = (where.parent / str(row["audio"])).expanduser()
            if not path.is_file():
                raise InputError(f"{where}: row {n}: no audio file {path}.")
            out.append((path, str(row["text"]).strip()))
        if not out:
            raise InputError(f"{where}: the manifest has no rows.")
        return out
    raise InputError(f"{data}: no such folder or manifest; give a folder of x.wav + x.txt pairs or a JSONL/CSV "
                     "manifest with audio,text.")


def normalizer() -> tuple[Callable[[str], str], str]:
    try:
        from transformers.models.whisper.english_normalizer import EnglishTextNormalizer
    except ImportError:
        return basic_normalize, "basic (lower case, no punctuation)"
    return EnglishTextNormalizer({}), "whisper EnglishTextNormalizer (transformers)"


def basic_normalize(text: str) -> str:
    """
    >>> basic_normalize("Hello, World!  It's 5 o'clock.")
    'hello world its 5 oclock'
    """
    return " ".join(re.sub(r"[^\w\s]", "", text.lower()).split())


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    """Corpus WER: edit operations over all reference words (jiwer)."""
    try:
        import jiwer
    except ImportError:
        raise EngineUnavailableError("the asr suite counts errors with jiwer: `pip install 'llmkit[eval]'`.") from None
    keep = [(r, h) for r, h in zip(references, hypotheses) if r.strip()]
    if not keep:
        return 0.0
    return float(jiwer.wer([r for r, _ in keep], [h if h.strip() else "<empty>" for _, h in keep]))


def run(model: str, options: Any, progress: Callable[[int, int, str], None]) -> SuiteResult:
    from ..pipelines import pipeline

    todo = pairs(options.data)[: options.limit]
    asr = pipeline("automatic-speech-recognition", model=model)
    normalize, how = normalizer()
    items = []
    for i, (path, reference) in enumerate(todo):
        hypothesis = asr(str(path)).text.strip()
        wer = word_error_rate([normalize(reference)], [normalize(hypothesis)])
        items.append({"id": path.name, "reference": reference, "hypothesis": hypothesis, "wer": wer,
                      "correct": wer == 0.0, "detail": hypothesis})
        progress(i + 1, len(todo), f"{path.name}: WER {wer:.3f}")
    refs, hyps = [it["reference"] for it in items], [it["hypothesis"] for it in items]
    metrics = {"wer": word_error_rate([normalize(r) for r in refs], [normalize(h) for h in hyps]),
               "wer_raw": word_error_rate([basic_normalize(r) for r in refs], [basic_normalize(h) for h in hyps])}
    return SuiteResult(model=model, suite="asr", primary="wer", metrics=metrics, n=len(items), items=items,
                       higher_is_better=False, options={"data": str(options.data), "normalizer": how})
