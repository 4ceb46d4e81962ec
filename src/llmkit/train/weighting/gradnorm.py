"""GradNorm (Chen et al. 2018, https://arxiv.org/abs/1711.02257).

Learned weights w_i; with G_i = ||grad_W w_i L_i|| on the shared parameters W, the weights follow the gradient
of L_grad = sum_i |G_i - mean(G) * r_i^alpha|, where r_i = (L_i / L_i(0)) / mean_j (L_j / L_j(0)) is the task's
relative inverse training rate and the target is held constant; then sum_i w_i = N again. alpha -> 0 drives the
weighted gradient norms G_i to be equal; larger alpha favours tasks that train slowly. Like LibMTL, W is all the
shared parameters (the paper's last shared layer is not identifiable for an arbitrary body).
"""
from __future__ import annotations

from typing import Any

import torch

from .base import GradientStrategy, TinyAdam


class GradNorm(GradientStrategy):
    weight_heads = True

    def __init__(self, tasks: list[str], alpha: float = 1.5, lr: float = 0.025):
        self.tasks, self.alpha = tasks, alpha
        self.w = torch.ones(len(tasks), dtype=torch.float64)
        self.initial: list[float] | None = None
        self.adam = TinyAdam(lr)

    def update(self, norms: torch.Tensor, losses: torch.Tensor) -> None:
        """One step on the weights from the unweighted gradient norms and the current losses."""
        norms, losses = norms.double(), losses.double()
        if self.initial is None:
            self.initial = losses.tolist()
        ratio = losses / torch.tensor(self.initial, dtype=torch.float64).clamp(min=1e-12)
        rel = ratio / ratio.mean()
        weighted = self.w * norms
        target = weighted.mean() * rel**self.alpha  # a constant in L_grad
        grad = torch.sign(weighted - target) * norms  # d/dw_i |w_i ||g_i|| - target_i|
        self.adam.step(self.w, grad)
        self.w.clamp_(min=1e-4)
        self.w *= len(self.tasks) / self.w.sum()

    def combine(self, grads, names, losses):
        if names != self.tasks:  # a subset of the tasks this step: balance among those, weights as they are
            idx = [self.tasks.index(n) for n in names]
            w = self.w[idx]
            return (w.float()[:, None] * grads).sum(0), {n: float(x) for n, x in zip(names, w)}
        weights = {n: float(x) for n, x in zip(names, self.w)}
        direction = (self.w.float()[:, None] * grads).sum(0)
        self.update(grads.norm(dim=1), losses)
        return direction, weights

    def state_dict(self) -> dict[str, Any]:
        return {"w": self.w.tolist(), "initial": self.initial, "adam": self.adam.state_dict()}

    def load_state_dict(self, s: dict[str, Any]) -> None:
        self.w = torch.tensor(s["w"], dtype=torch.float64)
        self.initial = s["initial"]
        self.adam.load_state_dict(s["adam"])
