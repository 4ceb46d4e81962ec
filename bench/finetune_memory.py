"""Peak memory of llmkit's training loop under different allocators and padding settings (how tcmalloc was chosen).

    .venv/bin/python bench/finetune_memory.py [--limit 1024] [--epochs 1]

Each setting trains all-minilm-l6-v2 on the same fine-food reviews (batch 16, lr 5e-5, seed 7, 2 threads) in its
own process and prints peak RSS and samples/s. Settings: glibc malloc; glibc with batch lengths rounded up to a
multiple of 32; glibc + malloc_trim(0) after every optimizer step; glibc with one arena; jemalloc and tcmalloc
(LD_PRELOAD, Debian libjemalloc2 / libtcmalloc-minimal4; skipped when not installed).
"""
from __future__ import annotations

import argparse
import ctypes
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

LIB = Path("/usr/lib/x86_64-linux-gnu")
SETTINGS = {
    "glibc": {},
    "glibc, lengths rounded to 32": {"PADMULT": "32"},
    "glibc + malloc_trim every step": {"TRIM": "1"},
    "glibc, one arena": {"ARENA": "1"},
    "jemalloc": {"LD_PRELOAD": str(LIB / "libjemalloc.so.2")},
    "tcmalloc": {"LD_PRELOAD": str(LIB / "libtcmalloc_minimal.so.4")},
}


def child(limit: int, epochs: float) -> None:
    import torch

    torch.set_num_threads(2)
    libc = ctypes.CDLL("libc.so.6")
    if os.environ.get("ARENA"):
        libc.mallopt(-8, int(os.environ["ARENA"]))  # M_ARENA_MAX
    import llmkit.train.evaluate as ev
    import llmkit.train.loop as lp

    mult = int(os.environ.get("PADMULT", "1"))
    if mult > 1:
        plain = ev.collate

        def rounded(ids, pad_id):
            a, m = plain(ids, pad_id)
            extra = -a.shape[1] % mult
            if extra:
                a = torch.nn.functional.pad(a, (0, extra), value=pad_id)
                m = torch.nn.functional.pad(m, (0, extra))
            return a, m

        lp.collate = rounded
    if os.environ.get("TRIM"):
        step = lp.Trainer._optimizer_step

        def trimmed(self):
            step(self)
            libc.malloc_trim(0)

        lp.Trainer._optimizer_step = trimmed
    sys.path.insert(0, str(Path(__file__).parent))
    from finetune import _data

    from llmkit.train.config import TrainConfig
    from llmkit.train.runner import load_body
    from llmkit.train.task_data import prepare_task
    from llmkit.train.loop import Trainer, seed_everything

    train, test = _data("fine_food_reviews", limit)
    data = prepare_task("default", train, test)
    cfg = TrainConfig(epochs=epochs, lr=5e-5, head_lr=5e-5, batch_size=16, max_length=128, warmup=0.0,
                      weight_decay=0.0, seed=7, threads=2)
    seed_everything(7)
    net, tok, _ = load_body("all-minilm-l6-v2", [data.spec])
    trainer = Trainer(net, tok, [data], cfg, progress=False)
    trainer.eval_ids = {}
    start = time.perf_counter()
    trainer.fit()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"RESULT {peak:.0f} {len(train) * epochs / seconds:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=1024)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.limit, args.epochs)
        return
    print("| setting | peak RSS | train samples/s |\n|---|---:|---:|")
    for name, env in SETTINGS.items():
        if "LD_PRELOAD" in env and not Path(env["LD_PRELOAD"]).exists():
            print(f"| {name} | not installed | |")
            continue
        full = {**os.environ, **env, "LLMKIT_ALLOCATOR": "system"}
        out = subprocess.run([sys.executable, __file__, "--child", "--limit", str(args.limit), "--epochs",
                              str(args.epochs)], env=full, capture_output=True, text=True)
        line = next((l for l in out.stdout.splitlines() if l.startswith("RESULT")), None)
        if line is None:
            print(f"| {name} | failed: {out.stderr.strip().splitlines()[-1:]} | |")
            continue
        _, peak, sps = line.split()
        print(f"| {name} | {peak} MB | {sps} |", flush=True)


if __name__ == "__main__":
    main()
