"""Dynamic Weight Average (Liu, Johns & Davison 2019, "End-to-End Multi-Task Learning with Attention",
https://arxiv.org/abs/1803.10704).

w_i(t) = N exp(r_i(t-1) / T) / sum_j exp(r_j(t-1) / T), r_i(t-1) = L_i(t-1) / L_i(t-2), where L_i(t) is task
i's average loss over period t; w_i = 1 for the first two periods. The paper's period is an epoch; here it is
``period`` steps (multitask() sets a tenth of an epoch, so short runs still adapt). A task whose loss falls
slowly gets more weight.
"""
from __future__ import annotations

import math
from typing import Any

import torch


class DWA:
    needs_all_tasks = False

    def __init__(self, tasks: list[str], temperature: float = 2.0, period: int = 50):
        self.tasks, self.temperature, self.period = tasks, temperature, max(1, int(period))
        self.sums = {n: 0.0 for n in tasks}
        self.counts = {n: 0 for n in tasks}
        self.averages: list[dict[str, float]] = []  # the last two periods' mean losses
        self.calls = 0

    def weights(self) -> dict[str, float]:
        if len(self.averages) < 2:
            return {n: 1.0 for n in self.tasks}
        prev, older = self.averages[-1], self.averages[-2]
        ratios = [prev[n] / older[n] if older[n] > 0 else 1.0 for n in self.tasks]
        exps = [math.exp(r / self.temperature) for r in ratios]
        total = sum(exps)
        return {n: len(self.tasks) * e / total for n, e in zip(self.tasks, exps)}

    def __call__(self, losses: dict[str, torch.Tensor], model: torch.nn.Module) -> dict[str, float]:
        w = self.weights()
        sum(w[n] * loss for n, loss in losses.items()).backward()
        self.observe({n: float(loss.detach()) for n, loss in losses.items()})
        return {n: w[n] for n in losses}

    def observe(self, values: dict[str, float]) -> None:
        for n, v in values.items():
            self.sums[n] += v
            self.counts[n] += 1
        self.calls += 1
        if self.calls % self.period == 0:
            last = self.averages[-1] if self.averages else {}
            # a task unseen in this period (one task per step) keeps its last average: ratio 1
            self.averages = (self.averages + [{n: self.sums[n] / self.counts[n] if self.counts[n]
                                                else last.get(n, 1.0) for n in self.tasks}])[-2:]
            self.sums = {n: 0.0 for n in self.tasks}
            self.counts = {n: 0 for n in self.tasks}

    def state_dict(self) -> dict[str, Any]:
        return {"sums": self.sums, "counts": self.counts, "averages": self.averages, "calls": self.calls}

    def load_state_dict(self, s: dict[str, Any]) -> None:
        self.sums, self.counts, self.averages, self.calls = s["sums"], s["counts"], s["averages"], s["calls"]
