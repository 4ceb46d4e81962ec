"""Multi-task vs single-task: all three built-in datasets jointly on all-minilm-l6-v2, every weighting strategy.

    .venv/bin/python bench/multitask.py [--limit 300] [--eval-limit 300] [--max-length 64] [--epochs 1]
        [--strategies equal,uncertainty,...] [--extra mmoe:famo] [--out runs/bench-multitask] [--threads 2]
        [--seeds 13,14,15]

The anchor is one single-task model per dataset (same body, same TrainConfig, same examples per task), trained
once and reused by every strategy. Each strategy then trains one joint model (hard sharing, proportional
sampling; gradient-balancing strategies see every task in every step). The budget is a flag: ``--limit`` training
examples per task (a fixed random subset; None = the full training split) and ``--epochs``. Evaluation uses the
real test splits (``--eval-limit`` examples each, a fixed subset), scored once at the end; the best checkpoint of
every run is chosen on 10% of its training subset, held out. Prints a markdown table with every strategy's
row, including the ones that lose, and writes it to ``<out>/results.md`` and ``<out>/results.json``.

``--seeds 13,14,15`` repeats the whole comparison once per seed (a seed picks the training subset, the heads' init
and the batch order, for the baselines and the joint runs alike) in ``<out>/seed-N/``, then writes the mean over
seeds, with each task's paired difference (joint minus single of the same seed) as mean and standard deviation,
to ``<out>/results-seeds.md``: one seed's difference of a point or two is within training noise.
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
            "tasks": [{"name": name, "train": data, "test": data, "limit": args.limit, "test_limit": args.eval_limit}
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
    p.add_argument("--seeds", type=_seed_list, default=[], help="comma-separated seeds: repeat per seed and report "
                   "the mean")
    args = p.parse_args()
    args.limit, args.eval_limit = args.limit or None, args.eval_limit or None
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if not args.seeds:
        run_one(args)
        return
    root, per_seed = Path(args.out), []
    for seed in args.seeds:
        one = argparse.Namespace(**{**vars(args), "seed": seed, "out": str(root / f"seed-{seed}")})
        per_seed.append(run_one(one))
    table = _seeds_table(per_seed)
    (root / "results-seeds.md").write_text(table)
    print(table)


def run_one(args) -> dict:
    from llmkit.train.mtl_config import MultitaskConfig
    from llmkit.train.mtl_report import compare
    from llmkit.train.multitask import multitask
    from llmkit.train.runner import train_baselines
    from llmkit.train.task_data import load_task

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base_cfg = MultitaskConfig.from_dict(config(args))
    data = [load_task(t, base_cfg.train.seed) for t in base_cfg.tasks]
    t0 = time.perf_counter()
    singles = train_baselines(base_cfg, data, out, progress=False, on_event=None)
    if any(not v.get("test") for v in singles.values()):
        raise SystemExit(f"{out}: baselines from an older run (selected on the test split); use a fresh --out.")
    singles = {k: {**v, "metric": v["test"]["metric"], "best": v["test"]} for k, v in singles.items()}  # test scores
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
        cmp = compare(metrics["test"], singles)
        row = {"architecture": arch, "weighting": weighting, "delta_m": cmp["delta_m"],
               "worst_points": min(r["points"] for r in cmp["rows"]), "train_seconds": metrics["train_seconds"],
               "steps": metrics["steps"], "tasks": {r["task"]: r for r in cmp["rows"]}}
        rows.append(row)
        print(_line(row), flush=True)
    table = _table(args, singles, rows)
    (out / "results.md").write_text(table)
    result = {"args": vars(args), "singles": singles, "rows": rows}
    (out / "results.json").write_text(json.dumps(result, indent=2))
    print(table)
    return result


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


def _seed_list(text: str) -> list[int]:
    try:
        seeds = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give whole numbers separated by commas, e.g. 13,14,15") from None
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"{text!r}: each seed once")
    return seeds


def _mean_sd(xs: list[float]) -> tuple[float, float]:
    m = sum(xs) / len(xs)
    return m, (sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) ** 0.5 if len(xs) > 1 else 0.0


def _seeds_table(per_seed: list[dict]) -> str:
    """Mean over seeds: single and joint metric per task, the paired difference in points (mean +- sd), Delta_m."""
    names = [n for n, _ in TASKS]
    seeds = [r["args"]["seed"] for r in per_seed]
    head = ("| architecture | weighting | " + " | ".join(f"{n}: joint (pts vs single, mean +- sd)" for n in names)
            + " | Delta_m (mean +- sd) | worst task mean (pts) |")
    lines = [f"Mean over seeds {', '.join(map(str, seeds))} (paired: each seed's joint run against that seed's "
             "single-task models).", "", head, "|" + "---|" * (len(names) + 4),
             "| single-task x3 | - | " + " | ".join(
                 "{:.4f} +- {:.4f}".format(*_mean_sd([r["singles"][n]["metric"] for r in per_seed])) for n in names)
             + " | 0 | 0 |"]
    keys = [(row["architecture"], row["weighting"]) for row in per_seed[0]["rows"]]
    summary = []
    for arch, weighting in keys:
        rows = [next(x for x in r["rows"] if (x["architecture"], x["weighting"]) == (arch, weighting))
                for r in per_seed]
        cells, worst = [], float("inf")
        for n in names:
            joint_m, _ = _mean_sd([x["tasks"][n]["joint"] for x in rows])
            pts_m, pts_sd = _mean_sd([x["tasks"][n]["points"] for x in rows])
            worst = min(worst, pts_m)
            cells.append(f"{joint_m:.4f} ({pts_m:+.1f} +- {pts_sd:.1f})")
        dm, dm_sd = _mean_sd([x["delta_m"] for x in rows])
        summary.append((dm, f"| {arch} | {weighting} | " + " | ".join(cells) + f" | {dm:+.2f}% +- {dm_sd:.2f} | "
                            f"{worst:+.1f} |"))
    lines += [line for _, line in sorted(summary, key=lambda x: -x[0])]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
