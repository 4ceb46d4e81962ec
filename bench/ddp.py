"""DDP on CPU: one epoch of `llmkit finetune` as 2 processes x 1 thread (torchrun, gloo) vs 1 process x 2 threads,
the same data, global batch, seed and options, each its own process, the order alternating between rounds.

    .venv/bin/python bench/ddp.py [--procs 2] [--limit 2000] [--rounds 2] [--batch-size 32] [--model all-minilm-l6-v2]

Reports training samples/s from each run's metrics.json (the training loop alone: model load, evaluation and
saving excluded), the wall time of the whole command (process start to exit, as a user waits), and the last
training loss of each (the same global batch and seed: they should be close, dropout aside). Best round counts.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def write_data(folder: Path, limit: int) -> tuple[Path, Path]:
    from llmkit.train.data import load_dataset

    rows = list(load_dataset("fine_food_reviews", "train"))
    train, dev = folder / "train.jsonl", folder / "dev.jsonl"
    train.write_text("".join(json.dumps({"text": r["text"], "label": r["label"]}) + "\n" for r in rows[:limit]))
    dev.write_text("".join(json.dumps({"text": r["text"], "label": r["label"]}) + "\n"
                           for r in rows[limit:limit + 200]))
    return train, dev


def run(name: str, cmd: list[str], out: Path, env: dict) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    r = subprocess.run(cmd + ["--output", str(out)], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode:
        sys.exit(f"{name}: {' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    m = json.loads((out / "metrics.json").read_text())
    return {"samples_per_s": m["train_samples_per_second"], "train_s": m["train_seconds"], "wall_s": round(wall, 1),
            "last_loss": round(m["history"][-1]["train_loss"], 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--limit", type=int, default=2000, help="training reviews (one epoch over them)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--model", default="all-minilm-l6-v2")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="llmkit-bench-ddp-"))
    train, dev = write_data(tmp, a.limit)
    base = [sys.executable, "-m", "llmkit.cli", "finetune", "--model", a.model, "--train", str(train), "--eval",
            str(dev), "--test", str(dev), "--epochs", "1", "--batch-size", str(a.batch_size), "--max-length", "128",
            "--seed", "1", "--no-calibrate", "-q"]
    sides = {f"{a.procs} x 1 (DDP)": base + ["--nproc-per-node", str(a.procs), "--threads", "1"],
             f"1 x {a.procs} (threads)": base + ["--threads", str(a.procs)]}
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    best: dict[str, dict] = {}
    for r in range(a.rounds):
        for name in (list(sides) if r % 2 == 0 else list(sides)[::-1]):
            got = run(name, sides[name], tmp / "out", env)
            print(f"round {r + 1} {name}: {got}", flush=True)
            if name not in best or got["samples_per_s"] > best[name]["samples_per_s"]:
                best[name] = got
    shutil.rmtree(tmp, ignore_errors=True)
    ddp, threads = best.values()
    print(json.dumps({"limit": a.limit, "batch_size": a.batch_size, "model": a.model, "best": best,
                      "ddp_over_threads": round(ddp["samples_per_s"] / threads["samples_per_s"], 3)}, indent=2))


if __name__ == "__main__":
    main()
