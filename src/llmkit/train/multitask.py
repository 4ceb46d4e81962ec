"""``multitask(...)``: one shared body, one head per task, trained jointly with the same loop as ``finetune``.

>>> from llmkit.train.multitask import multitask
>>> out = multitask("tasks.yaml", output="runs/multi", baselines=True)         # doctest: +SKIP

What is multi-task here, and nothing else: a task sampler (sampling.py) decides which tasks each step sees, a
weighting strategy (weighting/) does the backward pass, a mixer (mtl_arch.py) may sit between body and heads.
Checkpoints, resume, early stopping, evaluation and saving are the Trainer's and ``save_run``'s, shared with
single-task fine-tuning. With ``baselines=True`` every task is first trained alone (same body, same training
options, same number of examples per task) and the report compares each single model with the joint one.

Layout of the output folder: the model (body, ``heads.safetensors``, tokenizer, ``llmkit.json``, written last),
``run_config.json``, ``metrics.json``, ``report.md`` + plots, and ``baselines/<task>/result.json``.
"""
from __future__ import annotations

import functools
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import allocator
from ..errors import InputError
from ..manifest import Manifest
from ..textio import load_yaml
from .checkpoint import latest_checkpoint
from .data import load_dataset, subset
from .finetune import load_body, prepare_task, save_run
from .output import check_output, finish_output, prepare_output, write_json
from .loop import TaskData, Trainer, seed_everything
from .methods import apply_method, finalize_method
from .mtl_config import MultitaskConfig, TaskConfig
from .sampling import TaskSampler
from .weighting import make_weighting


def multitask(config: MultitaskConfig | dict | str | Path, *, output: str | Path, baselines: bool = False,
              overwrite: bool = False, resume: bool = False, progress: bool = True,
              on_event: Callable[[dict[str, Any]], None] | None = None,
              extra_manifest: dict[str, Any] | None = None) -> Path:
    """Train one model on every task of ``config`` (a MultitaskConfig, a dict, or a YAML file) into ``output``.

    Tasks marked ``auxiliary`` are trained with the others to help the shared body, but the best weights are
    chosen on the other tasks alone and their heads are not saved."""
    cfg = _as_config(config)
    output = Path(output)
    check_output(output, overwrite, resume)
    data = [load_task(t, cfg.train.seed) for t in cfg.tasks]
    _check_heads_against_base(cfg)
    run = prepare_output(output, overwrite=overwrite, resume=resume, parts=("baselines",))
    write_json(run / "run_config.json", {
        "config": cfg.train.to_dict(), "multitask": cfg.to_dict(), "model": cfg.model,
        "tasks": [{"name": t.name, "head": t.head, "train": _describe(t.train), "eval": _describe(t.eval),
                   "test": _describe(t.test), "select_on_test": t.select_on_test,
                   "text_column": t.text_column, "label_column": t.label_column} for t in cfg.tasks],
        "allocator": allocator.active()})
    singles = train_baselines(cfg, data, run, progress, on_event) if baselines else {}
    net, tokenizer, base, result, weights = _train_joint(cfg, data, run, progress, on_event)
    auxiliary = [t.name for t in cfg.tasks if t.auxiliary]
    net.drop_tasks(auxiliary)  # helped train the body; the folder serves the other tasks only
    joint = {"params": sum(p.numel() for p in net.parameters()), "train_seconds": result.train_seconds}
    from .mtl_report import write_mtl_report

    report = functools.partial(write_mtl_report, cfg=cfg, joint=joint, singles=singles, weights=weights)
    manifest = Manifest.from_dict({
        "base_model": base, "max_length": cfg.train.max_length,
        "description": "multi-task: " + ", ".join(t.name for t in cfg.tasks if not t.auxiliary)
        + (f" (auxiliary in training: {', '.join(auxiliary)})" if auxiliary else ""),
        **(extra_manifest or {})}, where="extra_manifest")
    save_run(net, tokenizer, run, manifest, cfg.train, result, data, report=report)
    finish_output(run, output)
    return output


def _as_config(config: Any) -> MultitaskConfig:
    if isinstance(config, MultitaskConfig):
        return config
    if isinstance(config, (str, Path)):
        config = load_yaml(str(config))
    return MultitaskConfig.from_dict(dict(config))


def load_task(t: TaskConfig, seed: int) -> TaskData:
    """One task's data, with a fixed random subset when ``limit`` / ``eval_limit`` are set; errors name the task."""
    try:
        train = subset(_records(t.train, "train"), t.limit, seed, t.label_column)
        evals = subset(_records(t.eval, "test"), t.eval_limit, seed, t.label_column) if t.eval is not None else None
        tests = subset(_records(t.test, "test"), t.test_limit, seed, t.label_column) if t.test is not None else None
        data = prepare_task(t.name, train, evals, eval_split=t.eval_split, test_data=tests, train_name=_describe(t.train),
                            text_column=t.text_column, label_column=t.label_column, head_type=t.head,
                            label_names=t.label_names, seed=seed)
    except InputError as e:
        raise InputError(f"task {t.name!r}: {e}") from None
    data.metric, data.auxiliary, data.selected_on_test = t.metric, t.auxiliary, t.select_on_test and t.eval is not None
    if t.eval is not None:  # the records came in as lists: name them as the user did
        data.eval_name = _named(t.eval, t.eval_limit, len(data.eval.texts))
    if t.test is not None:
        data.test_name = _named(t.test, t.test_limit, len(data.test.texts))
    return data


def _named(source: Any, limit: int | None, n: int) -> str:
    return f"{_describe(source)}" + (f" ({n} records, a fixed subset)" if limit and limit <= n else "")


def _records(source: Any, split: str) -> list[dict]:
    records = source if isinstance(source, list) else load_dataset(source, split=split)
    if not records:
        raise InputError(f"{_describe(source)}: no records; the data is empty.")
    return records


def _check_heads_against_base(cfg: MultitaskConfig) -> None:
    """Continuing from an llmkit folder: a task it already has must keep its head type."""
    from ..hub import resolve

    ref = resolve(cfg.model)
    if ref.format != "llmkit":
        return
    manifest = ref.manifest
    existing = manifest.tasks if manifest else {}
    for t in cfg.tasks:
        if t.name in existing and existing[t.name].type != t.head:
            raise InputError(f"task {t.name!r} is a {existing[t.name].type} head in {cfg.model} but {t.head} "
                             "in the config; use the same head type or another task name.")


def _describe(source: Any) -> Any:
    return f"<{len(source)} records>" if isinstance(source, list) else source


def build_trainer(cfg: MultitaskConfig, data: list[TaskData], progress: bool, on_event) -> tuple[Trainer, Any, str]:
    seed_everything(cfg.train.seed)  # the heads' (and mixer's) random init is part of the run
    arch = {"type": cfg.architecture, "experts": cfg.experts}
    net, tokenizer, base = load_body(cfg.model, [d.spec for d in data])
    if cfg.architecture != "hard":
        from ..mtl_arch import build_mixer

        net.mixer = build_mixer(arch, net.body.config.hidden_size, [d.spec.name for d in data])
    apply_method(net, cfg.train)
    names = [d.spec.name for d in data]
    options = dict(cfg.weighting_options)
    sampler_probe = TaskSampler(cfg.sampler, cfg.temperature, 1, tuple(len(d.train.texts) for d in data),
                                cfg.train.batch_size)
    if cfg.weighting == "dwa":  # DWA compares windows of steps; default: a tenth of an epoch
        options.setdefault("period", max(1, sampler_probe.steps_per_epoch // 10))
    weighting = TracedWeighting(make_weighting(cfg.weighting, names, **options))
    k = cfg.steps_tasks(getattr(weighting.inner, "needs_all_tasks", False))
    sampler = TaskSampler(cfg.sampler, cfg.temperature, k, sampler_probe.sizes, cfg.train.batch_size)
    trainer = Trainer(net, tokenizer, data, cfg.train, sampler=sampler, steps_per_epoch=sampler.steps_per_epoch,
                      weighting=weighting, progress=progress, on_event=on_event)
    return trainer, tokenizer, base


def _train_joint(cfg, data, output, progress, on_event):
    trainer, tokenizer, base = build_trainer(cfg, data, progress, on_event)
    if on_event:
        on_event({"event": "joint"})
    result = trainer.fit(run_dir=output, resume=latest_checkpoint(output) is not None)
    finalize_method(trainer.model)
    return trainer.model, tokenizer, base, result, trainer.weighting.trace


def train_baselines(cfg: MultitaskConfig, data: list[TaskData], output: Path, progress: bool,
                    on_event) -> dict[str, dict[str, Any]]:
    """Each task alone: same body, same TrainConfig, its own data once per epoch (what it gets in the mixture).
    A finished baseline's result.json is reused on --resume; an interrupted one resumes from its checkpoint."""
    results = {}
    for task in data:
        folder = output / "baselines" / task.spec.name
        done = folder / "result.json"
        if done.exists():
            results[task.spec.name] = json.loads(done.read_text())
            continue
        seed_everything(cfg.train.seed)
        net, tokenizer, _ = load_body(cfg.model, [task.spec])
        apply_method(net, cfg.train)
        trainer = Trainer(net, tokenizer, [task], cfg.train, progress=progress, on_event=on_event)
        if on_event:
            on_event({"event": "baseline", "task": task.spec.name})
        res = trainer.fit(run_dir=folder, resume=latest_checkpoint(folder) is not None)
        best = res.best.get("tasks", {}).get(task.spec.name, {})
        results[task.spec.name] = {
            "metric": best.get("metric"), "metric_name": best.get("metric_name"), "steps": res.steps,
            "train_seconds": round(res.train_seconds, 2), "params": sum(p.numel() for p in net.parameters()),
            "best": {k: v for k, v in best.items() if isinstance(v, (int, float, str))},
            "test": {k: v for k, v in res.test.get(task.spec.name, {}).items() if isinstance(v, (int, float, str))}}
        write_json(done, results[task.spec.name])
        shutil.rmtree(folder / "checkpoints", ignore_errors=True)
    return results


class TracedWeighting:
    """Wraps a strategy to record the task weights it used (for the report's plot); checkpoints both."""

    def __init__(self, inner: Any):
        self.inner, self.trace = inner, []

    def __call__(self, losses, model):
        weights = self.inner(losses, model)
        self.trace.append({k: round(float(v), 5) for k, v in weights.items()})
        return weights

    def state_dict(self) -> dict[str, Any]:
        inner = self.inner.state_dict() if hasattr(self.inner, "state_dict") else None
        return {"inner": inner, "trace": self.trace}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("inner") is not None:
            self.inner.load_state_dict(state["inner"])
        self.trace = state.get("trace", [])
