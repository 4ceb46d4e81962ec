"""Calibration: is a score of 0.9 right 90% of the time? Expected calibration error (ECE), reliability diagrams, and
temperature scaling fitted on the validation split (Guo et al. 2017, https://arxiv.org/abs/1706.04599).

Temperature scaling divides a single-label head's logits by one number T fitted to minimise the validation
negative log-likelihood. It never changes which label wins (accuracy is untouched), only how sure the scores are.
The fitted T is stored in the model folder's manifest (``temperatures``: head -> T) and applied by the
classification pipeline, so every engine (torch, int8 ONNX, the server, the web app) gives calibrated scores.

>>> import numpy as np
>>> logits = np.array([[4.0, -4.0], [3.0, -3.0], [-5.0, 5.0], [2.0, -2.0]]); y = [0, 1, 1, 0]
>>> t = fit_temperature(logits, y)     # one of four sure answers is wrong: overconfident, so T > 1
>>> bool(t > 1), bool(softmax(logits / t).max(-1).mean() < softmax(logits).max(-1).mean())   # less sure
(True, True)
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

N_BINS = 15
# One parameter needs few examples, but below this the fitted T (and a 15-bin ECE) is mostly noise.
MIN_EXAMPLES = 20


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def ece(probs: np.ndarray, targets: Any, bins: int = N_BINS) -> float:
    """Expected calibration error: the confidence-vs-accuracy gap over equal-width confidence bins, weighted by
    how many predictions fall in each."""
    conf, pred = probs.max(-1), probs.argmax(-1)
    correct = pred == np.asarray(targets)
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            total += inside.mean() * abs(conf[inside].mean() - correct[inside].mean())
    return float(total)


def nll(logits: np.ndarray, targets: Any, t: float) -> float:
    z = logits.astype(np.float64) / t
    z = z - z.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    return float(-logp[np.arange(len(logp)), np.asarray(targets)].mean())


def fit_temperature(logits: np.ndarray, targets: Any, lo: float = 0.05, hi: float = 20.0) -> float:
    """The T in [lo, hi] minimising the validation NLL: a log-spaced grid, then golden-section search around its
    best point (the NLL is unimodal in log T for a fixed model, so this finds the optimum without scipy)."""
    grid = np.geomspace(lo, hi, 81)
    best = int(np.argmin([nll(logits, targets, t) for t in grid]))
    a, b = np.log(grid[max(best - 1, 0)]), np.log(grid[min(best + 1, len(grid) - 1)])
    g = (np.sqrt(5) - 1) / 2
    for _ in range(40):
        c, d = b - g * (b - a), a + g * (b - a)
        if nll(logits, targets, np.exp(c)) < nll(logits, targets, np.exp(d)):
            b = d
        else:
            a = c
    return float(np.exp((a + b) / 2))


def reliability_png(path: Path, probs_before: np.ndarray, probs_after: np.ndarray, targets: Any, title: str) -> None:
    """Two reliability diagrams side by side: accuracy per confidence bin against the diagonal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 4), sharey=True)
    edges = np.linspace(0, 1, N_BINS + 1)
    for ax, probs, name in ((axes[0], probs_before, "before"), (axes[1], probs_after, "after temperature")):
        conf, correct = probs.max(-1), probs.argmax(-1) == np.asarray(targets)
        accs = [correct[(conf > lo) & (conf <= hi)].mean() if ((conf > lo) & (conf <= hi)).any() else 0.0
                for lo, hi in zip(edges[:-1], edges[1:])]
        ax.bar(edges[:-1], accs, width=1 / N_BINS, align="edge", edgecolor="black", alpha=0.7, label="accuracy")
        ax.plot([0, 1], [0, 1], "k--", label="perfect calibration")
        ax.set_title(f"{name}: ECE {ece(probs, targets):.3f}")
        ax.set_xlabel("confidence")
    axes[0].set_ylabel("accuracy")
    axes[0].legend(loc="upper left")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _calibratable(tasks: list) -> list:
    return [t for t in tasks if t.spec.type == "single_label" and not t.auxiliary]


def check_calibration(tasks: list, cfg: Any) -> None:
    """Before training (so no run is lost): ``--calibrate`` asked for explicitly needs ``MIN_EXAMPLES`` validation
    examples per head; by default (``None``) a head with fewer is left uncalibrated, said in one line."""
    if cfg.calibrate is False:
        return
    for t in _calibratable(tasks):
        n = len(t.eval.targets) if t.eval is not None else 0
        if n >= MIN_EXAMPLES:
            continue
        message = (f"calibrating {t.spec.name!r} needs at least {MIN_EXAMPLES} validation examples; it has {n}: "
                   "give more --eval data or a larger --eval-split")
        if cfg.calibrate:
            raise InputError(message + ", or --no-calibrate.")
        print(f"llmkit: not {message[0].lower() + message[1:]}.", file=sys.stderr)


def calibrate_run(net: Any, tokenizer: Any, tasks: list, cfg: Any, manifest: Any, folder: Path) -> dict[str, Any]:
    """Fit a temperature per single-label head on its validation split, store it in ``manifest.temperatures``,
    draw ``reliability_<task>.png`` into ``folder``; returns ECE before/after per head (for metrics and report)."""
    from .evaluate import encode, predict_logits

    out: dict[str, Any] = {}
    if cfg.calibrate is False:
        return out
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    for t in _calibratable(tasks):
        if t.eval is None or len(t.eval.targets) < MIN_EXAMPLES:
            continue
        logits = predict_logits(net, encode(tokenizer, t.eval.texts, cfg.max_length), t.spec.name, pad)
        temp = fit_temperature(logits, t.eval.targets)
        before, after = softmax(logits), softmax(logits / temp)
        manifest.temperatures[t.spec.name] = round(temp, 6)
        reliability_png(folder / f"reliability_{t.spec.name}.png", before, after, t.eval.targets,
                        f"{t.spec.name}: {len(logits)} validation examples, T = {temp:.3f}")
        out[t.spec.name] = {"temperature": round(temp, 6), "n": len(logits),
                            "ece_before": round(ece(before, t.eval.targets), 6),
                            "ece_after": round(ece(after, t.eval.targets), 6)}
    return out


def write_calibration(folder: Path, calibration: dict[str, Any]) -> None:
    """Add the calibration results to ``metrics.json`` and a section to ``report.md``."""
    if not calibration:
        return
    metrics_file = folder / "metrics.json"
    metrics = json.loads(metrics_file.read_text())
    metrics["calibration"] = calibration
    metrics_file.write_text(json.dumps(metrics, indent=2) + "\n")
    lines = ["", "## Calibration (validation split, 15-bin ECE)", "",
             "Temperature scaling divides the logits by T; labels (and accuracy) are unchanged, the scores get "
             "closer to how often they are right. Every engine applies the stored T.", "",
             "| head | examples | T | ECE before | ECE after |", "|---|---|---|---|---|"]
    for name, c in calibration.items():
        lines.append(f"| {name} | {c['n']} | {c['temperature']:.3f} | {c['ece_before']:.4f} | {c['ece_after']:.4f} |")
    lines += [""] + [f"![reliability {name}](reliability_{name}.png)" for name in calibration] + [""]
    with open(folder / "report.md", "a", encoding="utf-8") as f:
        f.write("\n".join(lines))
