"""``finetune(...)``: pretrained body + task head, fine-tuned on labelled data, saved as a model folder.

>>> from llmkit.train.finetune import finetune
>>> out = finetune("all-minilm-l6-v2", "fine_food_reviews", eval_data="fine_food_reviews:test",
...                output="runs/food", config=TrainConfig(epochs=1))           # doctest: +SKIP
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
from ..hub import MANIFEST, resolve
from ..modeling import TaskSpec, TextModel, read_manifest
from .config import TrainConfig
from .data import LabelledTexts, load_dataset, to_examples
from .checkpoint import latest_checkpoint
from .loop import TaskData, Trainer, TrainResult, seed_everything
from .methods import apply_method, finalize_method


def load_body(model: str | Path, tasks: list[TaskSpec], pooling: str | None = None) -> tuple[TextModel, Any, str]:
    """A TextModel whose body comes from a catalog name, hub id or folder; returns (model, tokenizer, base name)."""
    from transformers import AutoTokenizer

    ref = resolve(model)
    if ref.format not in ("transformers", "llmkit"):
        raise InputError(f"{ref.name!r} is a {ref.format} model; fine-tuning needs a transformers encoder "
                         "such as all-minilm-l6-v2.")
    base = ref.name
    if ref.format == "llmkit":
        base = read_manifest(ref.path).get("base_model", ref.name)
    pool = pooling or ref.entry.get("pooling", "mean")
    tokenizer = AutoTokenizer.from_pretrained(str(ref.path))
    return TextModel.from_body(ref.path, tasks, pool), tokenizer, base


def prepare_task(name: str, train: str | Path | list[dict], eval_data: str | Path | list[dict] | None = None, *,
                 eval_split: float | None = None, text_column: str = "text", label_column: str = "label",
                 head_type: str = "single_label", label_names: dict[str, str] | None = None,
                 seed: int = 42) -> TaskData:
    """Load, map and split one task's data. ``label_names`` renames raw labels (e.g. great -> POSITIVE)."""
    records, where = _records(train, "train")
    eval_records, eval_where = (_records(eval_data, "test") if eval_data is not None else (None, ""))
    if eval_records is None and eval_split:
        if not 0 < eval_split < 1:
            raise InputError("--eval-split must be between 0 and 1 (e.g. 0.1).")
        records = list(records)
        random.Random(seed).shuffle(records)
        cut = max(1, int(len(records) * eval_split))
        eval_records, records, eval_where = records[:cut], records[cut:], f"{where} (eval split)"
    if label_names:
        records = [{**r, label_column: label_names.get(str(r.get(label_column)), r.get(label_column))} for r in records]
        if eval_records:
            eval_records = [{**r, label_column: label_names.get(str(r.get(label_column)), r.get(label_column))}
                            for r in eval_records]
    train_ex, labels = to_examples(records, where, text_column=text_column, label_column=label_column,
                                   head_type=head_type)
    eval_ex = None
    if eval_records is not None:
        eval_ex, _ = to_examples(eval_records, eval_where, text_column=text_column, label_column=label_column,
                                 head_type=head_type, labels=labels if head_type != "regression" else None)
    return TaskData(TaskSpec(name, head_type, labels), train_ex, eval_ex)


def _records(source: Any, split: str) -> tuple[list[dict], str]:
    if isinstance(source, list):
        return source, "data"
    return load_dataset(source, split=split), str(source)


def finetune(model: str | Path, train: Any, eval_data: Any = None, *, output: str | Path,
             config: TrainConfig | None = None, task: str = "default", eval_split: float | None = None,
             text_column: str = "text", label_column: str = "label", head_type: str = "single_label",
             label_names: dict[str, str] | None = None, overwrite: bool = False, progress: bool = True,
             on_event: Callable[[dict[str, Any]], None] | None = None, extra_manifest: dict | None = None,
             resume: bool = False) -> Path:
    """Fine-tune ``model`` on ``train`` and write a self-contained model folder at ``output``.

    Checkpoints go to ``output/checkpoints`` while training; ``resume=True`` continues from the newest one.
    The folder holds ``llmkit.json`` (what makes it a model) only once everything else is written."""
    cfg = config or TrainConfig()
    output = Path(output)
    check_output(output, overwrite)
    prepare_output(output, overwrite=overwrite, resume=resume)
    data = prepare_task(task, train, eval_data, eval_split=eval_split, text_column=text_column,
                        label_column=label_column, head_type=head_type, label_names=label_names, seed=cfg.seed)
    seed_everything(cfg.seed)  # the heads' random init is part of the run: same seed, same model
    net, tokenizer, base = load_body(model, [data.spec])
    apply_method(net, cfg)
    trainer = Trainer(net, tokenizer, [data], cfg, progress=progress, on_event=on_event)
    _write_json(output / "run_config.json", {"config": cfg.to_dict(), "model": str(model), "task": task,
                                              "head_type": head_type, "train": _describe(train),
                                              "eval": _describe(eval_data), "eval_split": eval_split,
                                              "allocator": allocator.active()})
    result = trainer.fit(run_dir=output, resume=resume)
    finalize_method(net)
    manifest = {"base_model": base, "max_length": cfg.max_length, **(extra_manifest or {})}
    save_run(net, tokenizer, output, manifest, cfg, result, [data])
    return output


def prepare_output(output: Path, *, overwrite: bool, resume: bool) -> None:
    """Refuse to clobber an interrupted run by accident; clear an old model only when asked to."""
    has_checkpoint = latest_checkpoint(output) is not None
    if resume and not has_checkpoint:
        raise InputError(f"--resume: {output} has no checkpoint to resume from; start without --resume.")
    if has_checkpoint and not resume and not overwrite:
        raise InputError(f"{output} holds an interrupted run; continue it with --resume, or pass --overwrite.")
    if overwrite and not resume:
        (output / MANIFEST).unlink(missing_ok=True)  # from now on the folder no longer looks finished
        shutil.rmtree(output / "checkpoints", ignore_errors=True)


def check_output(output: Path, overwrite: bool) -> None:
    if (output / MANIFEST).exists() and not overwrite:
        raise InputError(f"{output} already holds a model; choose another --output or pass --overwrite.")
    if output.exists() and not output.is_dir():
        raise InputError(f"{output} is a file; --output must be a folder.")


def _describe(source: Any) -> Any:
    return f"<{len(source)} records>" if isinstance(source, list) else (str(source) if source is not None else None)


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)


def save_run(net: TextModel, tokenizer: Any, output: Path, manifest: dict[str, Any], cfg: TrainConfig,
             result: TrainResult, tasks: list[TaskData], report: Callable[..., None] | None = None) -> None:
    """Write the finished model into ``output``: every file renamed into place from a temp folder, the manifest
    last (a folder without ``llmkit.json`` never looks finished); then drop the checkpoints. ``report(folder, result,
    tasks)`` writes report.md (default: the single-run report; multi-task runs pass their comparison report)."""
    from .report import write_report

    output.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=output, prefix=".final-"))
    try:
        net.save(tmp, manifest, tokenizer)
        metrics = {"best": result.best, "history": result.history, "steps": result.steps,
                   "train_seconds": round(result.train_seconds, 2),
                   "train_samples_per_second": round(result.samples_per_second, 2),
                   "stopped_early": result.stopped_early, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        (report or write_report)(tmp, result, tasks)
        files = sorted(tmp.iterdir(), key=lambda f: f.name == MANIFEST)  # the manifest goes last
        for f in files:
            target = output / f.name
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(f, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(output / "checkpoints", ignore_errors=True)
