"""Sentence embeddings: texts in, one vector per text out (mean-pooled, optionally L2-normalised).

>>> from llmkit import pipeline
>>> emb = pipeline("sentence-embeddings")          # all-minilm-l6-v2
>>> emb(["a cat", "a kitten"], normalize=True).shape
(2, 384)
"""
from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..engines.encoder import Tokenizer, default_threads, read_heads, run_bucketed
from ..devices import check, device_field, precision_field
from ..engines.select import encoder_backend
from ..errors import InputError
from ..hub import ModelRef
from ..textio import check_texts


@dataclass(frozen=True)
class EmbedOptions:
    normalize: bool = False
    max_length: int | None = None
    batch_size: int = 32
    threads: int | None = None
    device: str = device_field()
    precision: str = precision_field()

    def __post_init__(self) -> None:
        check(self.device, self.precision)
        if self.batch_size < 1:
            raise InputError("--batch-size must be >= 1.")


class EmbeddingPipeline:
    def __init__(self, ref: ModelRef, options: EmbedOptions, engine: str = "auto"):
        heads = read_heads(ref)
        if ref.format == "transformers" and heads.tasks:  # check before loading anything
            raise InputError(f"{ref.name} is a classifier; embeddings need an encoder such as all-minilm-l6-v2.")
        self.ref, self.options = ref, options
        self.tokenizer = Tokenizer(ref.path, min(options.max_length or heads.max_length, heads.max_length))
        self.backend = encoder_backend(ref, heads, engine, options.threads or default_threads(), options.device,
                                       options.precision)

    @classmethod
    def from_ref(cls, ref: ModelRef, engine: str = "auto", **options: Any) -> "EmbeddingPipeline":
        return cls(ref, EmbedOptions(**options), engine)

    @property
    def engine(self) -> str:
        return self.backend.name

    def __call__(self, texts: str | Sequence[str], normalize: bool | None = None) -> np.ndarray:
        single = isinstance(texts, str)
        ids, truncated = self.tokenizer.encode(check_texts([texts] if single else list(texts)))
        if truncated:
            print(f"llmkit: {truncated} text(s) longer than {self.tokenizer.max_length} tokens were truncated.",
                  file=sys.stderr)
        vectors = run_bucketed(self.backend, ids, self.tokenizer.pad_id, self.options.batch_size)["pooled"]
        vectors = vectors.astype(np.float32)
        if self.options.normalize if normalize is None else normalize:
            vectors /= np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
        return vectors[0] if single else vectors
