"""Loss-weighting strategies for multi-task training: one small unit per strategy, all behind one seam.

A strategy is ``strategy(losses: {task: loss tensor}, model) -> {task: weight}``: it performs the backward pass
(writing ``.grad``) and returns the weights it used, for logging. The Trainer calls it once per micro-step.
Strategies that combine per-task gradients (PCGrad, CAGrad, GradNorm, IMTL) work on the shared parameters
(body + shared mixer) and need every task in each step (``needs_all_tasks``); task-specific parameters (heads,
gates) get their own task's gradient. Stateful strategies expose ``state_dict()``/``load_state_dict()`` (plain
JSON) and the Trainer checkpoints them, so resume stays bit-exact.

>>> from llmkit.train.weighting import make_weighting
>>> pcgrad = make_weighting("pcgrad", ["sentiment", "topic"])
"""
from __future__ import annotations

import importlib
import inspect
from typing import Any

from ...errors import InputError

# name -> "module:Class"; the module holds the paper's reference and the unit's tests live in tests/test_weighting.py
STRATEGIES: dict[str, str] = {
    "equal": "equal:Equal",
    "uncertainty": "uncertainty:Uncertainty",
    "dwa": "dwa:DWA",
    "gradnorm": "gradnorm:GradNorm",
    "pcgrad": "pcgrad:PCGrad",
    "cagrad": "cagrad:CAGrad",
    "famo": "famo:FAMO",
    "imtl": "imtl:IMTL",
    "rlw": "rlw:RLW",
}


def strategy_class(name: str) -> type:
    if name not in STRATEGIES:
        raise InputError(f"unknown weighting {name!r}; choose one of: {', '.join(STRATEGIES)}.")
    module, cls = STRATEGIES[name].split(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


def make_weighting(name: str, tasks: list[str], **options: Any):
    """A strategy instance for ``tasks``; ``options`` are the strategy's keyword arguments (e.g. alpha=1.5)."""
    cls = strategy_class(name)
    known = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "tasks")]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise InputError(f"weighting {name!r} has no option(s) {unknown}; its options: {known or 'none'}.")
    return cls(list(tasks), **options)
