"""Task sampling: which tasks each training step sees. A deterministic mixture of tasks (nanochat ``TaskMixture``).

A sampler is ``sampler(tasks, ids, cfg, epoch) -> iterator of {task: [example indices]}`` (the Trainer's seam): a
finite epoch that is a pure function of (seed, epoch), so resuming replays it exactly.

Distributions over tasks, with n_i the number of training examples of task i:

- ``proportional``: p_i = n_i / sum n (examples-proportional mixing, T5 section 3.5.2)
- ``temperature``: p_i ∝ n_i^(1/T) (T5; T=1 is proportional, T->inf is uniform)
- ``uniform``: p_i = 1/N, drawn at random
- ``round_robin``: every task in turn, no randomness
- ``annealed``: p_i ∝ n_i^alpha, alpha = 1 - 0.8 (e-1)/(E-1) from proportional to near-uniform over the epochs
  (Stickland & Murray 2019, "BERT and PALs", https://arxiv.org/abs/1902.02671)

Each step holds ``tasks_per_step`` distinct tasks drawn from p (1: one task per step, as in MT-DNN; all: every
task every step, which gradient-balancing strategies such as PCGrad need; the distribution then has no effect).
An epoch has ceil(sum_i ceil(n_i / batch) / tasks_per_step) steps, so it touches as many examples as one pass over
every task's data. Each task cycles through reshuffled passes over its own data. With one task (fine-tuning) an
epoch is exactly one pass, seeded by ``seed + epoch`` as single-task fine-tuning always was.
"""
from __future__ import annotations

import math
import random
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import InputError
from .data import bucketed_batches

SAMPLERS = ("proportional", "temperature", "uniform", "round_robin", "annealed")


def task_probabilities(kind: str, sizes: list[int], *, temperature: float = 2.0, epoch: int = 0,
                       epochs: float = 1.0) -> list[float]:
    """The sampling distribution over tasks for one epoch."""
    if kind not in SAMPLERS:
        raise InputError(f"unknown sampler {kind!r}; choose one of: {', '.join(SAMPLERS)}.")
    if kind in ("uniform", "round_robin"):
        return [1.0 / len(sizes)] * len(sizes)
    if kind == "proportional":
        power = 1.0
    elif kind == "temperature":
        if temperature <= 0:
            raise InputError("temperature must be > 0 (1 = proportional, larger = closer to uniform).")
        power = 1.0 / temperature
    else:  # annealed
        last = max(1.0, math.ceil(epochs) - 1.0)
        power = 1.0 - 0.8 * min(1.0, epoch / last)
    weights = [n ** power for n in sizes]
    total = sum(weights)
    return [w / total for w in weights]


@dataclass
class TaskSampler:
    """A callable sampler for the Trainer; ``steps_per_epoch`` is what the Trainer needs for its schedule."""

    kind: str = "proportional"
    temperature: float = 2.0
    tasks_per_step: int = 1
    sizes: tuple[int, ...] = ()
    batch_size: int = 32

    def __post_init__(self) -> None:
        task_probabilities(self.kind, list(self.sizes) or [1], temperature=self.temperature)  # validates
        if not 1 <= self.tasks_per_step <= max(1, len(self.sizes)):
            raise InputError(f"tasks_per_step must be between 1 and the number of tasks ({len(self.sizes)}).")

    @property
    def steps_per_epoch(self) -> int:
        batches = sum(math.ceil(n / self.batch_size) for n in self.sizes)
        return max(1, math.ceil(batches / self.tasks_per_step))

    def schedule(self, names: list[str], epoch: int, epochs: float, seed: int) -> list[list[str]]:
        """The tasks of every step of one epoch."""
        rng = random.Random(f"tasks-{seed}-{epoch}")
        n, k = len(names), self.tasks_per_step
        if self.kind == "round_robin":
            order = [names[(s * k + j) % n] for s in range(self.steps_per_epoch) for j in range(k)]
            return [order[i : i + k] for i in range(0, len(order), k)]
        probs = task_probabilities(self.kind, list(self.sizes), temperature=self.temperature, epoch=epoch,
                                   epochs=epochs)
        steps = []
        for _ in range(self.steps_per_epoch):
            pool, weights, chosen = list(names), list(probs), []
            for _ in range(k):  # k distinct tasks, drawn without replacement
                i = rng.choices(range(len(pool)), weights=weights)[0]
                chosen.append(pool.pop(i))
                weights.pop(i)
            steps.append(chosen)
        return steps

    def __call__(self, tasks, ids, cfg, epoch: int) -> Iterator[dict[str, list[int]]]:
        names = [t.spec.name for t in tasks]
        alone = len(names) == 1
        streams = {name: _batch_stream(ids[name], cfg.batch_size, cfg.seed, epoch, name, alone) for name in names}
        for step in self.schedule(names, epoch, cfg.epochs, cfg.seed):
            yield {name: next(streams[name]) for name in names if name in step}  # in task order


def _batch_stream(seqs: list[list[int]], batch_size: int, seed: int, epoch: int, name: str,
                  alone: bool = False) -> Iterator[list[int]]:
    """Endless length-bucketed batches of one task: reshuffled passes over its data, seeded by (epoch, pass).
    ``alone`` (a one-task run, whose epoch is one pass): the first pass is seeded by ``seed + epoch``, the order
    fine-tuning had before it ran through this sampler, so a seed trains the same model it did then."""
    lengths = [len(x) for x in seqs]
    rounds = 0
    while True:
        pass_seed = seed + epoch if alone and rounds == 0 else zlib.crc32(f"{seed}-{epoch}-{rounds}-{name}".encode())
        yield from bucketed_batches(lengths, batch_size, shuffle=True, seed=pass_seed)
        rounds += 1
