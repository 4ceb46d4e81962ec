"""The options of a transcription (``TranscribeOptions``) and its decoding presets, in one light module: the
CLI builds its flags from it without importing numpy or the engines (as ``generate_options.py`` does for text)."""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from ..errors import InputError

TASKS = ("transcribe", "translate")

# Decoding presets, defined here once: the CLI (`--fast`), the server (`preset` form field), the web app and
# ``TranscribeOptions.replace(preset=...)`` all read this table. Accuracy first, as faster-whisper's and
# openai-whisper's CLI defaults: beam search (5) hears more words right than greedy decoding on real speech
# (issue 13: WER 0.065 vs 0.087 on LibriVox with whisper-tiny.en). "fast" trades that for less time
# (BENCHMARKS.md). A preset sets the search only; VAD and timestamps are never traded for speed here.
PRESETS: dict[str, dict[str, Any]] = {
    "accurate": {"beam_size": 5},   # the default
    "fast": {"beam_size": 1},       # greedy
}
DEFAULT_PRESET = "accurate"


@dataclass(frozen=True)
class TranscribeOptions:
    """Every knob of a transcription, validated here once; errors name the CLI flag."""

    language: str | None = None          # None or "auto": detect
    task: str = "transcribe"             # or "translate" (to English; multilingual models only)
    beam_size: int = PRESETS[DEFAULT_PRESET]["beam_size"]  # 1 is greedy (the "fast" preset)
    batch_size: int = 8                  # > 1: VAD chunks decoded in batches (long-form); 1: sequential windows
    vad: bool = True                     # Silero VAD: skip silence and noise (no hallucinated text there)
    word_timestamps: bool = False
    # Timestamp tokens inside each batched chunk: finer segments for subtitles, but ~20% slower and, on the
    # benchmark clip, a higher WER (BENCHMARKS.md). None: off when batched (one segment per VAD chunk, <= 30 s),
    # on in sequential mode (which needs them to move its window). The CLI turns them on for srt/vtt/tsv.
    timestamps: bool | None = None
    max_duration: float | None = None    # refuse longer audio (seconds)
    initial_prompt: str | None = None
    temperature: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)  # fallback ladder (sequential mode)
    compression_ratio_threshold: float | None = 2.4
    log_prob_threshold: float | None = -1.0
    no_speech_threshold: float | None = 0.6
    # Beam search lifts the best sequence's avg_logprob, so Whisper's two-sided rule above lets a confident " You"
    # through on silence and noise without VAD (beam 5: no_speech_prob 0.92-0.95, avg_logprob -0.87 to -0.95;
    # greedy stays under -1). A window this sure to hold no speech is dropped whatever its log-prob; the speech
    # windows of the test clips stay under 0.55. None: Whisper's rule alone.
    no_speech_certain_threshold: float | None = 0.9
    no_repeat_ngram_size: int = 0
    condition_on_previous_text: bool = False  # off: less prone to repetition loops across windows
    chunk_length: int | None = None      # seconds per window; None = the model's 30
    vad_min_silence_ms: int | None = None
    vad_speech_pad_ms: int | None = None
    compute_type: str = "int8"
    cpu_threads: int = 0                 # 0: all cores
    device: str = "cpu"

    def __post_init__(self) -> None:
        lang = self.language
        if lang is not None:
            lang = lang.strip().lower()
            if lang == "auto":
                lang = None
            elif not re.fullmatch(r"[a-z]{2,3}|haw|yue", lang):
                raise InputError(f"--language {self.language!r}: give a language code such as en, de, fr, or auto.")
            object.__setattr__(self, "language", lang)
        if self.task not in TASKS:
            raise InputError(f"--task {self.task!r}: choose transcribe or translate.")
        _check_int("--beam-size", self.beam_size, 1, 20)
        _check_int("--batch-size", self.batch_size, 1, 256)
        _check_int("--no-repeat-ngram-size", self.no_repeat_ngram_size, 0, 20)
        for name in ("no_speech_threshold", "no_speech_certain_threshold"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not 0 <= value <= 1):
                raise InputError(f"{name} {value!r}: give a probability from 0 to 1, or None.")
        if self.max_duration is not None and not self.max_duration > 0:
            raise InputError(f"--max-duration {self.max_duration}: give a positive number of seconds.")
        if self.chunk_length is not None:
            _check_int("--chunk-length", self.chunk_length, 1, 30)
        if isinstance(self.temperature, (int, float)):
            object.__setattr__(self, "temperature", (float(self.temperature),))
        object.__setattr__(self, "temperature", tuple(float(t) for t in self.temperature))
        if not self.temperature or any(not 0 <= t <= 1.5 for t in self.temperature):
            raise InputError("temperature: give one or more values between 0 and 1.5.")
        if self.compute_type not in ("int8", "int8_float32", "int8_float16", "float16", "float32", "auto"):
            raise InputError(f"compute_type {self.compute_type!r}: choose int8, float32, float16 or auto.")
        _check_int("cpu_threads", self.cpu_threads, 0, 512)
        if self.device not in ("cpu", "cuda", "auto"):
            raise InputError(f"device {self.device!r}: choose cpu, cuda or auto.")

    @classmethod
    def preset(cls, name: str, **changes: Any) -> "TranscribeOptions":
        """The options of preset ``name`` ("accurate", the default, or "fast"), then ``changes`` on top."""
        return cls().replace(preset=name, **changes)

    def replace(self, **changes: Any) -> "TranscribeOptions":
        """A copy with ``changes``; ``preset="fast"`` sets the preset's fields first, then the other changes."""
        name = changes.pop("preset", None)
        if name is not None:
            if name not in PRESETS:
                raise InputError(f"preset {name!r}: choose {' or '.join(PRESETS)} (--fast is the fast one).")
            changes = {**PRESETS[name], **changes}
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise InputError(f"unknown transcription option(s): {', '.join(sorted(unknown))}.")
        return dataclasses.replace(self, **changes)


def _check_int(flag: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InputError(f"{flag} {value!r}: give a whole number from {low} to {high}.")
