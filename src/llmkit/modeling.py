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

    def __init__(self, body: nn.Module, tasks: list[TaskSpec], pooling: str = "mean", dropout: float = 0.1,
                 mixer: nn.Module | None = None):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}")
        self.body = body
        self.pooling = pooling
        self.tasks = {t.name: t for t in tasks}
        hidden = body.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({t.name: nn.Linear(hidden, t.num_outputs) for t in tasks})
        # Optional soft sharing between the pooled vector and the heads (e.g. MMoE, mtl_arch.py): task-aware,
        # maps (pooled, task) -> a vector of the same width. None: hard parameter sharing.
        self.mixer = mixer

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.body(input_ids=input_ids, attention_mask=attention_mask)
        hidden = out.last_hidden_state
        return hidden[:, 0] if self.pooling == "cls" else mean_pool(hidden, attention_mask)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, task: str | None = None) -> torch.Tensor:
        task = task or next(iter(self.tasks))
        return self.task_head(self.encode(input_ids, attention_mask), task)

    def task_head(self, pooled: torch.Tensor, task: str) -> torch.Tensor:
        """One task's logits from the pooled vector (through the mixer, when the architecture has one)."""
        if self.mixer is not None:
            pooled = self.mixer(pooled, task)
        return self.heads[task](self.dropout(pooled))

    def drop_tasks(self, names: list[str]) -> None:
        """Remove these tasks' heads (and their MMoE gates): auxiliary tasks are trained, not shipped."""
        for name in names:
            self.tasks.pop(name, None)
            if name in self.heads:
                del self.heads[name]
            gates = getattr(self.mixer, "gates", None)
            if gates is not None and name in gates:
                del gates[name]

    # ------------------------------------------------------------------------------------------ build / load

    @classmethod
    def from_config(cls, config: Any, tasks: list[TaskSpec], pooling: str = "mean") -> "TextModel":
        from transformers import AutoModel

        return cls(AutoModel.from_config(config), tasks, pooling)

    @classmethod
    def from_body(cls, body_path: str | Path, tasks: list[TaskSpec], pooling: str = "mean",
                  architecture: dict[str, Any] | None = None) -> "TextModel":
        from transformers import AutoModel

        from .quiet import quiet

        with quiet():
            body = AutoModel.from_pretrained(str(body_path), use_safetensors=True, trust_remote_code=False)
        mixer = None
        if architecture and architecture.get("type", "hard") != "hard":
            from .mtl_arch import build_mixer

            mixer = build_mixer(architecture, body.config.hidden_size, [t.name for t in tasks])
        return cls(body, tasks, pooling, mixer=mixer)

    @classmethod
    def load(cls, folder: str | Path) -> "TextModel":
        from safetensors.torch import load_file

        folder = Path(folder)
        manifest = read_manifest(folder)
        tasks = [TaskSpec(name, t["type"], list(t.get("labels", []))) for name, t in manifest["tasks"].items()]
        model = cls.from_body(folder, tasks, manifest.get("pooling", "mean"), manifest.get("architecture"))
        weights = load_file(str(folder / "heads.safetensors"))
        model.heads.load_state_dict({k: v for k, v in weights.items() if not k.startswith("mixer.")})
        if model.mixer is not None:
            model.mixer.load_state_dict({k[6:]: v for k, v in weights.items() if k.startswith("mixer.")})
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
        if self.mixer is not None:  # the mixer's weights travel with the heads; the manifest says how to rebuild it
            heads.update({f"mixer.{k}": v.detach().contiguous() for k, v in self.mixer.state_dict().items()})
            manifest = {**manifest, "architecture": self.mixer.describe()}
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
