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

from ..errors import InputError
from ..hub import MANIFEST, resolve
from ..modeling import TaskSpec, TextModel, read_manifest
from .config import TrainConfig
from .data import LabelledTexts, load_dataset, to_examples
from .loop import TaskData, Trainer, TrainResult


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
             on_event: Callable[[dict[str, Any]], None] | None = None, extra_manifest: dict | None = None) -> Path:
    """Fine-tune ``model`` on ``train`` and write a self-contained model folder at ``output``."""
    cfg = config or TrainConfig()
    output = Path(output)
    check_output(output, overwrite)
    data = prepare_task(task, train, eval_data, eval_split=eval_split, text_column=text_column,
                        label_column=label_column, head_type=head_type, label_names=label_names, seed=cfg.seed)
    net, tokenizer, base = load_body(model, [data.spec])
    trainer = Trainer(net, tokenizer, [data], cfg, progress=progress, on_event=on_event)
    result = trainer.fit()
    manifest = {"base_model": base, "max_length": cfg.max_length, **(extra_manifest or {})}
    save_run(net, tokenizer, output, manifest, cfg, result, overwrite=overwrite)
    return output


def check_output(output: Path, overwrite: bool) -> None:
    if (output / MANIFEST).exists() and not overwrite:
        raise InputError(f"{output} already holds a model; choose another --output or pass --overwrite.")
    if output.exists() and not output.is_dir():
        raise InputError(f"{output} is a file; --output must be a folder.")


def save_run(net: TextModel, tokenizer: Any, output: Path, manifest: dict[str, Any], cfg: TrainConfig,
             result: TrainResult, *, overwrite: bool) -> None:
    """Write the model folder atomically: a temp folder beside ``output``, renamed into place when complete."""
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}.tmp-"))
    try:
        net.save(tmp, manifest, tokenizer)
        (tmp / "run_config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
        metrics = {"best": result.best, "history": result.history, "steps": result.steps,
                   "train_seconds": round(result.train_seconds, 2),
                   "train_samples_per_second": round(result.samples_per_second, 2),
                   "stopped_early": result.stopped_early, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        if output.exists():
            if not overwrite and any(output.iterdir()):
                raise InputError(f"{output} is not empty; choose another --output or pass --overwrite.")
            shutil.rmtree(output)
        os.replace(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
