"""Random loss weighting (Lin et al. 2022, "Reasonable Effectiveness of Random Weighting",
https://arxiv.org/abs/2111.10603): each step, w = softmax(z), z ~ N(0, I); minimise sum_i w_i L_i.
The weights are drawn from torch's global generator, which the training checkpoints save: resume replays them."""
from __future__ import annotations

import torch


class RLW:
    needs_all_tasks = False

    def __init__(self, tasks: list[str]):
        self.tasks = tasks

    def draw(self) -> torch.Tensor:
        return torch.softmax(torch.randn(len(self.tasks)), -1)

    def __call__(self, losses: dict[str, torch.Tensor], model: torch.nn.Module) -> dict[str, float]:
        w = self.draw()
        weights = {n: float(w[self.tasks.index(n)]) for n in losses}
        sum(weights[n] * loss for n, loss in losses.items()).backward()
        return weights
