"""``pipeline(task, model=...)``: the one entry point, shaped like transformers' ``pipeline``.

Each task class (one file each under ``llmkit.tasks``) has ``from_ref(ref, engine="auto", **options)`` and
``__call__``. The CLI, the server and the web app are thin shells over these objects.
"""
from __future__ import annotations

import importlib
from typing import Any

from .catalog import DEFAULTS
from .errors import InputError
from .hub import ModelRef, resolve

TASKS: dict[str, str] = {
    "text-classification": "llmkit.tasks.classify:TextClassificationPipeline",
    "sentiment-analysis": "llmkit.tasks.classify:TextClassificationPipeline",
    "feature-extraction": "llmkit.tasks.embed:EmbeddingPipeline",
    "sentence-embeddings": "llmkit.tasks.embed:EmbeddingPipeline",
    "text-generation": "llmkit.tasks.generate:TextGenerationPipeline",
    "automatic-speech-recognition": "llmkit.tasks.transcribe:SpeechRecognitionPipeline",
    "text-to-speech": "llmkit.tasks.speak:TextToSpeechPipeline",
}


def pipeline(task: str | None = None, /, model: str | ModelRef | None = None, *, engine: str = "auto",
             **options: Any):
    """Build a task pipeline. The first argument is the pipeline task; ``task=`` picks a head of a multi-task
    model folder (``pipeline("text-classification", model="runs/multi", task="sentiment")``).

    >>> from llmkit import pipeline
    >>> clf = pipeline("text-classification")            # the built-in sentiment model
    >>> clf(["I love it", "Stale and tasteless"])
    [{'label': 'POSITIVE', 'score': 0.99...}, {'label': 'NEGATIVE', 'score': 0.98...}]
    """
    if task is None and options.get("task") in TASKS:  # pipeline(task="text-classification"), transformers-style
        task = options.pop("task")
    if task is None and model is None:
        raise InputError(f"give a task ({', '.join(TASKS)}) or a model.")
    if task is not None and task not in TASKS:
        raise InputError(f"unknown task {task!r}; choose one of: {', '.join(TASKS)}.")
    ref = model if isinstance(model, ModelRef) else resolve(model or DEFAULTS[task])
    task = task or ref.task
    if task not in TASKS:
        raise InputError(f"model {ref.name!r} is for {ref.task!r}, which has no pipeline yet.")
    module_name, cls_name = TASKS[task].split(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    return cls.from_ref(ref, engine=engine, **options)
