"""Crash-safe checkpoints: written to a temp folder and renamed into place, so a kill -9 at any moment leaves
either the previous checkpoint or the new one, never a torn one.

Layout: ``<run>/checkpoints/step-<N>/`` with ``model.safetensors`` (all weights), ``best.safetensors`` (the
best weights so far), ``optimizer.pt`` (optimizer + scheduler state, loaded with ``weights_only=True``) and
``state.json`` (step, epoch, position in the epoch, RNG states, history). ``checkpoints/LATEST`` names the
newest complete one.
"""
from __future__ import annotations

import base64
import json
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import TrainingError


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "torch": base64.b64encode(torch.get_rng_state().numpy().tobytes()).decode(),
        "python": repr(random.getstate()),
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    import ast

    torch.set_rng_state(torch.from_numpy(np.frombuffer(base64.b64decode(state["torch"]), dtype=np.uint8).copy()))
    random.setstate(ast.literal_eval(state["python"]))
    s = state["numpy"]
    np.random.set_state((s[0], np.asarray(s[1], dtype=np.uint32), *s[2:]))


def save_checkpoint(root: Path, step: int, model: torch.nn.Module, best: dict[str, torch.Tensor] | None,
                    optimizer: torch.optim.Optimizer, scheduler: Any, state: dict[str, Any], keep: int = 1) -> Path:
    from safetensors.torch import save_file

    ckpts = root / "checkpoints"
    ckpts.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=ckpts, prefix=".tmp-"))
    try:
        save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(tmp / "model.safetensors"))
        if best is not None:
            save_file({k: v.contiguous() for k, v in best.items()}, str(tmp / "best.safetensors"))
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, tmp / "optimizer.pt")
        (tmp / "state.json").write_text(json.dumps({**state, "rng": rng_state()}))
        for f in tmp.iterdir():  # data on disk before the rename makes it visible
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        target = ckpts / f"step-{step}"
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _write_atomic(ckpts / "LATEST", target.name)
    for old in sorted(ckpts.glob("step-*"), key=lambda p: int(p.name.split("-")[1]))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def latest_checkpoint(root: Path) -> Path | None:
    pointer = root / "checkpoints" / "LATEST"
    if not pointer.exists():
        return None
    path = root / "checkpoints" / pointer.read_text().strip()
    return path if (path / "state.json").exists() else None


def saved_world(path: Path) -> int:
    """How many training processes wrote the checkpoint at ``path`` (1 for those from before torchrun)."""
    try:
        return int(json.loads((path / "state.json").read_text()).get("world_size", 1))
    except (OSError, ValueError):
        return 1


def load_checkpoint(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: Any) -> tuple[dict[str, Any], dict[str, torch.Tensor] | None]:
    from safetensors.torch import load_file

    try:
        model.load_state_dict(load_file(str(path / "model.safetensors")))
        opt = torch.load(path / "optimizer.pt", weights_only=True)
        state = json.loads((path / "state.json").read_text())
    except Exception as e:
        raise TrainingError(f"checkpoint {path} cannot be read ({type(e).__name__}); delete it and start again "
                            "without --resume.") from None
    optimizer.load_state_dict(opt["optimizer"])
    scheduler.load_state_dict(opt["scheduler"])
    best = load_file(str(path / "best.safetensors")) if (path / "best.safetensors").exists() else None
    set_rng_state(state.pop("rng"))
    return state, best
