"""The contract every speech-to-text engine meets (``ctranslate2_whisper``, ``torch_whisper``).

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
