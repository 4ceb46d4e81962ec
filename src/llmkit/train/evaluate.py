"""Prediction and metrics for a TextModel head: accuracy, macro-F1 and per-class precision/recall/F1."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .data import bucketed_batches


def collate(ids: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad a batch to its own longest sequence (dynamic padding)."""
    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for row, seq in enumerate(ids):
        input_ids[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return input_ids, mask


def encode(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[list[int]]:
    return tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]


@torch.inference_mode()
def predict_logits(model: Any, ids: list[list[int]], task: str, pad_id: int, batch_size: int = 64) -> np.ndarray:
    """Logits for every sequence, in input order, batched by length."""
    was_training = model.training
    model.eval()
    out: list[np.ndarray | None] = [None] * len(ids)
    device = next(model.parameters()).device  # the model's own (--device): the batch goes there
    for batch in bucketed_batches([len(x) for x in ids], batch_size, shuffle=False):
        input_ids, mask = collate([ids[i] for i in batch], pad_id)
        logits = model(input_ids.to(device), mask.to(device), task).float().cpu().numpy()
        for i, row in zip(batch, logits):
            out[i] = row
    model.train(was_training)
    return np.stack(out) if out else np.zeros((0, 1))


def classification_report(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    k = len(labels)
    cm = np.zeros((k, k), dtype=int)
    for t, p in zip(y_true, y_pred):
        cm[t, p] += 1
    per_class = {}
    f1s = []
    for i, name in enumerate(labels):
        tp = cm[i, i]
        precision = tp / cm[:, i].sum() if cm[:, i].sum() else 0.0
        recall = tp / cm[i].sum() if cm[i].sum() else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        f1s.append(f1)
        per_class[name] = {"precision": float(precision), "recall": float(recall), "f1": float(f1), "support": int(cm[i].sum())}
    return {
        "accuracy": float((y_true == y_pred).mean()) if len(y_true) else 0.0,
        "macro_f1": float(np.mean(f1s)) if f1s else 0.0,
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
        "labels": list(labels),
    }


def score(head_type: str, logits: np.ndarray, targets: Sequence[Any], labels: Sequence[str]) -> dict[str, Any]:
    """Metrics for one head; ``metric`` is the number early stopping and reports use (higher is better)."""
    if head_type == "single_label":
        report = classification_report(list(targets), logits.argmax(-1).tolist(), labels)
        return {"metric": report["accuracy"], "metric_name": "accuracy", "n": len(targets), **report}
    if head_type == "multi_label":
        y = np.asarray(targets) > 0.5
        p = logits > 0
        tp, fp, fn = (y & p).sum(), (~y & p).sum(), (y & ~p).sum()
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
        return {"metric": float(f1), "metric_name": "micro_f1", "micro_f1": float(f1), "n": len(y),
                "exact_match": float((y == p).all(-1).mean())}
    y, p = np.asarray(targets, dtype=float), logits[:, 0]
    mse = float(((y - p) ** 2).mean())
    corr = float(np.corrcoef(y, p)[0, 1]) if len(y) > 1 and y.std() > 0 and p.std() > 0 else 0.0
    return {"metric": -mse, "metric_name": "neg_mse", "mse": mse, "pearson": corr, "n": len(y)}
