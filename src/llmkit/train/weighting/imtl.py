"""IMTL-G, impartial multi-task learning, gradient part (Liu et al. 2021, ICLR, https://openreview.net/forum?id=IMPnRXEWpvr).

Find weights alpha (sum 1) so that the update d = sum_i alpha_i g_i has the same projection on every task's unit
gradient u_i = g_i / ||g_i||: d . u_1 = d . u_i for all i. Closed form, with D = [g_1 - g_i]_i, U = [u_1 - u_i]_i:
alpha_{2..N} = g_1 U^T (D U^T)^-1, alpha_1 = 1 - sum alpha_{2..N}. No task's direction is favoured, whatever the
gradients' magnitudes. (The paper's loss-scale part, IMTL-L, is not included.)
"""
from __future__ import annotations

import torch

from .base import GradientStrategy


def imtl_weights(grads: torch.Tensor) -> torch.Tensor:
    g = grads.double()
    u = g / g.norm(dim=1, keepdim=True).clamp(min=1e-20)
    d, du = g[:1] - g[1:], u[:1] - u[1:]
    rest = g[0] @ du.T @ torch.linalg.pinv(d @ du.T)
    return torch.cat([(1 - rest.sum()).unsqueeze(0), rest])


class IMTL(GradientStrategy):
    def __init__(self, tasks: list[str]):
        self.tasks = tasks

    def combine(self, grads, names, losses):
        alpha = imtl_weights(grads)
        return (alpha.float()[:, None] * grads).sum(0), {n: float(a) for n, a in zip(names, alpha)}
