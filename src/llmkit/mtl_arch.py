"""Multi-task architectures beyond hard parameter sharing, as mixers between the pooled vector and the heads.

``TextModel(body, tasks, mixer=None)`` is hard sharing: one body, one pooled vector, one linear head per task.
A mixer makes the sharing soft: it maps ``(pooled, task) -> vector`` with parameters that are partly shared and
partly per task. The body stays one shared encoder, so a folder still serves every head from one forward pass,
and the mixer exports to ONNX with the heads.

MMoE (Ma et al. 2018, "Modeling Task Relationships in Multi-task Learning with Multi-gate Mixture-of-Experts",
https://dl.acm.org/doi/10.1145/3219819.3220007): ``E`` shared expert networks and one softmax gate per task;
task ``t`` sees ``sum_e softmax(gate_t(x))_e * expert_e(x)``. A residual connection keeps the pretrained
sentence vector flowing to the heads from the first step (a fresh mixture alone would scramble it).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

ARCHITECTURES = ("hard", "mmoe")


class MMoE(nn.Module):
    def __init__(self, hidden: int, tasks: list[str], experts: int = 4, expert_hidden: int | None = None):
        super().__init__()
        width = expert_hidden or hidden
        self.n_experts, self.expert_hidden = experts, width
        self.experts = nn.ModuleList(
            nn.Sequential(nn.Linear(hidden, width), nn.GELU(), nn.Linear(width, hidden)) for _ in range(experts))
        self.gates = nn.ModuleDict({t: nn.Linear(hidden, experts) for t in tasks})
        for e in self.experts:  # start as the identity map: the residual carries the pretrained vector
            nn.init.zeros_(e[2].weight)
            nn.init.zeros_(e[2].bias)

    def gate(self, x: torch.Tensor, task: str) -> torch.Tensor:
        return torch.softmax(self.gates[task](x), dim=-1)

    def forward(self, x: torch.Tensor, task: str) -> torch.Tensor:
        outs = torch.stack([e(x) for e in self.experts], dim=1)  # (batch, experts, hidden)
        return x + (self.gate(x, task).unsqueeze(-1) * outs).sum(1)

    def describe(self) -> dict[str, Any]:
        return {"type": "mmoe", "experts": self.n_experts, "expert_hidden": self.expert_hidden}


def build_mixer(spec: dict[str, Any], hidden: int, tasks: list[str]) -> nn.Module | None:
    """The mixer an architecture spec (from a config or a folder's manifest) describes; None for hard sharing."""
    kind = spec.get("type", "hard")
    if kind == "hard":
        return None
    if kind == "mmoe":
        return MMoE(hidden, tasks, int(spec.get("experts", 4)), spec.get("expert_hidden"))
    from .errors import InputError

    raise InputError(f"unknown architecture {kind!r}; choose one of: {', '.join(ARCHITECTURES)}.")


def is_task_specific(param_name: str) -> bool:
    """Parameters that belong to one task (heads, MMoE gates); everything else is shared between tasks."""
    return param_name.startswith("heads.") or param_name.startswith("mixer.gates.")


def task_of(param_name: str) -> str | None:
    parts = param_name.split(".")
    if parts[0] == "heads":
        return parts[1]
    if parts[:2] == ["mixer", "gates"]:
        return parts[2]
    return None
