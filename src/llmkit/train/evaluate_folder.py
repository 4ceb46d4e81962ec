"""Re-score a saved model folder on labelled data, through the same pipeline users run."""
from __future__ import annotations

import json
from typing import Any

from ..errors import InputError
from ..hub import resolve
from .data import load_dataset, to_examples
from .evaluate import score


def _recorded_eval(folder, task: str) -> dict[str, Any]:
    """The test data (else the eval data) recorded at training time (and, for multi-task runs, that task's
    columns)."""
    run = folder / "run_config.json"
    if not run.exists():
        return {}
    cfg = json.loads(run.read_text())
    if "tasks" in cfg:  # multi-task runs record each task's data
        return next((t for t in cfg["tasks"] if t.get("name") == task), {})
    return {"eval": cfg.get("eval"), "test": cfg.get("test")}


def evaluate_folder(model: str, *, data: str | None = None, task: str | None = None, text_column: str = "text",
                    label_column: str = "label", engine: str = "auto") -> dict[str, Any]:
    from ..pipelines import pipeline

    ref = resolve(model)
    manifest = ref.manifest
    tasks = manifest.tasks if manifest else {}
    if not tasks:
        raise InputError(f"{ref.name} has no task heads to evaluate.")
    if task and task not in tasks:
        raise InputError(f"{ref.name} has no task {task!r}; its tasks: {', '.join(tasks)}.")
    results = {}
    for name in [task] if task else list(tasks):
        recorded = {} if data else _recorded_eval(ref.path, name)
        named = [s for s in (recorded.get("test"), recorded.get("eval")) if s and not str(s).startswith("<")]
        source = data or (named[0] if named else None)  # "<N records>": data that was passed in memory
        if source is None or str(source).startswith("<"):
            raise InputError(f"no evaluation data for task {name!r}: give --data FILE.")
        records = load_dataset(source, split="test")
        spec = tasks[name]
        examples, _ = to_examples(records, str(source), text_column=recorded.get("text_column", text_column),
                                  label_column=recorded.get("label_column", label_column),
                                  head_type=spec.type, labels=spec.labels if spec.type != "regression" else None)
        clf = pipeline("text-classification", model=ref, engine=engine, task=name)
        m = score(spec.type, clf.logits(examples.texts), examples.targets, spec.labels)
        results[name] = {"n": len(examples.texts), "data": str(source), "engine": clf.engine, **m}
    return results
