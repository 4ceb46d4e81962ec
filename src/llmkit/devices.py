"""Where a model runs (``--device``) and in which precision (``--precision``), defined once for every verb.

Training (``train/config.py``), the encoders (classify, embed), generation, speech, ``llmkit serve`` and
``llmkit batch`` take the same two options; ``DeviceOptions`` holds their flags, help and checks, and the
engines call ``torch_device`` (torch engines) or their own runtime's check to turn ``auto`` into a real device.
CPU is the default and the only path the test suite runs: cuda and mps are written to the libraries' documented
APIs and say so in docs/scale.md.

>>> DeviceOptions().device, resolve_torch("cpu")
('cpu', 'cpu')
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import InputError
from .options import opt

DEVICES = ("cpu", "auto", "cuda", "mps")
PRECISIONS = ("fp32", "bf16", "fp16")

DEVICE_HELP = "where the model runs: cpu, cuda, mps, or auto (cuda, then mps, then cpu)"
PRECISION_HELP = "torch engines: fp32, or autocast to bf16 (CPUs and GPUs) or fp16 (CUDA GPUs)"

NO_CUDA = "--device cuda: no CUDA GPU is visible to torch; use --device cpu (or auto)."
NO_MPS = "--device mps: Apple's Metal backend is not available here; use --device cpu (or auto)."


def device_field(default: str = "cpu", help: str = DEVICE_HELP) -> Any:
    """The ``device`` field of an options class (its flag, YAML key and keyword): the same choices everywhere."""
    return opt(default, help, choices=DEVICES)


def precision_field(help: str = PRECISION_HELP) -> Any:
    return opt("fp32", help, choices=PRECISIONS)


def check(device: str, precision: str = "fp32") -> None:
    """Values only (nothing imported): an unknown device or precision, or fp16 off CUDA, is one line."""
    if device not in DEVICES:
        raise InputError(f"--device {device!r}: choose one of {', '.join(DEVICES)}.")
    if precision not in PRECISIONS:
        raise InputError(f"--precision {precision!r}: choose one of {', '.join(PRECISIONS)}.")
    if precision == "fp16" and device not in ("cuda", "auto"):
        raise InputError(f"--precision fp16 needs --device cuda (on {device} use bf16 or fp32).")


@dataclass(frozen=True)
class DeviceOptions:
    """``--device`` and ``--precision`` for the verbs whose other options are not a dataclass of their own."""

    device: str = device_field()
    precision: str = precision_field()

    def __post_init__(self) -> None:
        check(self.device, self.precision)


def resolve_torch(device: str) -> str:
    """``auto``: cuda, then mps, then cpu, as torch sees them; a device that is not there is one line that names
    the fix. ``cpu`` imports nothing (the int8 encoders and llama.cpp never need torch for it)."""
    check(device)
    if device == "cpu":
        return "cpu"
    import torch

    has_mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError(NO_CUDA)
    if device == "mps" and not has_mps:
        raise InputError(NO_MPS)
    return device


def autocast(device: str, precision: str):
    """A context that runs torch ops in ``precision`` on ``device`` (a no-op for fp32)."""
    import torch

    half = torch.float16 if precision == "fp16" else torch.bfloat16
    return torch.autocast(torch.device(device).type, dtype=half, enabled=precision != "fp32")
