"""The ``classify`` suite: accuracy and macro-F1 of a classifier (a catalog model or a fine-tuned folder) on
labelled data: a built-in dataset (``fine_food_reviews``, ``fortune_topics``, ``austen_novels``; their test
split unless ``:train`` is named) or a CSV/JSONL file with ``text`` and ``label``.

>>> from llmkit.evals import run_suite
>>> run_suite("sentiment", "classify", data="fine_food_reviews:test", limit=200).metrics
{'accuracy': 0.85..., 'macro_f1': 0.85...}
"""
from __future__ import annotations

from typing import Any, Callable

from ..errors import InputError
from .results import SuiteResult

DESCRIPTION = "accuracy and macro-F1 of a classifier on a built-in dataset or a text,label file (--data)"
DEFAULT_DATA = "fine_food_reviews:test"  # the built-in sentiment model's own test split


def run(model: str, options: Any, progress: Callable[[int, int, str], None]) -> SuiteResult:
    from ..pipelines import pipeline
    from ..train.data import load_dataset, subset, to_examples
    from ..train.evaluate import classification_report
    from ..train.recipes import SENTIMENT_LABELS

    source = options.data or DEFAULT_DATA
    records = subset(load_dataset(source, split="test"), options.limit, seed=options.seed)
    if not records:
        raise InputError(f"{source}: no records to score; give --data with text,label rows.")
    clf = pipeline("text-classification", model=model, task=options.task)
    if clf.head_type != "single_label":
        raise InputError(f"the classify suite scores single-label heads; {model} task {clf.task!r} is {clf.head_type}.")
    labels = list(clf.labels)
    seen = {str(r.get("label")) for r in records}
    if not seen <= set(labels) and seen <= set(SENTIMENT_LABELS) and set(SENTIMENT_LABELS.values()) <= set(labels):
        # the built-in sentiment model was trained on fine_food_reviews with its labels renamed (train/recipes.py)
        records = [{**r, "label": SENTIMENT_LABELS[str(r["label"])]} for r in records]
        seen = {SENTIMENT_LABELS[x] for x in seen}
    given = sorted(seen - set(labels))
    if given:
        raise InputError(f"{source}: labels {given} are not among the model's labels {labels}; give --data "
                         "labelled with the model's labels (or --task for another head).")
    examples, _ = to_examples(records, str(source), labels=labels)
    predicted = clf.logits(examples.texts).argmax(-1).tolist()
    report = classification_report(examples.targets, predicted, labels)
    items = [{"id": i, "text": t[:200], "label": labels[y], "predicted": labels[p], "correct": y == p}
             for i, (t, y, p) in enumerate(zip(examples.texts, examples.targets, predicted))]
    progress(len(items), len(items), f"accuracy {report['accuracy']:.4f}")
    metrics = {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"]}
    return SuiteResult(model=model, suite="classify", primary="accuracy", metrics=metrics, n=len(items),
                       items=items, options={"data": str(source), "task": options.task, "limit": options.limit,
                                             "per_class": report["per_class"]})
