"""CAGrad, conflict-averse gradient descent (Liu et al. 2021, https://arxiv.org/abs/2110.14048).

Find the update d within a ball around the mean gradient g0, ||d - g0|| <= c ||g0||, that maximises the worst
task's improvement min_i g_i . d. Dual: w* = argmin_{w in simplex} g_w . g0 + c ||g0|| ||g_w||, g_w = sum_i w_i g_i,
then d = g0 + (c ||g0|| / ||g_w||) g_w, rescaled by 1 / (1 + c^2) as in the reference code. c = 0 is plain
gradient descent on the mean loss.
"""
from __future__ import annotations

import numpy as np
import torch

from .base import GradientStrategy


def cagrad_direction(grads: torch.Tensor, c: float = 0.5, rescale: bool = True) -> tuple[torch.Tensor, np.ndarray]:
    from scipy.optimize import minimize

    n = grads.shape[0]
    gram = (grads.double() @ grads.double().T).numpy()
    g0_norm = float(np.sqrt(max(gram.mean(), 0.0) + 1e-12))
    b = np.ones(n) / n
    radius = c * g0_norm

    def objective(w: np.ndarray) -> float:
        return float(w @ gram @ b + radius * np.sqrt(max(w @ gram @ w, 0.0) + 1e-12))

    res = minimize(objective, b.copy(), bounds=[(0.0, 1.0)] * n,
                   constraints=({"type": "eq", "fun": lambda w: 1.0 - w.sum()},), method="SLSQP")
    w = np.clip(res.x, 0.0, 1.0)
    gw = (torch.as_tensor(w, dtype=grads.dtype)[:, None] * grads).sum(0)
    d = grads.mean(0) + radius / (float(gw.norm()) + 1e-12) * gw
    return (d / (1 + c**2) if rescale else d), w


class CAGrad(GradientStrategy):
    def __init__(self, tasks: list[str], c: float = 0.5):
        self.tasks, self.c = tasks, c

    def combine(self, grads, names, losses):
        d, w = cagrad_direction(grads, self.c)
        return d, {n: float(x) for n, x in zip(names, w)}
