"""The task table: one entry per pipeline task, holding everything the project keys by task.

A *task* is a pipeline task (``pipeline("text-classification")``): what a model does. A *head* is one output of a
multi-task model folder (``pipeline("text-classification", model="runs/multi", task="sentiment")`` picks the
``sentiment`` head). The server, the web app, the CLI and ``pipeline()`` all read the task table below; nothing else
maps a task to its class, default model, routes or tab (``tests/test_task_table.py`` keeps it so).

    >>> from llmkit.task_table import get
    >>> get("sentiment-analysis").name, get("sentiment-analysis").default_model
    ('text-classification', 'minilm-sentiment')

A new task is one line in ``TASKS`` (plus its class in ``tasks/``, its routes in ``serve/`` and its tab in ``ui/``).
This module sits at the bottom of the layers: it names the classes as strings and imports nothing of llmkit.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Task:
    """One pipeline task and where it lives in each shell."""

    name: str  # the task's own name, as pipeline() takes it and a model's manifest or catalog entry states it
    implementation: str  # "module:Class" in llmkit.tasks, imported only when the task is used
    default_model: str  # the catalog model used when none is named
    aliases: tuple[str, ...] = ()  # other names for it (transformers' names); a model may carry one as its task
    routes: tuple[str, ...] = ()  # the server's routes that serve it; the first is the one error messages name
    tab: str | None = None  # the web app's tab (its id), if it has one
    # A route whose default model is not the task's (translation needs a multilingual Whisper): route -> model.
    route_models: dict[str, str] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def load_class(self) -> Any:
        module_name, cls_name = self.implementation.split(":")
        return getattr(importlib.import_module(module_name), cls_name)

    def model_for(self, route: str | None = None) -> str:
        """The default model for this task, or for one of its routes."""
        return self.route_models.get(route or "", self.default_model)


def _table(*tasks: Task) -> dict[str, Task]:
    return {t.name: t for t in tasks}


TASKS: dict[str, Task] = _table(
    Task("text-classification", "llmkit.tasks.classify:TextClassificationPipeline", "minilm-sentiment",
         aliases=("sentiment-analysis",), routes=("/v1/classifications",), tab="classify"),
    Task("sentence-embeddings", "llmkit.tasks.embed:EmbeddingPipeline", "all-minilm-l6-v2",
         aliases=("feature-extraction",), routes=("/v1/embeddings",)),
    # Chosen by measurement (BENCHMARKS.md, "Choosing the chat model"): chat suite 0.950 against the 0.5B's 0.700 and
    # SmolLM2-135M's 0.500, at 18.6 against 36.7 and 116 tok/s on 2 idle cores (all faster than anyone reads); what
    # `llmkit models recommend --task chat` ranks first. `--model qwen2.5-coder-0.5b-instruct` is twice as fast.
    Task("text-generation", "llmkit.tasks.generate:TextGenerationPipeline", "qwen2.5-coder-1.5b-instruct",
         routes=("/v1/chat/completions", "/v1/completions", "/v1/messages", "/v1/messages/count_tokens"), tab="chat"),
    Task("automatic-speech-recognition", "llmkit.tasks.transcribe:SpeechRecognitionPipeline", "whisper-tiny.en",
         routes=("/v1/audio/transcriptions", "/v1/audio/translations"), tab="transcribe",
         route_models={"/v1/audio/translations": "whisper-base"}),
    Task("text-to-speech", "llmkit.tasks.speak:TextToSpeechPipeline", "piper-joe-medium",
         routes=("/v1/audio/speech",)),
)

# Every name pipeline() accepts (tasks and their aliases) -> its task.
_BY_NAME: dict[str, Task] = {n: t for t in TASKS.values() for n in t.names}


def names() -> list[str]:
    """Every task name and alias, in the table's order (for error messages that list the choices)."""
    return list(_BY_NAME)


def find(name: str | None) -> Task | None:
    """The task ``name`` (or an alias of it) stands for, else None."""
    return _BY_NAME.get(name or "")


def get(name: str) -> Task:
    """The task ``name`` stands for; a KeyError for a name that is not in the table (a caller's bug)."""
    return _BY_NAME[name]
