"""Whisper on transformers (torch, fp32): the reference engine, for transformers-format folders.

Slower than CTranslate2 on a CPU; kept to check llmkit's default engine against the reference
implementation. Long audio is cut into 30 s chunks with 5 s strides by the transformers ASR pipeline.

>>> from llmkit import pipeline
>>> asr = pipeline("automatic-speech-recognition", model="path/to/whisper-hf", engine="torch")  # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import EngineUnavailableError, InputError
from ..hub import ModelRef
from .speech import RawInfo


class TorchWhisper:
    """The reference speech engine (the ``SpeechEngine`` contract of ``speech.py``) on a transformers folder."""

    name = "torch"

    def __init__(self, model: Any):
        self.model = model

    @classmethod
    def from_ref(cls, ref: ModelRef, options: Any = None) -> "TorchWhisper":
        if ref.format != "transformers":
            raise EngineUnavailableError(f"the torch engine needs a transformers-format Whisper folder; {ref.name!r} "
                                         f"is {ref.format}. Use engine='ctranslate2' (the default).")
        from ..devices import resolve_torch

        return cls(load(ref.path, resolve_torch(getattr(options, "device", "cpu"))))

    def transcribe(self, audio: np.ndarray, options: Any) -> tuple[RawInfo, Iterator[Any]]:
        return transcribe(self.model, audio, options)

    def detect_language(self, audio: np.ndarray) -> tuple[str, float, list[tuple[str, float]]]:
        return detect_language(self.model, audio)


@dataclass(frozen=True)
class _RawSegment:
    start: float
    end: float
    text: str
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    compression_ratio: float = 0.0
    words: tuple = ()


def load(path: Path, device: str = "cpu"):
    """A transformers ASR pipeline on ``path`` (safetensors only, no remote code), in fp32 on ``device``."""
    try:
        import torch  # noqa: F401
        from transformers import pipeline as hf_pipeline
    except ImportError as e:
        raise EngineUnavailableError("the torch engine needs transformers: `pip install 'llmkit[torch]'`.") from e
    pipe = hf_pipeline("automatic-speech-recognition", model=str(path), device=device, dtype="float32",
                       model_kwargs={"use_safetensors": True})
    if pipe.tokenizer.pad_token_id is None:  # batching pads with it; Whisper pads with <|endoftext|>
        pipe.tokenizer.pad_token = pipe.tokenizer.eos_token
    return pipe


def transcribe(model, audio: np.ndarray, options: Any) -> tuple[RawInfo, Iterator[_RawSegment]]:
    multilingual = bool(getattr(model.model.config, "is_multilingual", None) or
                        model.model.config.vocab_size >= 51865)
    generate_kwargs: dict[str, Any] = {"num_beams": options.beam_size}
    language = None if options.language in (None, "auto") else options.language
    if multilingual:
        generate_kwargs["task"] = options.task
        if language:
            generate_kwargs["language"] = language
    elif options.task == "translate" or (language and language != "en"):
        raise InputError("this model is English-only; --task translate and other languages need a multilingual one.")
    out = model({"raw": audio, "sampling_rate": 16000}, chunk_length_s=30, stride_length_s=5,
                batch_size=options.batch_size, return_timestamps="word" if options.word_timestamps else True,
                generate_kwargs=generate_kwargs)
    duration = len(audio) / 16000
    segments = [_segment(chunk, duration) for chunk in out.get("chunks", []) if chunk["text"].strip()]
    return RawInfo(language or "en", 1.0 if not multilingual or language else 0.0, duration), iter(segments)


def _segment(chunk: dict[str, Any], duration: float) -> _RawSegment:
    start, end = chunk["timestamp"]
    start = float(start or 0.0)
    end = float(end) if end is not None else duration
    return _RawSegment(start, end, chunk["text"])


def detect_language(model, audio: np.ndarray) -> tuple[str, float, list[tuple[str, float]]]:
    raise EngineUnavailableError("language detection runs on the ctranslate2 engine; use engine='ctranslate2'.")
