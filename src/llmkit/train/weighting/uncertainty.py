"""Uncertainty weighting (Kendall, Gal & Cipolla 2018, https://arxiv.org/abs/1705.07115).

Minimise sum_i L_i / (2 sigma_i^2) + log sigma_i, with s_i = log sigma_i^2 learned jointly:
sum_i L_i / (2 exp(s_i)) + s_i / 2. For a fixed loss L_i the optimum is s_i = log L_i, so a task's weight
1 / (2 sigma_i^2) settles at 1 / (2 L_i): noisier (higher-loss) tasks weigh less. Same form as LibMTL's UW.
"""
from __future__ import annotations

from typing import Any

import torch

from .base import TinyAdam


class Uncertainty:
    needs_all_tasks = False

    def __init__(self, tasks: list[str], lr: float = 0.025):
        self.tasks = tasks
        self.log_var = torch.zeros(len(tasks), dtype=torch.float64)
        self.adam = TinyAdam(lr)

    def weights(self) -> dict[str, float]:
        return {n: float(0.5 * torch.exp(-self.log_var[i])) for i, n in enumerate(self.tasks)}

    def __call__(self, losses: dict[str, torch.Tensor], model: torch.nn.Module) -> dict[str, float]:
        s = self.log_var.clone().float().requires_grad_(True)
        total = sum(loss / (2 * torch.exp(s[self.tasks.index(n)])) + s[self.tasks.index(n)] / 2
                    for n, loss in losses.items())
        total.backward()
        used = self.weights()
        self.adam.step(self.log_var, s.grad)
        return {n: used[n] for n in losses}

    def state_dict(self) -> dict[str, Any]:
        return {"log_var": self.log_var.tolist(), "adam": self.adam.state_dict()}

    def load_state_dict(self, s: dict[str, Any]) -> None:
        self.log_var = torch.tensor(s["log_var"], dtype=torch.float64)
        self.adam.load_state_dict(s["adam"])
