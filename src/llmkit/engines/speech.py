"""The contracts of the speech engines: speech-to-text (``ctranslate2_whisper``, ``torch_whisper``) and
text-to-speech (``piper_tts``).

An engine decodes 16 kHz mono audio into raw segments (objects with ``start``, ``end``, ``text``,
``avg_logprob``, ``no_speech_prob``, ``compression_ratio`` and ``words``); the task layer
(``llmkit.tasks.transcribe``) filters and numbers them the same way for every engine.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Protocol

import numpy as np


@dataclass(frozen=True)
class RawInfo:
    language: str
    language_probability: float
    duration: float


class SpeechEngine(Protocol):
    name: str

    # ``options`` is a ``llmkit.tasks.transcribe_options.TranscribeOptions`` (read by field name).
    def transcribe(self, audio: np.ndarray, options: Any) -> tuple[RawInfo, Iterator[Any]]: ...
    def detect_language(self, audio: np.ndarray) -> tuple[str, float, list[tuple[str, float]]]: ...


class SynthesisEngine(Protocol):
    name: str
    sample_rate: int
    speakers: dict[str, int]  # speaker name -> id; empty for a single-speaker voice

    # float32 mono chunks in [-1, 1], one per sentence, each made when the caller asks for it.
    def synthesize(self, text: str, *, speed: float = 1.0, speaker: str | None = None) -> Iterator[np.ndarray]: ...
