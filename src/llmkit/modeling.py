"""Transfer learning as composition: a pretrained body + a pooling + one small head per task.

``TextModel`` serves single-task fine-tuning (one head) and multi-task training (one head per task) alike.
Building from a config (``TextModel.from_config``) is separate from loading weights (``TextModel.load``), so
tests can use tiny random bodies.

A saved model folder holds the body in standard transformers files (``config.json``, ``model.safetensors``,
tokenizer files), the heads in ``heads.safetensors``, and the manifest ``llmkit.json`` (``manifest.Manifest``:
tasks with their head types and labels, pooling, base model, max length, engine artefacts).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .manifest import HEAD_TYPES, Manifest, TaskSpec  # noqa: F401  (HEAD_TYPES, TaskSpec: re-exported here)

POOLINGS = ("mean", "cls")


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
        model = cls(body, tasks, pooling)
        if architecture and architecture.get("type", "hard") != "hard":  # after the heads: a seed's init order
            from .mtl_arch import build_mixer

            model.mixer = build_mixer(architecture, body.config.hidden_size, [t.name for t in tasks])
        return model

    @classmethod
    def load(cls, folder: str | Path) -> "TextModel":
        from safetensors.torch import load_file

        folder = Path(folder)
        manifest = Manifest.read(folder)
        tasks = [replace(t) for t in manifest.tasks.values()]
        model = cls.from_body(folder, tasks, manifest.pooling, manifest.architecture)
        weights = load_file(str(folder / "heads.safetensors"))
        model.heads.load_state_dict({k: v for k, v in weights.items() if not k.startswith("mixer.")})
        if model.mixer is not None:
            model.mixer.load_state_dict({k[6:]: v for k, v in weights.items() if k.startswith("mixer.")})
        return model.eval()

    def save(self, folder: str | Path, manifest: Manifest, tokenizer: Any = None) -> None:
        """Write body, heads and manifest into ``folder`` (the caller makes this atomic). ``manifest`` carries what
        the model cannot know (base model, max length, description...); tasks, pooling and architecture are the
        model's own."""
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
        save_file(heads, str(folder / "heads.safetensors"))
        replace(manifest, pooling=self.pooling, tasks={name: replace(t) for name, t in self.tasks.items()},
                architecture=self.mixer.describe() if self.mixer is not None else None,
                default_task=manifest.default_task or next(iter(self.tasks))).write(folder)
