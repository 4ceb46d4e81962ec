"""Transfer learning as composition: a pretrained body + a pooling + one small head per task.

``TextModel`` serves single-task fine-tuning (one head) and multi-task training (one head per task) alike.
Building from a config (``TextModel.from_config``) is separate from loading weights (``TextModel.load``), so
tests can use tiny random bodies.

A saved model folder holds the body in standard transformers files (``config.json``, ``model.safetensors``,
tokenizer files), the heads in ``heads.safetensors``, and ``llmkit.json``, the manifest::

    {"format": "llmkit", "version": 1, "pipeline_task": "text-classification", "base_model": "all-minilm-l6-v2",
     "pooling": "mean", "max_length": 256, "default_task": "sentiment",
     "tasks": {"sentiment": {"type": "single_label", "labels": ["NEGATIVE", "POSITIVE"]}}, "engines": {...}}
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

HEAD_TYPES = ("single_label", "multi_label", "regression")
POOLINGS = ("mean", "cls")


@dataclass
class TaskSpec:
    """One task's head: its type and label names (one output per label; regression has one output)."""

    name: str
    type: str = "single_label"
    labels: list[str] = field(default_factory=list)

    @property
    def num_outputs(self) -> int:
        return 1 if self.type == "regression" else len(self.labels)


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


class TextModel(nn.Module):
    """body (a transformers encoder) -> pooling -> heads[task] (dropout + linear)."""

    def __init__(self, body: nn.Module, tasks: list[TaskSpec], pooling: str = "mean", dropout: float = 0.1):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}")
        self.body = body
        self.pooling = pooling
        self.tasks = {t.name: t for t in tasks}
        hidden = body.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({t.name: nn.Linear(hidden, t.num_outputs) for t in tasks})

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.body(input_ids=input_ids, attention_mask=attention_mask)
        hidden = out.last_hidden_state
        return hidden[:, 0] if self.pooling == "cls" else mean_pool(hidden, attention_mask)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, task: str | None = None) -> torch.Tensor:
        task = task or next(iter(self.tasks))
        return self.heads[task](self.dropout(self.encode(input_ids, attention_mask)))

    # ------------------------------------------------------------------------------------------ build / load

    @classmethod
    def from_config(cls, config: Any, tasks: list[TaskSpec], pooling: str = "mean") -> "TextModel":
        from transformers import AutoModel

        return cls(AutoModel.from_config(config), tasks, pooling)

    @classmethod
    def from_body(cls, body_path: str | Path, tasks: list[TaskSpec], pooling: str = "mean") -> "TextModel":
        from transformers import AutoModel

        from .quiet import quiet

        with quiet():
            body = AutoModel.from_pretrained(str(body_path), use_safetensors=True, trust_remote_code=False)
        return cls(body, tasks, pooling)

    @classmethod
    def load(cls, folder: str | Path) -> "TextModel":
        from safetensors.torch import load_file

        folder = Path(folder)
        manifest = read_manifest(folder)
        tasks = [TaskSpec(name, t["type"], list(t.get("labels", []))) for name, t in manifest["tasks"].items()]
        model = cls.from_body(folder, tasks, manifest.get("pooling", "mean"))
        model.heads.load_state_dict(load_file(str(folder / "heads.safetensors")))
        return model.eval()

    def save(self, folder: str | Path, manifest: dict[str, Any], tokenizer: Any = None) -> None:
        """Write body, heads and manifest into ``folder`` (the caller makes this atomic)."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        from .quiet import quiet

        with quiet():
            self.body.save_pretrained(str(folder), safe_serialization=True)
        if tokenizer is not None:
            tokenizer.save_pretrained(str(folder))
        heads = {k: v.detach().contiguous() for k, v in self.heads.state_dict().items()}
        save_file(heads, str(folder / "heads.safetensors"))
        full = {
            "format": "llmkit",
            "version": 1,
            "pipeline_task": "text-classification",
            "pooling": self.pooling,
            **manifest,
            "tasks": {name: {k: v for k, v in asdict(t).items() if k != "name"} for name, t in self.tasks.items()},
        }
        full.setdefault("default_task", next(iter(self.tasks)))
        (folder / "llmkit.json").write_text(json.dumps(full, indent=2) + "\n")


def read_manifest(folder: str | Path) -> dict[str, Any]:
    return json.loads((Path(folder) / "llmkit.json").read_text())
