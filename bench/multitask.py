"""Multi-task vs single-task: all three built-in datasets jointly on all-minilm-l6-v2, every weighting strategy.

    .venv/bin/python bench/multitask.py [--limit 300] [--eval-limit 300] [--max-length 64] [--epochs 1]
        [--strategies equal,uncertainty,...] [--extra mmoe:famo] [--out runs/bench-multitask] [--threads 2]

The anchor is one single-task model per dataset (same body, same TrainConfig, same examples per task), trained
once and reused by every strategy. Each strategy then trains one joint model (hard sharing, proportional
sampling; gradient-balancing strategies see every task in every step). The budget is a flag: ``--limit`` training
examples per task (a fixed random subset; None = the full training split) and ``--epochs``. Evaluation uses the
real test splits (``--eval-limit`` examples each, a fixed subset). Prints a markdown table with every strategy's
row, including the ones that lose, and writes it to ``<out>/results.md`` and ``<out>/results.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

TASKS = [("sentiment", "fine_food_reviews"), ("topic", "fortune_topics"), ("novel", "austen_novels")]
STRATEGIES = "equal,uncertainty,dwa,gradnorm,pcgrad,cagrad,famo,imtl,rlw"


def config(args, weighting: str = "equal", architecture: str = "hard") -> dict:
    return {"model": args.model, "weighting": weighting, "architecture": architecture, "epochs": args.epochs,
            "max_length": args.max_length, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
            "threads": args.threads,
            "tasks": [{"name": name, "train": data, "eval": data, "limit": args.limit, "eval_limit": args.eval_limit}
                      for name, data in TASKS]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="all-minilm-l6-v2")
    p.add_argument("--limit", type=int, default=300, help="training examples per task (0: the full split)")
    p.add_argument("--eval-limit", type=int, default=300, help="test examples per task (0: the full split)")
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--strategies", default=STRATEGIES)
    p.add_argument("--extra", default="mmoe:equal", help="architecture:weighting runs, comma-separated ('' for none)")
    p.add_argument("--out", default="runs/bench-multitask")
    args = p.parse_args()
    args.limit, args.eval_limit = args.limit or None, args.eval_limit or None
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    from llmkit.train.mtl_config import MultitaskConfig
    from llmkit.train.mtl_report import compare
    from llmkit.train.multitask import load_task, multitask, train_baselines

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base_cfg = MultitaskConfig.from_dict(config(args))
    data = [load_task(t, base_cfg.train.seed) for t in base_cfg.tasks]
    t0 = time.perf_counter()
    singles = train_baselines(base_cfg, data, out, progress=False, on_event=None)
    print(f"baselines done in {time.perf_counter() - t0:.0f} s: "
          + ", ".join(f"{k} {v['metric']:.4f}" for k, v in singles.items()), flush=True)
    runs = [("hard", w) for w in args.strategies.split(",") if w]
    runs += [tuple(x.split(":")) for x in args.extra.split(",") if x]
    rows = []
    for arch, weighting in runs:
        folder = out / f"{arch}-{weighting}"
        metrics_file = folder / "metrics.json"
        if not metrics_file.exists():  # finished runs are reused: the bench can be resumed
            multitask(config(args, weighting, arch), output=folder, overwrite=True, progress=False)
        metrics = json.loads(metrics_file.read_text())
        cmp = compare(metrics["best"]["tasks"], singles)
        row = {"architecture": arch, "weighting": weighting, "delta_m": cmp["delta_m"],
               "worst_points": min(r["points"] for r in cmp["rows"]), "train_seconds": metrics["train_seconds"],
               "steps": metrics["steps"], "tasks": {r["task"]: r for r in cmp["rows"]}}
        rows.append(row)
        print(_line(row), flush=True)
    table = _table(args, singles, rows)
    (out / "results.md").write_text(table)
    (out / "results.json").write_text(json.dumps({"args": vars(args), "singles": singles, "rows": rows}, indent=2))
    print(table)


def _line(row) -> str:
    tasks = " | ".join(f"{t['joint']:.4f} ({t['points']:+.1f})" for t in row["tasks"].values())
    return (f"| {row['architecture']} | {row['weighting']} | {tasks} | {row['delta_m']:+.2f}% | "
            f"{row['worst_points']:+.1f} | {row['train_seconds']:.0f} s |")


def _table(args, singles, rows) -> str:
    names = [n for n, _ in TASKS]
    head = ("| architecture | weighting | " + " | ".join(f"{n} acc (pts vs single)" for n in names)
            + " | Delta_m | worst task (pts) | train time |")
    lines = [head, "|" + "---|" * (len(names) + 5),
             "| single-task x3 | - | " + " | ".join(f"{singles[n]['metric']:.4f}" for n in names)
             + f" | 0 | 0 | {sum(s['train_seconds'] for s in singles.values()):.0f} s (3 models) |"]
    lines += [_line(r) for r in sorted(rows, key=lambda r: -r["delta_m"])]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
