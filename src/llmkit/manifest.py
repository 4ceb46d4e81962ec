"""The model folder's manifest, ``llmkit.json``: what makes a folder an llmkit model, as one typed record.

Every module that reads or writes the file goes through ``Manifest`` (a test keeps it so)::

    >>> m = Manifest.read("runs/food")                                          # doctest: +SKIP
    >>> m.default_task, m.tasks["default"].labels, m.base_model, m.max_length   # doctest: +SKIP
    ('default', ['NEGATIVE', 'POSITIVE'], 'all-minilm-l6-v2', 256)
    >>> m.engines["onnx-int8"] = "model.int8.onnx"; m.write("runs/food")       # doctest: +SKIP

The file on disk::

    {"format": "llmkit", "format_version": 1, "pipeline_task": "text-classification", "pooling": "mean",
     "base_model": "all-minilm-l6-v2", "max_length": 256, "description": "...", "recipe": "...",
     "tasks": {"sentiment": {"type": "single_label", "labels": ["NEGATIVE", "POSITIVE"]}},
     "default_task": "sentiment", "architecture": {...}, "engines": {"onnx-int8": "model.int8.onnx"}}

``format_version`` says how to read the rest: a folder without it (written before it existed, with ``"version": 1``)
is version 1; a folder from a newer llmkit (a higher version) is refused with the fix, rather than misread. Keys
this version does not know (``extra_manifest`` of ``finetune``/``multitask`` puts free-form ones there) are kept
in ``extra`` and written back. This module sits at the bottom of the layers: it imports only ``errors``.
"""
from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from .errors import InputError

FORMAT_VERSION = 1  # bump when a reader of the previous version would misread a folder
HEAD_TYPES = ("single_label", "multi_label", "regression")


@dataclass
class TaskSpec:
    """One task's head: its type and label names (one output per label; regression has one output)."""

    name: str
    type: str = "single_label"
    labels: list[str] = field(default_factory=list)

    @property
    def num_outputs(self) -> int:
        return 1 if self.type == "regression" else len(self.labels)


@dataclass
class Manifest:
    """What ``llmkit.json`` holds. ``None`` fields are left out of the file (a reader applies its default)."""

    tasks: dict[str, TaskSpec] = field(default_factory=dict)  # head name -> spec, in the order of the file
    default_task: str | None = None
    pipeline_task: str = "text-classification"
    base_model: str | None = None  # the catalog name or path the body was fine-tuned from
    pooling: str = "mean"  # mean | cls
    max_length: int | None = None  # tokens per text at training time
    architecture: dict[str, Any] | None = None  # the mixer between body and heads (mtl_arch.py); None: hard sharing
    engines: dict[str, str] = field(default_factory=dict)  # engine -> artefact in the folder (onnx-int8 -> file)
    # head -> softmax temperature fitted on the validation split (train/calibration.py); scores are softmax(logits/T).
    # No format_version bump: an older reader keeps the key in ``extra`` and shows uncalibrated scores, no misreading.
    temperatures: dict[str, float] = field(default_factory=dict)
    description: str | None = None
    recipe: str | None = None  # the catalog recipe version that built it (a model from an older one is rebuilt)
    format_version: int = FORMAT_VERSION  # the version the file was read as; ``write`` writes today's format
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know, kept on round-trip

    FILE: ClassVar[str] = "llmkit.json"
    _OPTIONAL: ClassVar[tuple[str, ...]] = ("base_model", "max_length", "description", "recipe")
    _READ_ONLY: ClassVar[tuple[str, ...]] = ("format", "version", "format_version")  # how the file is read

    # ------------------------------------------------------------------------------------------ disk

    @classmethod
    def present(cls, folder: str | os.PathLike) -> bool:
        """Whether ``folder`` holds a manifest: a finished llmkit model (the file is written last)."""
        return (Path(folder) / cls.FILE).is_file()

    @classmethod
    def read(cls, folder: str | os.PathLike) -> "Manifest":
        path = Path(folder) / cls.FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as e:
            raise InputError(f"{path} is not valid JSON ({e}); restore it, or train the model again.") from None
        return cls.from_dict(data, where=str(path))

    @classmethod
    def read_if_present(cls, folder: str | os.PathLike) -> "Manifest | None":
        return cls.read(folder) if Path(folder).is_dir() and cls.present(folder) else None

    def write(self, folder: str | os.PathLike) -> Path:
        """Write ``llmkit.json`` atomically: serialised first, then a temp file in the folder renamed over the old
        one, so a reader sees the old manifest or the new one, never half of one (and a value that cannot be
        serialised leaves the folder as it was)."""
        text = json.dumps(self.to_dict(), indent=2) + "\n"  # ASCII (\u escapes): any reader, any locale
        target = Path(folder) / self.FILE
        tmp = target.with_name(f".{self.FILE}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            with open(tmp, "x", encoding="utf-8") as f:  # "x": the umask's permissions, like any other file here
                f.write(text)
                f.flush()
                os.fsync(f.fileno())  # on disk before the rename: the manifest is what marks a folder finished
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return target

    # ------------------------------------------------------------------------------------------ dict form

    @classmethod
    def from_dict(cls, data: Any, where: str = "the manifest") -> "Manifest":
        """The typed form of a manifest's JSON object; unknown keys go to ``extra``. ``where`` names it in errors."""
        if not isinstance(data, dict):
            raise InputError(f"{where} is not a JSON object; restore it, or train the model again.")
        version = data.get("format_version", data.get("version", 1))
        if not isinstance(version, int) or version < 1:
            raise InputError(f"{where} has format_version {version!r}, not a positive integer; restore the file.")
        if version > FORMAT_VERSION:
            raise InputError(f"{where} was written by a newer llmkit (model folder format {version}; this llmkit "
                             f"reads up to {FORMAT_VERSION}); upgrade llmkit to load it.")
        known = _fields() - {"extra", "format_version"}
        m = cls(tasks=_tasks(data.get("tasks") or {}, where), format_version=version,
                extra={k: v for k, v in data.items() if k not in known and k not in cls._READ_ONLY})
        for key in known - {"tasks"}:
            if data.get(key) is not None:
                setattr(m, key, data[key])
        if m.max_length is not None:
            m.max_length = int(m.max_length)
        m.engines = dict(m.engines)
        m.temperatures = {str(k): float(v) for k, v in dict(m.temperatures).items() if float(v) > 0}
        return m

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"format": "llmkit", "format_version": FORMAT_VERSION,
                             "pipeline_task": self.pipeline_task, "pooling": self.pooling}
        d.update({k: getattr(self, k) for k in self._OPTIONAL if getattr(self, k) is not None})
        d.update({k: v for k, v in self.extra.items() if k not in _fields() and k not in d})
        if self.architecture is not None:
            d["architecture"] = self.architecture
        d["tasks"] = {name: {"type": t.type, "labels": list(t.labels)} for name, t in self.tasks.items()}
        if self.default_task is not None:
            d["default_task"] = self.default_task
        if self.engines:
            d["engines"] = dict(self.engines)
        if self.temperatures:
            d["temperatures"] = {k: float(v) for k, v in self.temperatures.items()}
        return d


def _fields() -> set[str]:
    return {f.name for f in fields(Manifest)}


def _tasks(raw: Any, where: str) -> dict[str, TaskSpec]:
    if not isinstance(raw, dict):
        raise InputError(f"{where}: \"tasks\" is not an object of task name -> head; restore the file.")
    tasks = {}
    for name, t in raw.items():
        kind = t.get("type") if isinstance(t, dict) else None
        if kind not in HEAD_TYPES:
            raise InputError(f"{where}: task {name!r} has head type {kind!r}, not one of {', '.join(HEAD_TYPES)}; "
                             "a newer llmkit may have written it: upgrade llmkit.")
        tasks[name] = TaskSpec(name, kind, list(t.get("labels") or []))
    return tasks
