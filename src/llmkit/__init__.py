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

__all__ = ["pipeline", "resolve", "LlmkitError", "__version__"]
