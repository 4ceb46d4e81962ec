"""Text classification: texts in, ``[{"label", "score"}]`` out (the transformers pipeline shape).

>>> from llmkit import pipeline
>>> clf = pipeline("text-classification")
>>> clf("The coffee was stale and bitter.")
[{'label': 'NEGATIVE', 'score': 0.97...}]
>>> clf(["Great snack!", "Awful."], top_k=None)    # every label, best first
[[{'label': 'POSITIVE', ...}, {'label': 'NEGATIVE', ...}], [...]]
"""
from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..engines.encoder import Heads, Tokenizer, default_threads, read_heads, run_bucketed
from ..devices import check, device_field, precision_field
from ..engines.select import encoder_backend
from ..errors import InputError
from ..hub import ModelRef
from ..textio import check_texts


@dataclass(frozen=True)
class ClassifyOptions:
    task: str | None = None  # which head of a multi-task folder
    max_length: int | None = None
    batch_size: int = 32
    threads: int | None = None
    device: str = device_field()
    precision: str = precision_field()

    def __post_init__(self) -> None:
        check(self.device, self.precision)
        if self.batch_size < 1:
            raise InputError("--batch-size must be >= 1.")
        if self.max_length is not None and self.max_length < 8:
            raise InputError("--max-length must be >= 8.")


class TextClassificationPipeline:
    def __init__(self, ref: ModelRef, heads: Heads, options: ClassifyOptions, engine: str = "auto"):
        if not heads.tasks:
            raise InputError(f"{ref.name} has no classification head; fine-tune one with `llmkit finetune`.")
        self.ref, self.heads, self.options = ref, heads, options
        task = options.task or heads.default or next(iter(heads.tasks))
        if task not in heads.tasks:
            raise InputError(f"{ref.name} has no head {task!r}; its heads: {', '.join(heads.tasks)} (pick one with "
                             "--task).")
        self.task = task
        self.labels: list[str] = heads.tasks[task].labels or [task]
        self.head_type: str = heads.tasks[task].type
        # calibration (train/calibration.py): scores are softmax(logits / T); the labels' order never changes
        self.temperature: float = heads.temperatures.get(task, 1.0) if self.head_type == "single_label" else 1.0
        max_length = min(options.max_length or heads.max_length, heads.max_length)
        self.tokenizer = Tokenizer(ref.path, max_length)
        self.backend = encoder_backend(ref, heads, engine, options.threads or default_threads(), options.device,
                                       options.precision)
        self.truncated = 0  # texts cut to max_length in the last call
        self._explainer = None

    @classmethod
    def from_ref(cls, ref: ModelRef, engine: str = "auto", **options: Any) -> "TextClassificationPipeline":
        return cls(ref, read_heads(ref), ClassifyOptions(**options), engine)

    @property
    def engine(self) -> str:
        return self.backend.name

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        ids, self.truncated = self.tokenizer.encode(check_texts(texts))
        if self.truncated:
            print(f"llmkit: {self.truncated} text(s) longer than {self.tokenizer.max_length} tokens were truncated.",
                  file=sys.stderr)
        out = run_bucketed(self.backend, ids, self.tokenizer.pad_id, self.options.batch_size)
        return out[self.task]

    def __call__(self, texts: str | Sequence[str], top_k: int | None = 1) -> list:
        single = isinstance(texts, str)
        logits = self.logits([texts] if single else list(texts))
        rows = [self._rank(row, top_k) for row in logits]
        if top_k == 1:
            rows = [r[0] for r in rows]
        return rows if not single or top_k != 1 else rows

    def explain(self, texts: str | Sequence[str], label: str | None = None, ranked: list | None = None) -> list:
        """Word attributions (integrated gradients, ``tasks/explain.py``) for the predicted label, or ``label``:
        one ``Explanation`` per text. ``ranked``: this pipeline's ``top_k=None`` output for the texts, if known."""
        from .explain import Explainer

        if self._explainer is None:
            self._explainer = Explainer(self)
        return self._explainer([texts] if isinstance(texts, str) else texts, label, ranked)

    def _rank(self, row: np.ndarray, top_k: int | None) -> list[dict[str, Any]]:
        if self.head_type == "regression":
            return [{"label": self.task, "score": float(row[0])}]
        if self.head_type == "multi_label":
            probs = 1 / (1 + np.exp(-row.astype(np.float64)))
        else:
            z = row.astype(np.float64) / self.temperature
            e = np.exp(z - z.max())
            probs = e / e.sum()
        order = np.argsort(-probs)[: top_k or len(probs)]
        return [{"label": self.labels[i], "score": float(probs[i])} for i in order]
