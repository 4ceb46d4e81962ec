"""PCGrad, gradient surgery (Yu et al. 2020, https://arxiv.org/abs/2001.06782).

For each task i (random order of the others): when g_i' . g_j < 0, project g_i' onto the normal plane of g_j:
g_i' -= (g_i' . g_j / ||g_j||^2) g_j. The update is sum_i g_i'. Each projected gradient is left with no negative
inner product against the gradient it was projected off; with two tasks, the update has a non-negative inner
product with both original gradients (neither loss goes up to first order). Without conflict it is plain sum.
"""
from __future__ import annotations

import torch

from .base import GradientStrategy


def project_conflicting(grads: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """(tasks, params) -> (tasks, params) of projected gradients."""
    projected = grads.clone()
    n = grads.shape[0]
    for i in range(n):
        others = [j for j in torch.randperm(n, generator=generator).tolist() if j != i]
        for j in others:
            dot = projected[i] @ grads[j]
            if dot < 0:
                projected[i] -= dot / (grads[j] @ grads[j]).clamp(min=1e-20) * grads[j]
    return projected


class PCGrad(GradientStrategy):
    def __init__(self, tasks: list[str]):
        self.tasks = tasks

    def combine(self, grads, names, losses):
        return project_conflicting(grads).sum(0), {n: 1.0 for n in names}
