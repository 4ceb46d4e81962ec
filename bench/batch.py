"""Batch classification: `llmkit batch classify` on Ray Data (W workers x 1 thread) vs `llmkit classify --file`
(W threads), the same N fine-food reviews, each its own process, the order alternating between rounds.

    .venv/bin/python bench/batch.py [--n 20000] [--workers 2] [--rounds 2] [--shard-rows 1000]

The reviews (train + test, 5,000) repeat to reach N, each copy with its own id. Both sides are timed end to end
(process start to exit: model load, Ray start-up and shutdown included, as a user waits), best round counts.
Ray's overhead comes from the batch job's own record (OUT/llmkit-batch-run.json): the start-up (until the first
shard's result), then in the steady state an actor's idle time between the end of one shard call and the start of
its next, timed inside the actors (scheduling, moving rows, returning results), per shard ("batch") and per row;
and the whole job's extra time over `classify --file`.
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


def write_input(path: Path, n: int) -> None:
    from llmkit.train.data import load_dataset

    texts = [r["text"] for split in ("train", "test") for r in load_dataset("fine_food_reviews", split)]
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"r{i:07d}", "text": texts[i % len(texts)]}) + "\n")


def timed(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--shard-rows", type=int, default=1000)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="llmkit-bench-batch-"))
    data = tmp / "reviews.jsonl"
    write_input(data, a.n)
    cli = [sys.executable, "-m", "llmkit.cli"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    best = {"batch": float("inf"), "classify": float("inf")}
    run_record = {}
    for r in range(a.rounds):
        order = ["batch", "classify"] if r % 2 == 0 else ["classify", "batch"]
        for name in order:
            if name == "batch":
                out = tmp / "out"
                shutil.rmtree(out, ignore_errors=True)
                t = timed([*cli, "batch", "classify", "--input", str(data), "--output", str(out), "--workers",
                           str(a.workers), "--threads-per-worker", "1", "--shard-rows", str(a.shard_rows)], env)
                if t < best["batch"]:
                    run_record = json.loads((out / "llmkit-batch-run.json").read_text())
            else:
                t = timed([*cli, "classify", "--file", str(data), "--output", str(tmp / "ref.jsonl")],
                          {**env, "LLMKIT_THREADS": str(a.workers)})
            best[name] = min(best[name], t)
            print(f"round {r + 1}: {name:8s} {t:7.1f} s  {a.n / t:7.0f} rows/s", flush=True)
    rec = run_record
    print(f"\nN={a.n}, {a.workers} workers x 1 thread vs classify --file with {a.workers} threads (best of {a.rounds})")
    print(f"llmkit batch classify : {best['batch']:7.1f} s  {a.n / best['batch']:7.0f} rows/s (end to end)")
    print(f"llmkit classify --file: {best['classify']:7.1f} s  {a.n / best['classify']:7.0f} rows/s (end to end)")
    print(f"ratio batch / classify (throughput): {best['classify'] / best['batch']:.2f}")
    print(f"Ray start-up to the first shard's result: {rec['first_result_seconds']:.1f} s (Ray, actors, model loads, "
          "one shard)")
    if rec["steady_shards"]:
        # an actor's idle time between one shard call and its next, timed inside the actors; with W actors side by
        # side, each gap costs the job gap / W of wall time
        gap = rec["gap_seconds_mean"]
        print(f"Ray overhead in the steady state: {gap * 1000:.0f} ms per shard (batch) of {a.shard_rows} rows per "
              f"actor (max {rec['gap_seconds_max'] * 1000:.0f} ms, {rec['steady_shards']} gaps), "
              f"{gap / a.shard_rows * 1e6:.0f} us per row")
    print(f"whole job over classify --file: {(best['batch'] - best['classify']) / a.n * 1e6:.0f} us per row "
          "(start-up included)")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
