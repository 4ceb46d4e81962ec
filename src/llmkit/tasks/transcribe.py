"""Speech-to-text: ``pipeline("automatic-speech-recognition")`` over Whisper.

>>> from llmkit import pipeline
>>> asr = pipeline("automatic-speech-recognition")              # whisper-tiny.en, int8 on CPU
>>> result = asr("meeting.flac")                                # doctest: +SKIP
>>> result.text, result.language, result.duration               # doctest: +SKIP
('Hello everyone, ...', 'en', 183.1)
>>> for segment in asr.stream("meeting.flac"):                   # doctest: +SKIP
...     print(f"[{segment.start:.1f} -> {segment.end:.1f}] {segment.text}")

The contract: ``preprocess`` (decode to 16 kHz mono) -> ``forward`` (engine, lazily, segment by segment) ->
``postprocess`` (drop hallucinations on silence, collapse repetition loops, make timestamps monotonic).
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import numpy as np

from ..audio import AudioInput, duration_of, load_audio
from ..engines.select import speech_engine
from ..engines.speech import SpeechEngine
from ..errors import InputError
from ..hub import ModelRef
from .word_timing import silent_frames, snap
from .transcribe_options import DEFAULT_PRESET, PRESETS, TASKS, TranscribeOptions  # noqa: F401 (re-exported)


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    word: str
    probability: float


@dataclass(frozen=True)
class Segment:
    id: int
    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float = 0.0
    words: tuple[Word, ...] = ()


@dataclass(frozen=True)
class TranscriptionInfo:
    """What is known before the first segment: the language and the audio's length."""

    language: str
    language_probability: float
    duration: float
    model: str = ""
    task: str = "transcribe"


@dataclass(frozen=True)
class Transcription:
    text: str
    segments: tuple[Segment, ...]
    language: str
    language_probability: float
    duration: float
    model: str = ""
    task: str = "transcribe"

    @classmethod
    def from_segments(cls, info: TranscriptionInfo, segments: Iterable[Segment]) -> "Transcription":
        """The result of a run: what ``start()`` knew up front, and the segments (consumed here, if a generator)."""
        segs = tuple(segments)
        return cls(" ".join(s.text for s in segs), segs, info.language, info.language_probability, info.duration,
                   info.model, info.task)

    @property
    def words(self) -> tuple[Word, ...]:
        return tuple(w for s in self.segments for w in s.words)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class SpeechRecognitionPipeline:
    """Whisper speech-to-text. ``__call__`` returns a ``Transcription``; ``stream`` yields ``Segment``s."""

    task = "automatic-speech-recognition"

    def __init__(self, ref: ModelRef, backend: SpeechEngine, options: TranscribeOptions):
        self.ref, self.backend, self.options = ref, backend, options

    @classmethod
    def from_ref(cls, ref: ModelRef, engine: str = "auto", **options: Any) -> "SpeechRecognitionPipeline":
        opts = options.pop("options", None) or TranscribeOptions()
        opts = opts.replace(**options) if options else opts
        if ref.task != cls.task:
            raise InputError(f"model {ref.name!r} is for {ref.task!r}, not speech recognition; "
                             "use --model whisper-tiny.en or whisper-base.")
        return cls(ref, speech_engine(ref, engine, opts), opts)

    @property
    def engine(self) -> str:
        return self.backend.name

    # -- the contract -----------------------------------------------------------------------------------

    def preprocess(self, audio: AudioInput, options: TranscribeOptions) -> np.ndarray:
        return load_audio(audio, max_duration=options.max_duration)

    def forward(self, audio: np.ndarray, options: TranscribeOptions) -> tuple[TranscriptionInfo, Iterator[Any]]:
        raw_info, raw_segments = self.backend.transcribe(audio, options)
        info = TranscriptionInfo(raw_info.language, raw_info.language_probability, duration_of(audio),
                                 self.ref.name, options.task)
        return info, raw_segments

    def postprocess(self, raw_segments: Iterator[Any], options: TranscribeOptions,
                    duration: float, samples: np.ndarray | None = None) -> Iterator[Segment]:
        silent = silent_frames(samples) if samples is not None and options.word_timestamps else None
        last_end, n = 0.0, 0
        for raw in raw_segments:
            if _is_hallucination(raw, options):
                continue
            text = collapse_repeats(raw.text.strip())
            if not any(ch.isalnum() for ch in text):  # a lone "." or "..." on noise is not speech
                continue
            start = min(max(float(raw.start), last_end), duration)
            end = min(max(float(raw.end), start), duration)
            words = tuple(_word(w, start, end, silent) for w in (raw.words or ()))
            n += 1
            yield Segment(n, round(start, 3), round(end, 3), text, float(raw.avg_logprob),
                          float(raw.no_speech_prob), float(getattr(raw, "compression_ratio", 0.0)), words)
            last_end = end

    # -- entry points -----------------------------------------------------------------------------------

    def start(self, audio: AudioInput, **overrides: Any) -> tuple[TranscriptionInfo, Iterator[Segment]]:
        """Decode and detect the language now; return the info and a lazy generator of segments."""
        options = self.options.replace(**overrides) if overrides else self.options
        samples = self.preprocess(audio, options)
        info, raw = self.forward(samples, options)
        return info, self.postprocess(raw, options, info.duration, samples)

    def stream(self, audio: AudioInput, **overrides: Any) -> Iterator[Segment]:
        return self.start(audio, **overrides)[1]

    def __call__(self, audio: AudioInput | list, **overrides: Any) -> Transcription | list[Transcription]:
        if isinstance(audio, list):
            return [self(a, **overrides) for a in audio]
        return Transcription.from_segments(*self.start(audio, **overrides))

    def detect_language(self, audio: AudioInput) -> tuple[str, float]:
        samples = self.preprocess(audio, self.options)
        language, probability, _ = self.backend.detect_language(samples)
        return language, probability


def _word(raw: Any, start: float, end: float, silent: np.ndarray | None) -> Word:
    """A word inside its segment's span; its edges moved off silence (see ``word_timing``)."""
    w_start, w_end = min(max(float(raw.start), start), end), min(max(float(raw.end), start), end)
    if silent is not None:
        w_start, w_end = snap(w_start, w_end, silent)
    return Word(w_start, w_end, raw.word, float(raw.probability))


def _is_hallucination(raw: Any, options: TranscribeOptions) -> bool:
    """Whisper's own rule (the sequential decoder applies it; batched decoding does not): a window that is
    probably not speech *and* was decoded with low confidence is dropped; so is one almost certainly not speech."""
    certain = options.no_speech_certain_threshold
    if certain is not None and raw.no_speech_prob > certain:  # see TranscribeOptions: beam search's confident "You"
        return True
    if options.no_speech_threshold is None or options.log_prob_threshold is None:
        return False
    return raw.no_speech_prob > options.no_speech_threshold and raw.avg_logprob < options.log_prob_threshold


_REPEAT = re.compile(r"(\b(\w.{0,59}?)\b[\s,.!?]*)(?:\2\b[\s,.!?]*){3,}", re.IGNORECASE | re.DOTALL)


def collapse_repeats(text: str) -> str:
    """Cut repetition loops ("thank you. thank you. thank you. ..."): a phrase repeated 4+ times in a row
    is kept once. Whisper falls into such loops on music and noise (openai/whisper#1253)."""
    return _REPEAT.sub(lambda m: m.group(1), text).strip()
