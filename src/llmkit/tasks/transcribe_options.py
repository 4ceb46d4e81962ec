"""The options of a transcription (``TranscribeOptions``) and its decoding presets, in one light module: the
CLI builds its flags from it without importing numpy or the engines (as ``generate_options.py`` does for text)."""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from ..devices import check as check_device, device_field
from ..errors import InputError
from ..options import opt

TASKS = ("transcribe", "translate")
COMPUTE_TYPES = ("int8", "int8_float32", "int8_float16", "float16", "float32", "auto")

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

    language: str | None = opt(None, "language code (en, de, ...) or auto to detect (default: auto)")
    task: str = opt("transcribe", "translate: speech in any language to English text (multilingual models only)",
                    choices=TASKS)
    beam_size: int = opt(PRESETS[DEFAULT_PRESET]["beam_size"], "beam search width; 1 is greedy (the fast preset)")
    # > 1: VAD chunks decoded in batches (long-form); 1: sequential windows
    batch_size: int = opt(8, "chunks decoded at once; 1 decodes 30 s windows one after another")
    # Silero VAD: skip silence and noise (no hallucinated text there)
    vad: bool = opt(True, "skip silence and noise with Silero VAD before decoding")
    word_timestamps: bool = opt(False, "time every word (in json; subtitles stay per segment)")
    # Timestamp tokens inside each batched chunk: finer segments for subtitles, but ~20% slower and, on the
    # benchmark clip, a higher WER (BENCHMARKS.md). None: off when batched (one segment per VAD chunk, <= 30 s),
    # on in sequential mode (which needs them to move its window). The CLI turns them on for srt/vtt/tsv.
    timestamps: bool | None = opt(None, "timestamp tokens inside each chunk: finer segments, slower (default: on "
                                  "for srt, vtt and tsv output and in sequential mode)")
    max_duration: float | None = opt(None, "refuse audio longer than this many seconds", metavar="SECONDS")
    initial_prompt: str | None = opt(None, "text that sets the style and spelling (names, terms) of the first window",
                                     metavar="TEXT")
    temperature: tuple[float, ...] = opt((0.0, 0.2, 0.4, 0.6, 0.8, 1.0), "fallback ladder of sampling temperatures "
                                         "in sequential mode (repeatable)")
    compression_ratio_threshold: float | None = opt(2.4, "retry a window hotter when its text compresses more "
                                                    "than this (repetition)")
    log_prob_threshold: float | None = opt(-1.0, "retry a window hotter when its average log-probability is lower")
    no_speech_threshold: float | None = opt(0.6, "a window this likely to hold no speech, and unsure, is silence")
    # Beam search lifts the best sequence's avg_logprob, so Whisper's two-sided rule above lets a confident " You"
    # through on silence and noise without VAD (beam 5: no_speech_prob 0.92-0.95, avg_logprob -0.87 to -0.95;
    # greedy stays under -1). A window this sure to hold no speech is dropped whatever its log-prob. Measured with
    # tiny.en on AVX2: silence 0.95, pink noise 0.93, brown noise 0.90-0.92 (it fell under 0.9 on another CPU's
    # int8 kernels), speech windows at most 0.57 (the long-form test clip, sequential). 0.8 leaves a margin both
    # ways. None: Whisper's rule alone.
    no_speech_certain_threshold: float | None = opt(0.8, "a window this likely to hold no speech is silence")
    no_repeat_ngram_size: int = opt(0, "forbid repeating n-grams of this size; 0 is off")
    # off: less prone to repetition loops across windows
    condition_on_previous_text: bool = opt(False, "feed each window the text before it (sequential mode)")
    chunk_length: int | None = opt(None, "seconds per window, 1-30 (default: the model's 30)")
    vad_min_silence_ms: int | None = opt(None, "VAD: a silence this long splits speech (default: "
                                         "faster-whisper's for the mode)")
    vad_speech_pad_ms: int | None = opt(None, "VAD: padding kept around speech (default: faster-whisper's for "
                                        "the mode)")
    # faster-whisper's conventions: int8 on CPUs; float16 or int8_float16 on CUDA GPUs (auto picks int8_float16)
    compute_type: str = opt("int8", "weights' precision on CTranslate2 (on a GPU: float16, int8_float16 or auto)",
                            choices=COMPUTE_TYPES)
    cpu_threads: int = opt(0, "CPU threads in all; 0 is CTranslate2's default (4, or fewer cores)")
    # CTranslate2 runs on cpu and cuda (no Metal: mps is for the torch engines)
    device: str = device_field(help="where the model runs: cpu, cuda, or auto (cuda when CTranslate2 sees one); "
                               "mps: the torch engines only (CTC models)")

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
        if self.compute_type not in COMPUTE_TYPES:
            raise InputError(f"compute_type {self.compute_type!r}: choose int8, float32, float16 or auto.")
        _check_int("cpu_threads", self.cpu_threads, 0, 512)
        check_device(self.device)

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
