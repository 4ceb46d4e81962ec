"""The multi-task report: single-task vs joint per task, relative deltas, Delta_m, negative transfer, cost.

Delta_m as in LibMTL (Maninis et al. 2019; https://github.com/median-research-group/LibMTL):
Delta_m = 1/N sum_i (-1)^{s_i} (M_joint,i - M_single,i) / M_single,i, with s_i = 1 when lower is better. Every
metric llmkit selects on is "higher is better" (MSE is recorded as neg_mse), so the sign is folded in by dividing
by |M_single,i|. A task whose joint score is below its single-task score is flagged as negative transfer.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .report import pyplot, write_report


def compare(joint: dict[str, dict[str, Any]], singles: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per-task rows and Delta_m (in %) from {task: {"metric": ...}} of the joint and the single models.

    For accuracy each row also gets ``noise_points``: twice the standard error of the difference of two
    accuracies measured on n examples each, 2 * sqrt(2 p (1 - p) / n) in points. A delta inside it is not evidence
    of transfer either way (and training with another seed moves a model by as much again)."""
    rows = []
    for name, s in singles.items():
        j = joint.get(name, {}).get("metric")
        b = s.get("metric")
        if j is None or b is None:
            continue
        rel = (j - b) / abs(b) if b else 0.0
        n = s.get("best", {}).get("n") or joint.get(name, {}).get("n")
        noise = eval_noise_points(b, n) if s.get("metric_name") == "accuracy" else None
        rows.append({"task": name, "metric_name": s.get("metric_name"), "single": b, "joint": j,
                     "points": 100 * (j - b), "relative": 100 * rel, "negative_transfer": j < b,
                     "noise_points": noise, "within_noise": noise is not None and abs(100 * (j - b)) < noise})
    delta_m = sum(r["relative"] for r in rows) / len(rows) if rows else None
    return {"rows": rows, "delta_m": delta_m}


def on_test(joint_test: dict[str, dict[str, Any]], singles: dict[str, dict[str, Any]]) -> tuple[dict, dict] | None:
    """The joint and single-task test scores in ``compare``'s shape, when every task has one; else None (compare
    on the validation data, the same for both)."""
    if not singles or any(not s.get("test") or name not in joint_test for name, s in singles.items()):
        return None
    return joint_test, {name: {**s, "metric": s["test"]["metric"], "best": s["test"]} for name, s in singles.items()}


def eval_noise_points(accuracy: float, n: int | None) -> float | None:
    """2 standard errors of the difference between two accuracies near ``accuracy`` on ``n`` examples, in points."""
    if not n:
        return None
    return 100 * 2 * math.sqrt(2 * accuracy * (1 - accuracy) / n)


def write_mtl_report(folder: Path, result: Any, tasks: list[Any], *, cfg: Any, joint: dict[str, Any],
                     singles: dict[str, dict[str, Any]], weights: list[dict[str, float]]) -> None:
    write_report(folder, result, tasks)  # the per-task details (confusion matrices, curves) come first as a file
    details = (folder / "report.md").read_text().split("\n", 1)[1]
    best = result.best.get("tasks", {})
    tested = on_test(result.test, singles)
    cmp = compare(*(tested or (best, singles)))
    lines = ["# Multi-task training report", "",
             f"- body: `{cfg.model}`, architecture: {cfg.architecture}, sampler: {cfg.sampler}"
             + (f" (T={cfg.temperature})" if cfg.sampler == "temperature" else "")
             + f", weighting: {cfg.weighting}",
             f"- tasks: {', '.join(t.spec.name for t in tasks)}; {result.steps} optimizer steps, "
             f"epochs {cfg.train.epochs}, batch {cfg.train.batch_size}, max_length {cfg.train.max_length}"]
    auxiliary = [t.name for t in cfg.tasks if t.auxiliary]
    if auxiliary:
        lines.append(f"- auxiliary (trained to help the others; not used to choose the kept weights, and their "
                     f"heads are not in the folder): {', '.join(auxiliary)}")
    lines.append("")
    if singles:
        lines += ["Compared on: " + ("each task's test data, scored once at the end (no model was chosen on it)."
                                     if tested else "each task's validation data (the data the kept weights were "
                                     "chosen on, the same for both models)."), ""]
        lines += _comparison_section(cmp, joint, singles)
        plot_comparison(folder, cmp)
        (folder / "comparison.json").write_text(json.dumps({**cmp, "joint": joint, "singles": singles}, indent=2) + "\n")
    else:
        lines += ["No single-task baselines (run with `--baselines` to compare against one model per task).", ""]
    if weights:
        lines += ["![task weights](weights.png)", ""]
        plot_weights(folder / "weights.png", weights)
    lines += ["## Joint model, per task", details]
    (folder / "report.md").write_text("\n".join(lines))


def _comparison_section(cmp: dict[str, Any], joint: dict[str, Any], singles: dict[str, Any]) -> list[str]:
    lines = ["## Single-task vs joint", "",
             "| task | metric | single | joint | delta (points) | noise (points) | relative delta | transfer |",
             "|---|---|---|---|---|---|---|---|"]
    for r in cmp["rows"]:
        flag = "**negative**" + (" (> 1 point)" if r["points"] < -1 else "") if r["negative_transfer"] else "ok"
        if r.get("within_noise"):
            flag += ", within noise"
        noise = f"±{r['noise_points']:.1f}" if r.get("noise_points") is not None else "-"
        lines.append(f"| {r['task']} | {r['metric_name']} | {r['single']:.4f} | {r['joint']:.4f} | "
                     f"{r['points']:+.2f} | {noise} | {r['relative']:+.2f}% | {flag} |")
    if any(r.get("noise_points") is not None for r in cmp["rows"]):
        lines += ["", "Noise: twice the standard error of the difference between two accuracies on this many "
                  "evaluation examples. A delta inside it is not evidence of transfer either way; a different "
                  "training seed moves a model by about as much again (`bench/multitask.py --seeds` repeats a "
                  "comparison over seeds)."]
    if cmp["delta_m"] is not None:
        lines += ["", f"**Delta_m = {cmp['delta_m']:+.2f}%** (mean relative delta over tasks; > 0: the joint model "
                  "is better on average)."]
    single_params = sum(s["params"] for s in singles.values())
    single_time = sum(s["train_seconds"] for s in singles.values())
    lines += ["", "| | one joint model | one model per task |", "|---|---|---|",
              f"| parameters | {joint['params']:,} | {single_params:,} ({len(singles)} models) |",
              f"| training time | {joint['train_seconds']:.1f} s | {single_time:.1f} s |", "",
              "![single vs joint](comparison.png) ![relative delta](delta.png)", ""]
    return lines


def plot_comparison(folder: Path, cmp: dict[str, Any]) -> None:
    plt = pyplot()
    rows = cmp["rows"]
    if not rows:
        return
    x = range(len(rows))
    fig, ax = plt.subplots(figsize=(1.5 + 1.4 * len(rows), 3.5))
    ax.bar([i - 0.2 for i in x], [r["single"] for r in rows], 0.4, label="single-task")
    ax.bar([i + 0.2 for i in x], [r["joint"] for r in rows], 0.4, label="joint")
    ax.set_xticks(list(x), [f"{r['task']}\n({r['metric_name']})" for r in rows])
    ax.set(title="Single-task vs joint", ylabel="metric")
    ax.legend()
    fig.tight_layout()
    fig.savefig(folder / "comparison.png", dpi=100)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(1.5 + 1.4 * len(rows), 3.5))
    ax.bar(list(x), [r["relative"] for r in rows], color=["tab:red" if r["negative_transfer"] else "tab:green"
                                                         for r in rows])
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(list(x), [r["task"] for r in rows])
    ax.set(title=f"Relative delta (Delta_m = {cmp['delta_m']:+.2f}%)", ylabel="% vs single-task")
    fig.tight_layout()
    fig.savefig(folder / "delta.png", dpi=100)
    plt.close(fig)


def plot_weights(path: Path, trace: list[dict[str, float]], points: int = 200) -> None:
    plt = pyplot()
    stride = max(1, len(trace) // points)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for task in sorted({k for row in trace for k in row}):
        pts = [(i, row[task]) for i, row in enumerate(trace) if task in row][::stride]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], label=task)
    ax.set(xlabel="micro-step", ylabel="task weight", title="Task weights used")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
