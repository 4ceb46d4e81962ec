"""Typed, validated training options: one object passed through, never 40 keyword arguments."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..devices import DEVICES, PRECISIONS
from ..errors import InputError
from ..options import merge_keys, opt

METHODS = ("full", "lora", "head")
SCHEDULERS = ("linear", "cosine", "constant")


@dataclass
class TrainConfig:
    """Every training option; its CLI flags (``finetune``, ``multitask``) and YAML keys come from these fields."""

    epochs: float = opt(3.0, "passes over the training data")
    lr: float = opt(5e-5, "peak learning rate of the body")
    # a fresh head learns faster than a pretrained body
    head_lr: float | None = opt(None, "learning rate of the head (default: 20x --lr)")
    batch_size: int = opt(32, "examples per batch (per task batch in multitask)")
    max_length: int = opt(128, "truncate texts to this many tokens")
    warmup: float = opt(0.06, "warm-up: a fraction of the optimizer steps (< 1), or a step count (>= 1)")
    weight_decay: float = opt(0.01, "AdamW weight decay")
    grad_accum: int = opt(1, "micro-batches per optimizer step")
    max_grad_norm: float = opt(1.0, "clip the gradient norm to this before each step")
    precision: str = opt("fp32", "mixed precision: bf16 (CPUs that support it, GPUs), fp16 (CUDA GPUs, with loss "
                         "scaling)", choices=PRECISIONS)
    # CPU is the default and the tested path; auto: cuda, then mps, then cpu
    device: str = opt("cpu", "where training runs: auto, cpu, cuda or mps (cuda and mps are untested here)",
                      choices=DEVICES)
    scheduler: str = opt("linear", "learning-rate decay after warm-up", choices=SCHEDULERS)
    method: str = opt("full", "lora: low-rank adapters; head: the body frozen, the head trained", choices=METHODS)
    seed: int = opt(42, "random seed; the same seed gives the same model")
    early_stopping: int | None = opt(None, "stop after N evaluations without improvement")
    eval_every: int | None = opt(None, "optimizer steps between evaluations (default: once per epoch)")
    checkpoint_every: int | None = opt(None, "optimizer steps between checkpoints (default: once per epoch)")
    lora_r: int = opt(8, "LoRA rank (with --method lora)")
    lora_alpha: int = opt(16, "LoRA alpha, the scale of the update is alpha / r (with --method lora)")
    threads: int | None = opt(None, "CPU threads for training (default: torch's choice)")
    # None: calibrate when the validation split is big enough (one line otherwise); True: insist (error before training)
    calibrate: bool | None = opt(None, "fit a temperature on the validation split so scores match accuracy "
                                 "(train/calibration.py; default: on when it has >= 20 examples)")

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
            (self.device in DEVICES, f"--device must be one of {', '.join(DEVICES)}"),
            (self.precision != "fp16" or self.device in ("cuda", "auto"), "--precision fp16 needs --device cuda "
             "(on a CPU use bf16 or fp32)"),
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
        return cls(**merge_keys(cls, values, where="training options"))
