"""``finetune(...)``: pretrained body + task head, fine-tuned on labelled data, saved as a model folder.

Fine-tuning is a one-task run of the one training runner (runner.py), the same code ``multitask`` runs.

>>> from llmkit.train.finetune import finetune
>>> out = finetune("all-minilm-l6-v2", "fine_food_reviews", output="runs/food",
...                config=TrainConfig(epochs=1))  # selects on 10% of train, tests on :test  # doctest: +SKIP
>>> out = finetune(config="run.yaml")           # the keys of `llmkit finetune --config`  # doctest: +SKIP
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..textio import load_yaml
from .config import TrainConfig
from .data import check_selection_data
from .mtl_config import MultitaskConfig, TaskConfig
from .output import default_output
from .runner import run_tasks

# what a finetune config (`llmkit finetune --config run.yaml`, or a dict) may hold besides TrainConfig's fields
RUN_KEYS = ("model", "train", "eval", "eval_split", "test", "select_on_test", "text_column", "label_column", "head",
            "task", "output", "resume", "overwrite")


def finetune(model: str | Path | None = None, train: Any = None, eval_data: Any = None, *,
             config: TrainConfig | dict | str | Path | None = None, output: str | Path | None = None,
             task: str | None = None, eval_split: float | None = None, test_data: Any = None,
             select_on_test: bool | None = None, text_column: str | None = None, label_column: str | None = None,
             head_type: str | None = None, label_names: dict[str, str] | None = None, overwrite: bool | None = None,
             resume: bool | None = None, progress: bool = True,
             on_event: Callable[[dict[str, Any]], None] | None = None, extra_manifest: dict | None = None) -> Path:
    """Fine-tune ``model`` (default all-minilm-l6-v2) on ``train`` and write a self-contained model folder at
    ``output`` (default ``runs/finetune-<time>``, as the CLI); returns the folder.

    ``config``: a TrainConfig, or what ``llmkit finetune --config`` takes: a YAML file or a dict with training
    options and the run's keys (``RUN_KEYS``: model, train, eval, test, head, output, ...). Arguments given here
    win over the config, as flags do. The best weights and early stopping are chosen on ``eval_data`` (or
    ``eval_split`` of ``train``, default 10%); ``test_data`` (default: a built-in set's test split) is scored once
    at the end. Everything is validated before anything in ``output`` changes; an old model there
    (``overwrite``) is replaced only once the new one is complete. ``resume=True`` continues from the newest
    checkpoint of an interrupted run."""
    options = _options(config)
    given = {"model": model, "train": train, "eval": eval_data, "output": output, "task": task,
             "eval_split": eval_split, "test": test_data, "select_on_test": select_on_test,
             "text_column": text_column, "label_column": label_column, "head": head_type, "overwrite": overwrite,
             "resume": resume}
    options.update({k: v for k, v in given.items() if v is not None})
    train_keys = {f.name for f in fields(TrainConfig)}
    cfg = TrainConfig.from_dict({k: v for k, v in options.items() if k in train_keys})
    if options.get("train") in (None, "", []):
        raise InputError("no training data: give --train FILE (or a built-in name like fine_food_reviews).")
    select = bool(options.get("select_on_test"))
    check_selection_data(options.get("eval"), select, "--select-on-test")
    one = TaskConfig(name=options.get("task") or "default", train=options["train"], eval=options.get("eval"),
                     eval_split=options.get("eval_split"), test=options.get("test"), select_on_test=select,
                     text_column=options.get("text_column") or "text",
                     label_column=options.get("label_column") or "label",
                     head=options.get("head") or "single_label", label_names=label_names)
    run = MultitaskConfig(tasks=[one], model=str(options.get("model") or "all-minilm-l6-v2"), train=cfg)
    return run_tasks(run, output=Path(options.get("output") or default_output("finetune")),
                     overwrite=bool(options.get("overwrite")), resume=bool(options.get("resume")),
                     progress=progress, on_event=on_event, manifest=extra_manifest, kind="finetune")


def _options(config: Any) -> dict[str, Any]:
    """The config as flat options: a TrainConfig's fields, or a YAML file's / dict's keys, checked."""
    if config is None:
        return {}
    if isinstance(config, TrainConfig):
        return config.to_dict()
    where = str(config) if isinstance(config, (str, Path)) else "config"
    values = load_yaml(config) if isinstance(config, (str, Path)) else config
    if not isinstance(values, dict):
        raise InputError("config: give a TrainConfig, a dict of options or a YAML file's path.")
    values = {str(k).replace("-", "_"): v for k, v in values.items()}
    known = {f.name for f in fields(TrainConfig)} | set(RUN_KEYS)
    unknown = sorted(set(values) - known)
    if unknown:
        raise InputError(f"{where}: unknown option(s) {unknown}; known: {sorted(known)}.")
    return values
