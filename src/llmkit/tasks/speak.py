"""Text-to-speech: ``pipeline("text-to-speech")``, text in, audio out (Piper voices).

>>> from llmkit import pipeline
>>> tts = pipeline("text-to-speech")                       # piper-joe-medium, en_US, 22.05 kHz
>>> speech = tts("Hello there. How are you today?")
>>> speech.sampling_rate, speech.audio.dtype               # transformers' keys work too: speech["audio"]
(22050, dtype('float32'))
>>> speech.save("hello.mp3")                                # doctest: +SKIP
>>> for chunk in tts.stream("First sentence. Second one."):  # one float32 array per sentence, as it is made
...     pass
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..audio_out import encode, format_for
from ..engines.select import synthesis_engine
from ..errors import InputError
from ..hub import ModelRef

MAX_CHARS = 100_000  # about two hours of speech; the server has its own, smaller limit
MIN_SPEED, MAX_SPEED = 0.25, 4.0  # OpenAI's range for /v1/audio/speech


@dataclass(frozen=True)
class SpeechAudio:
    audio: np.ndarray = field(repr=False)
    sampling_rate: int

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sampling_rate

    def __getitem__(self, key: str) -> Any:  # {"audio": ..., "sampling_rate": ...}, as transformers returns
        if key not in ("audio", "sampling_rate"):
            raise KeyError(key)
        return getattr(self, key)

    def save(self, path: str | Path, fmt: str | None = None) -> Path:
        """Write wav/mp3/opus/aac/flac/pcm (from the extension unless ``fmt``), atomically."""
        path = Path(path)
        data = encode(self.audio, self.sampling_rate, fmt or format_for(path))
        tmp = path.with_name(f".{path.name}.partial")
        tmp.write_bytes(data)
        tmp.replace(path)
        return path


def check_text(text: Any, max_chars: int = MAX_CHARS) -> str:
    if not isinstance(text, str):
        raise InputError(f"text-to-speech takes text, not {type(text).__name__}.")
    if not text.strip():
        raise InputError("the text is empty; give something to say.")
    if len(text) > max_chars:
        raise InputError(f"the text is {len(text):,} characters, over the limit of {max_chars:,}; split it.")
    return text


def check_speed(speed: float) -> float:
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise InputError(f"speed must be between {MIN_SPEED} and {MAX_SPEED} (got {speed:g}).")
    return float(speed)


class TextToSpeechPipeline:
    task = "text-to-speech"

    def __init__(self, ref: ModelRef, engine: Any):
        self.ref, self.backend = ref, engine
        self.sampling_rate: int = engine.sample_rate

    @classmethod
    def from_ref(cls, ref: ModelRef, engine: str = "auto", threads: int | None = None) -> "TextToSpeechPipeline":
        return cls(ref, synthesis_engine(ref, engine, threads=threads))

    @property
    def engine(self) -> str:
        return self.backend.name

    @property
    def voices(self) -> list[str]:
        """Speaker names of a multi-speaker voice (empty for a single speaker)."""
        return list(self.backend.speakers)

    def stream(self, text: str, *, speed: float = 1.0, voice: str | None = None) -> Iterator[np.ndarray]:
        """float32 chunks at ``sampling_rate``, one per sentence, each made only when asked for."""
        text, speed = check_text(text), check_speed(speed)
        return self.backend.synthesize(text, speed=speed, speaker=voice)

    def __call__(self, text: str, *, speed: float = 1.0, voice: str | None = None) -> SpeechAudio:
        chunks = list(self.stream(text, speed=speed, voice=voice))
        if not chunks:  # only punctuation, say: nothing to pronounce
            raise InputError("the text has nothing to pronounce (no words).")
        return SpeechAudio(np.concatenate(chunks), self.sampling_rate)
