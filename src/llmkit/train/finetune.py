"""``finetune(...)``: pretrained body + task head, fine-tuned on labelled data, saved as a model folder.

>>> from llmkit.train.finetune import finetune
>>> out = finetune("all-minilm-l6-v2", "fine_food_reviews", output="runs/food",
...                config=TrainConfig(epochs=1))  # selects on 10% of train, tests on :test  # doctest: +SKIP
"""
from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import allocator
from ..errors import InputError
from ..hub import resolve
from ..manifest import Manifest
from ..modeling import TaskSpec, TextModel
from .config import TrainConfig
from .data import (DEFAULT_EVAL_SPLIT, LabelledTexts, check_selection_data, default_test, load_dataset, split_of,
                   to_examples)
from .output import check_output, finish_output, prepare_output, write_json
from .loop import TaskData, Trainer, TrainResult, seed_everything
from .methods import apply_method, finalize_method


def load_body(model: str | Path, tasks: list[TaskSpec], pooling: str | None = None) -> tuple[TextModel, Any, str]:
    """A TextModel whose body comes from a catalog name, hub id or folder; returns (model, tokenizer, base name)."""
    from transformers import AutoTokenizer

    ref = resolve(model)
    if ref.format not in ("transformers", "llmkit"):
        raise InputError(f"{ref.name!r} is a {ref.format} model; fine-tuning needs a transformers encoder "
                         "such as all-minilm-l6-v2.")
    manifest = ref.manifest if ref.format == "llmkit" else None
    base = (manifest.base_model if manifest else None) or ref.name
    pool = pooling or ref.entry.get("pooling", "mean")
    tokenizer = AutoTokenizer.from_pretrained(str(ref.path))
    return TextModel.from_body(ref.path, tasks, pool), tokenizer, base


def prepare_task(name: str, train: str | Path | list[dict], eval_data: str | Path | list[dict] | None = None, *,
                 eval_split: float | None = None, test_data: str | Path | list[dict] | None = None,
                 select_on_test: bool = False, text_column: str = "text", label_column: str = "label",
                 head_type: str = "single_label", label_names: dict[str, str] | None = None,
                 seed: int = 42, train_name: str = "data") -> TaskData:
    """Load, map and split one task's data. ``label_names`` renames raw labels (e.g. great -> POSITIVE);
    ``train_name`` names in-memory training records in messages and reports.

    Selection data (best checkpoint, early stopping): ``eval_data``, else ``eval_split`` (default 10%) of the
    training data held out with ``seed``. A test split as ``eval_data`` needs ``select_on_test``. ``test_data``
    (default: a built-in training set's test split) is scored once at the end."""
    check_selection_data(eval_data, select_on_test, "--select-on-test")
    if eval_split is not None and not 0 < eval_split < 1:
        raise InputError("--eval-split must be between 0 and 1 (e.g. 0.1).")
    records, where = _records(train, "train")
    where = train_name if isinstance(train, list) else where
    eval_records, eval_where = (_records(eval_data, "test") if eval_data is not None else (None, ""))
    if eval_records is None and len(records) > 1:
        share = eval_split or DEFAULT_EVAL_SPLIT
        records = list(records)
        random.Random(seed).shuffle(records)
        cut = max(1, int(len(records) * share))
        eval_records, records = records[:cut], records[cut:]
        eval_where = f"{where} ({cut} records held out: {share:g} of the training data, seed {seed})"
    test_data = test_data if test_data is not None else default_test(train)
    test_records, test_where = (_records(test_data, "test") if test_data is not None else (None, ""))

    def examples(rows: list[dict] | None, at: str, labels: list[str] | None = None) -> Any:
        if rows is None:
            return None, []
        if label_names:
            rows = [{**r, label_column: label_names.get(str(r.get(label_column)), r.get(label_column))} for r in rows]
        return to_examples(rows, at, text_column=text_column, label_column=label_column, head_type=head_type,
                           labels=labels)

    train_ex, labels = examples(records, where)
    known = labels if head_type != "regression" else None
    eval_ex, test_ex = examples(eval_records, eval_where, known)[0], examples(test_records, test_where, known)[0]
    return TaskData(TaskSpec(name, head_type, labels), train_ex, eval_ex, test=test_ex, eval_name=eval_where,
                    test_name=test_where, selected_on_test=split_of(eval_data, "test") == "test")


def _records(source: Any, split: str) -> tuple[list[dict], str]:
    if isinstance(source, list):
        return source, "data"
    return load_dataset(source, split=split), str(source)


def finetune(model: str | Path, train: Any, eval_data: Any = None, *, output: str | Path,
             config: TrainConfig | None = None, task: str = "default", eval_split: float | None = None,
             test_data: Any = None, select_on_test: bool = False,
             text_column: str = "text", label_column: str = "label", head_type: str = "single_label",
             label_names: dict[str, str] | None = None, overwrite: bool = False, progress: bool = True,
             on_event: Callable[[dict[str, Any]], None] | None = None, extra_manifest: dict | None = None,
             resume: bool = False) -> Path:
    """Fine-tune ``model`` on ``train`` and write a self-contained model folder at ``output``.

    The best weights and early stopping are chosen on ``eval_data`` (or ``eval_split`` of ``train``, see
    ``prepare_task``); ``test_data`` is scored once at the end. Everything is validated before anything in
    ``output`` changes; an old model there (``overwrite``) is replaced only once the new one is complete.
    Checkpoints go to the run folder's ``checkpoints/`` while training; ``resume=True`` continues from the newest
    one. The folder holds ``llmkit.json`` (what makes it a model) only once everything else is written."""
    cfg = config or TrainConfig()
    output = Path(output)
    check_output(output, overwrite, resume)
    test_data = test_data if test_data is not None else default_test(train)
    data = prepare_task(task, train, eval_data, eval_split=eval_split, test_data=test_data,
                        select_on_test=select_on_test, text_column=text_column, label_column=label_column,
                        head_type=head_type, label_names=label_names, seed=cfg.seed)
    seed_everything(cfg.seed)  # the heads' random init is part of the run: same seed, same model
    net, tokenizer, base = load_body(model, [data.spec])
    apply_method(net, cfg)
    trainer = Trainer(net, tokenizer, [data], cfg, progress=progress, on_event=on_event)
    run = prepare_output(output, overwrite=overwrite, resume=resume)
    write_json(run / "run_config.json", {"config": cfg.to_dict(), "model": str(model), "task": task,
                                          "head_type": head_type, "train": _describe(train),
                                          "eval": _describe(eval_data), "eval_split": eval_split,
                                          "test": _describe(test_data), "select_on_test": select_on_test,
                                          "allocator": allocator.active()})
    result = trainer.fit(run_dir=run, resume=resume)
    finalize_method(net)
    manifest = Manifest.from_dict({"base_model": base, "max_length": cfg.max_length, **(extra_manifest or {})},
                                  where="extra_manifest")
    save_run(net, tokenizer, run, manifest, cfg, result, [data])
    finish_output(run, output)
    return output


def _describe(source: Any) -> Any:
    return f"<{len(source)} records>" if isinstance(source, list) else (str(source) if source is not None else None)


def selection(tasks: list[TaskData]) -> dict[str, dict[str, Any]]:
    """Per task: the data the kept weights were chosen on and the test data, as the reports name them."""
    return {t.spec.name: {"eval": t.eval_name or None, "test": t.test_name or None,
                          "selected_on_test": t.selected_on_test} for t in tasks}


def save_run(net: TextModel, tokenizer: Any, output: Path, manifest: Manifest, cfg: TrainConfig,
             result: TrainResult, tasks: list[TaskData], report: Callable[..., None] | None = None) -> None:
    """Write the finished model into ``output``: every file renamed into place from a temp folder, the manifest
    last (a folder without ``llmkit.json`` never looks finished); then drop the checkpoints. ``report(folder, result,
    tasks)`` writes report.md (default: the single-run report; multi-task runs pass their comparison report)."""
    from .calibration import calibrate_run, write_calibration
    from .report import write_report

    output.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=output, prefix=".final-"))
    try:
        calibration = calibrate_run(net, tokenizer, tasks, cfg, manifest, tmp)  # stores T in the manifest
        net.save(tmp, manifest, tokenizer)
        metrics = {"best": result.best, "history": result.history, "steps": result.steps,
                   "train_seconds": round(result.train_seconds, 2),
                   "train_samples_per_second": round(result.samples_per_second, 2),
                   "stopped_early": result.stopped_early, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
                   "selection": selection(tasks), "test": result.test}
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        (report or write_report)(tmp, result, tasks)
        write_calibration(tmp, calibration)
        files = sorted(tmp.iterdir(), key=lambda f: f.name == Manifest.FILE)  # the manifest goes last
        for f in files:
            target = output / f.name
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(f, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(output / "checkpoints", ignore_errors=True)
