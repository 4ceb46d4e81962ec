"""llmkit: run, adapt, combine, compare and serve open-source language and speech models, offline.

>>> from llmkit import pipeline
>>> pipeline("text-classification")("What a lovely day")
[{'label': 'POSITIVE', 'score': 0.99...}]
"""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import LlmkitError  # noqa: E402
from .hub import resolve  # noqa: E402
from .pipelines import pipeline  # noqa: E402

__all__ = ["pipeline", "resolve", "finetune", "multitask", "LlmkitError", "__version__"]


def __getattr__(name: str):
    """Training entry points load lazily: ``import llmkit`` stays light for inference."""
    if name == "finetune":
        from .train.finetune import finetune

        return finetune
    if name == "multitask":
        from .train.multitask import multitask

        return multitask
    raise AttributeError(f"module 'llmkit' has no attribute {name!r}")
