"""``multitask(...)``: one shared body, one head per task, trained jointly by the one runner (runner.py).

>>> from llmkit.train.multitask import multitask
>>> out = multitask("tasks.yaml", output="runs/multi", baselines=True)         # doctest: +SKIP

What is multi-task here, and nothing else: a task sampler (sampling.py) decides which tasks each step sees, a
weighting strategy (weighting/) does the backward pass, a mixer (mtl_arch.py) may sit between body and heads.
Checkpoints, resume, early stopping, evaluation and saving are the runner's, shared with fine-tuning (a one-task
run). With ``baselines=True`` every task is first trained alone (same body, same training options, same number
of examples per task) and the report compares each single model with the joint one.

Layout of the output folder: the model (body, ``heads.safetensors``, tokenizer, ``llmkit.json``, written last),
``run_config.json``, ``metrics.json``, ``report.md`` + plots, and ``baselines/<task>/result.json``.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..textio import load_yaml
from .mtl_config import MultitaskConfig
from .output import default_output
from .runner import run_tasks


def multitask(config: MultitaskConfig | dict | str | Path, *, output: str | Path | None = None,
              baselines: bool = False, overwrite: bool = False, resume: bool = False, progress: bool = True,
              on_event: Callable[[dict[str, Any]], None] | None = None,
              extra_manifest: dict[str, Any] | None = None) -> Path:
    """Train one model on every task of ``config`` (a MultitaskConfig, a dict, or a YAML file) into ``output``
    (default: ``runs/multitask-<time>``, as the CLI).

    Tasks marked ``auxiliary`` are trained with the others to help the shared body, but the best weights are
    chosen on the other tasks alone and their heads are not saved."""
    cfg = as_config(config)
    auxiliary = [t.name for t in cfg.tasks if t.auxiliary]
    description = ("multi-task: " + ", ".join(t.name for t in cfg.tasks if not t.auxiliary)
                   + (f" (auxiliary in training: {', '.join(auxiliary)})" if auxiliary else ""))
    return run_tasks(cfg, output=Path(output or default_output("multitask")), baselines=baselines,
                     overwrite=overwrite, resume=resume, progress=progress, on_event=on_event,
                     manifest={"description": description, **(extra_manifest or {})})


def as_config(config: Any) -> MultitaskConfig:
    if isinstance(config, MultitaskConfig):
        return config
    if isinstance(config, (str, Path)):
        config = load_yaml(str(config))
    return MultitaskConfig.from_dict(dict(config))
