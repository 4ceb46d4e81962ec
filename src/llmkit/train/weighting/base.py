"""What the strategies share: splitting parameters into shared and task-specific ones, per-task gradients on
the shared ones, writing a combined direction into ``.grad``, and a tiny Adam for a strategy's own weights."""
from __future__ import annotations

from typing import Any

import torch

from ...mtl_arch import is_task_specific, task_of


def shared_parameters(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p for n, p in model.named_parameters() if p.requires_grad and not is_task_specific(n)]


def specific_parameters(model: torch.nn.Module, tasks: list[str]) -> list[torch.Tensor]:
    return [p for n, p in model.named_parameters() if p.requires_grad and task_of(n) in tasks]


def task_gradients(losses: list[torch.Tensor], shared: list[torch.Tensor]) -> torch.Tensor:
    """(tasks, parameters): each task's loss gradient on the shared parameters, flattened (the graph is kept)."""
    rows = []
    for loss in losses:
        grads = torch.autograd.grad(loss, shared, retain_graph=True, allow_unused=True)
        rows.append(torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1).float()
                               for g, p in zip(grads, shared)]))
    return torch.stack(rows)


def write_direction(shared: list[torch.Tensor], direction: torch.Tensor) -> None:
    """Add ``direction`` (flat) to the shared parameters' ``.grad`` (adding keeps gradient accumulation right)."""
    offset = 0
    for p in shared:
        g = direction[offset : offset + p.numel()].view_as(p).to(p.dtype)
        p.grad = g.clone() if p.grad is None else p.grad + g
        offset += p.numel()


def backward_specific(model: torch.nn.Module, losses: dict[str, torch.Tensor],
                      weights: dict[str, float] | None = None) -> None:
    """Each task's own parameters (head, gate) get the gradient of its own (weighted) loss."""
    params = specific_parameters(model, list(losses))
    if params:
        total = sum((weights or {}).get(n, 1.0) * loss for n, loss in losses.items())
        torch.autograd.backward(total, inputs=params)


class GradientStrategy:
    """Base for strategies that combine per-task gradients G (tasks x shared parameters) into one direction."""

    needs_all_tasks = True

    def __call__(self, losses: dict[str, torch.Tensor], model: torch.nn.Module) -> dict[str, float]:
        names = [n for n in self.tasks if n in losses]  # the strategy's own task order
        if len(names) < 2:  # one task this step: nothing to balance
            sum(losses.values()).backward()
            return {n: 1.0 for n in names}
        shared = shared_parameters(model)
        grads = task_gradients([losses[n] for n in names], shared)
        direction, weights = self.combine(grads, names, torch.stack([losses[n].detach() for n in names]))
        write_direction(shared, direction)
        backward_specific(model, losses, weights if self.weight_heads else None)
        return weights

    weight_heads = False  # heads see their raw loss (PCGrad/CAGrad/IMTL); GradNorm weights them too

    def combine(self, grads: torch.Tensor, names: list[str], losses: torch.Tensor
                ) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError


class TinyAdam:
    """Adam for a strategy's own small weight vector, with a JSON-able state (for checkpoints)."""

    def __init__(self, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.m: torch.Tensor | None = None
        self.v: torch.Tensor | None = None
        self.t = 0

    def step(self, x: torch.Tensor, grad: torch.Tensor) -> None:
        grad = grad.detach().double() + self.weight_decay * x.detach().double()
        if self.m is None:
            self.m, self.v = torch.zeros_like(grad), torch.zeros_like(grad)
        b1, b2 = self.betas
        self.t += 1
        self.m = b1 * self.m + (1 - b1) * grad
        self.v = b2 * self.v + (1 - b2) * grad * grad
        m_hat, v_hat = self.m / (1 - b1**self.t), self.v / (1 - b2**self.t)
        with torch.no_grad():
            x -= (self.lr * m_hat / (v_hat.sqrt() + self.eps)).to(x.dtype)

    def state_dict(self) -> dict[str, Any]:
        return {"t": self.t, "m": None if self.m is None else self.m.tolist(),
                "v": None if self.v is None else self.v.tolist()}

    def load_state_dict(self, s: dict[str, Any]) -> None:
        self.t = s["t"]
        self.m = None if s["m"] is None else torch.tensor(s["m"], dtype=torch.float64)
        self.v = None if s["v"] is None else torch.tensor(s["v"], dtype=torch.float64)
