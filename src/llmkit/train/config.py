"""Typed, validated training options: one object passed through, never 40 keyword arguments."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..errors import InputError

METHODS = ("full", "lora", "head")
PRECISIONS = ("fp32", "bf16")
SCHEDULERS = ("linear", "cosine", "constant")


@dataclass
class TrainConfig:
    epochs: float = 3.0
    lr: float = 5e-5
    head_lr: float | None = None  # defaults to 20x lr: a fresh head learns faster than a pretrained body
    batch_size: int = 32
    max_length: int = 128
    warmup: float = 0.06  # fraction of optimiser steps (< 1) or a step count (>= 1)
    weight_decay: float = 0.01
    grad_accum: int = 1
    max_grad_norm: float = 1.0
    precision: str = "fp32"
    scheduler: str = "linear"
    method: str = "full"
    seed: int = 42
    early_stopping: int | None = None  # stop after N evaluations without improvement
    eval_every: int | None = None  # optimiser steps between evaluations; None: once per epoch
    checkpoint_every: int | None = None  # optimiser steps between checkpoints; None: once per epoch
    lora_r: int = 8
    lora_alpha: int = 16
    threads: int | None = None

    def __post_init__(self) -> None:
        checks = [
            (self.epochs > 0, "--epochs must be > 0"),
            (self.lr > 0, "--lr must be > 0"),
            (self.batch_size >= 1, "--batch-size must be >= 1"),
            (8 <= self.max_length <= 8192, "--max-length must be between 8 and 8192"),
            (self.warmup >= 0, "--warmup must be >= 0"),
            (self.weight_decay >= 0, "--weight-decay must be >= 0"),
            (self.grad_accum >= 1, "--grad-accum must be >= 1"),
            (self.precision in PRECISIONS, f"--precision must be one of {', '.join(PRECISIONS)}"),
            (self.scheduler in SCHEDULERS, f"--scheduler must be one of {', '.join(SCHEDULERS)}"),
            (self.method in METHODS, f"--method must be one of {', '.join(METHODS)}"),
            (self.early_stopping is None or self.early_stopping >= 1, "--early-stopping must be >= 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(message + ".")

    @property
    def effective_head_lr(self) -> float:
        return self.head_lr if self.head_lr is not None else self.lr * 20

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"unknown training option(s) {unknown}; known: {sorted(known)}.")
        return cls(**values)
