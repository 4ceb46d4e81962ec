"""The evaluation report of a training run: ``report.md`` plus PNG plots (loss, eval metric, confusion matrix)."""
from __future__ import annotations

from pathlib import Path
from typing import Any


def write_report(folder: Path, result: Any, tasks: list[Any]) -> None:
    lines = ["# Training report", ""]
    lines += [f"- steps: {result.steps}, training time: {result.train_seconds:.1f} s, "
              f"{result.samples_per_second:.1f} samples/s" + (", stopped early" if result.stopped_early else ""), ""]
    best = result.best.get("tasks", {})
    for t in tasks:
        m = best.get(t.spec.name)
        if not m:
            continue
        lines += [f"## {t.spec.name} ({t.spec.type})", "", selection_line(t), ""]
        if t.spec.name in result.test:
            lines += [test_line(t, result.test[t.spec.name]), ""]
        if "per_class" in m:
            lines += [f"On the selection data: accuracy **{m['accuracy']:.4f}**, macro-F1 **{m['macro_f1']:.4f}** "
                      f"(best weights, step {result.best.get('step')})", "",
                      "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
            lines += [f"| {name} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} | {c['support']} |"
                      for name, c in m["per_class"].items()]
            lines += ["", f"![confusion matrix](confusion_{t.spec.name}.png)", ""]
        else:
            lines += [", ".join(f"{k} {v:.4f}" for k, v in m.items() if isinstance(v, float)), ""]
    lines += ["![loss](loss.png) ![eval metric](metric.png)", ""]
    (folder / "report.md").write_text("\n".join(lines))
    plot_curves(folder, result.history)
    for t in tasks:
        m = best.get(t.spec.name)
        if m and "confusion_matrix" in m:
            plot_confusion(folder / f"confusion_{t.spec.name}.png", m["confusion_matrix"], m["labels"], t.spec.name)


def selection_line(task: Any) -> str:
    """Which data chose the kept weights and early stopping; a loud note when it was a test split."""
    line = f"Model selection (best checkpoint, early stopping) on: {task.eval_name or 'none'}."
    if task.selected_on_test:
        line += (" **Selected on a test split (--select-on-test)**: scores on it are optimistic, not an unbiased "
                 "estimate.")
    return line


def test_line(task: Any, m: dict[str, Any]) -> str:
    """The test score, computed once with the kept weights; nothing was chosen on it."""
    extra = f", macro-F1 **{m['macro_f1']:.4f}**" if "macro_f1" in m else ""
    return (f"Test ({task.test_name}, {m['n']} examples, scored once at the end): "
            f"{m['metric_name']} **{m['metric']:.4f}**{extra}")


def pyplot():
    """matplotlib's pyplot on the Agg backend (files only: no display needed), imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(folder: Path, history: list[dict[str, Any]]) -> None:
    plt = pyplot()
    rows = [h for h in history if "train_loss" in h]
    if not rows:
        return
    steps = [h["step"] for h in rows]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(steps, [h["train_loss"] for h in rows], marker="o")
    ax.set(xlabel="optimizer step", ylabel="training loss", title="Training loss")
    fig.tight_layout()
    fig.savefig(folder / "loss.png", dpi=100)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for task in sorted({k for h in rows for k in h.get("eval", {})}):
        pts = [(h["step"], h["eval"][task]["metric"]) for h in rows if task in h.get("eval", {})]
        name = next(h["eval"][task]["metric_name"] for h in rows if task in h.get("eval", {}))
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"{task} ({name})")
    ax.set(xlabel="optimizer step", ylabel="eval metric", title="Evaluation")
    ax.legend()
    fig.tight_layout()
    fig.savefig(folder / "metric.png", dpi=100)
    plt.close(fig)


def plot_confusion(path: Path, matrix: list[list[int]], labels: list[str], title: str) -> None:
    plt = pyplot()
    k = len(labels)
    fig, ax = plt.subplots(figsize=(1.2 + 0.6 * k, 1 + 0.6 * k))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(k), labels, rotation=45, ha="right")
    ax.set_yticks(range(k), labels)
    ax.set(xlabel="predicted", ylabel="true", title=f"Confusion matrix: {title}")
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(matrix[i][j]), ha="center", va="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
