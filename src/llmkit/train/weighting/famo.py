"""FAMO, fast adaptive multitask optimisation (Liu et al. 2023, https://arxiv.org/abs/2306.03792).

Keeps logits xi with z = softmax(xi). The model minimises sum_i (z_i / c) log(L_i - l_i*), c = sum_j z_j / (L_j - l_j*)
(stop-gradient), so task i's gradient is scaled by z_i / (c L_i): the effective weights sum to 1 and favour small
losses' relative progress. After a step, with delta_i = log L_i(before) - log L_i(after), xi follows
-J_softmax^T delta (Adam, weight decay gamma): tasks that improved least gain weight, which balances the rate at
which every loss falls. As in the paper's cheap variant, "after" is the next step's loss (no extra forward pass).
"""
from __future__ import annotations

from typing import Any

import torch

from .base import TinyAdam

EPS = 1e-8


class FAMO:
    needs_all_tasks = True

    def __init__(self, tasks: list[str], lr: float = 0.025, gamma: float = 0.01):
        self.tasks = tasks
        self.logits = torch.zeros(len(tasks), dtype=torch.float64)
        self.adam = TinyAdam(lr, weight_decay=gamma)
        self.prev: list[float] | None = None

    def update(self, before: torch.Tensor, after: torch.Tensor) -> None:
        delta = torch.log(before.double() + EPS) - torch.log(after.double() + EPS)
        z = torch.softmax(self.logits, -1)
        grad = z * (delta - (z * delta).sum())  # J_softmax^T delta
        self.adam.step(self.logits, grad)

    def __call__(self, losses: dict[str, torch.Tensor], model: torch.nn.Module) -> dict[str, float]:
        if set(losses) != set(self.tasks):  # not every task this step: nothing to balance against
            sum(losses.values()).backward()
            return {n: 1.0 for n in losses}
        values = torch.stack([losses[n].detach() for n in self.tasks]).double()
        if self.prev is not None:
            self.update(torch.tensor(self.prev, dtype=torch.float64), values)
        z = torch.softmax(self.logits, -1)
        c = (z / (values + EPS)).sum()
        total = sum((z[i] / c).float() * torch.log(losses[n] + EPS) for i, n in enumerate(self.tasks))
        total.backward()
        self.prev = values.tolist()
        return {n: float(z[i] / (c * (values[i] + EPS))) for i, n in enumerate(self.tasks)}

    def state_dict(self) -> dict[str, Any]:
        return {"logits": self.logits.tolist(), "prev": self.prev, "adam": self.adam.state_dict()}

    def load_state_dict(self, s: dict[str, Any]) -> None:
        self.logits = torch.tensor(s["logits"], dtype=torch.float64)
        self.prev = s["prev"]
        self.adam.load_state_dict(s["adam"])
