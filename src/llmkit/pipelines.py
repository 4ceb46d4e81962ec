"""``pipeline(task, model=...)``: the one entry point, shaped like transformers' ``pipeline``.

Each task class (one file each under ``llmkit.tasks``) has ``from_ref(ref, engine="auto", **options)`` and
``__call__``. The CLI, the server and the web app are thin shells over these objects. Which class and which default
model a task has is the task table's (``llmkit.task_table``).
"""
from __future__ import annotations

from typing import Any

from . import task_table
from .errors import InputError
from .hub import ModelRef, resolve


def pipeline(task: str | None = None, /, model: str | ModelRef | None = None, *, engine: str = "auto",
             **options: Any):
    """Build a task pipeline. The first argument is the pipeline task; ``task=`` picks a head of a multi-task
    model folder (``pipeline("text-classification", model="runs/multi", task="sentiment")``).

    >>> from llmkit import pipeline
    >>> clf = pipeline("text-classification")            # the built-in sentiment model
    >>> clf(["I love it", "Stale and tasteless"])
    [{'label': 'POSITIVE', 'score': 0.99...}, {'label': 'NEGATIVE', 'score': 0.98...}]
    """
    # pipeline(task="text-classification"), transformers-style (otherwise task= names a head)
    if task is None and task_table.find(options.get("task")):
        task = options.pop("task")
    if task is None and model is None:
        raise InputError(f"give a task ({', '.join(task_table.names())}) or a model.")
    if task is not None and task_table.find(task) is None:
        raise InputError(f"unknown task {task!r}; choose one of: {', '.join(task_table.names())}.")
    ref = model if isinstance(model, ModelRef) else resolve(model or task_table.get(task).default_model)
    entry = task_table.find(task or ref.task)
    if entry is None:
        raise InputError(f"model {ref.name!r} is for {ref.task!r}, which has no pipeline yet.")
    return entry.load_class().from_ref(ref, engine=engine, **options)
