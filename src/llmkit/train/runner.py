"""The one training runner: ``finetune`` (one task) and ``multitask`` (several) both end here.

>>> from llmkit.train.runner import run_tasks
>>> run_tasks(MultitaskConfig.from_dict({"tasks": [{"name": "sentiment", "train": "fine_food_reviews"}]}),
...           output=Path("runs/food"))                                          # doctest: +SKIP

Order, so that nothing in the output folder changes before everything is validated: the options (already typed),
the data of every task, the body model; then the folder (output.py), run_config.json, the optional single-task
baselines, the run itself (one Trainer: a task sampler, a weighting strategy, a mixer for soft sharing), and the
finished model with its manifest last (``save_run``), swapped into place at the very end (``finish_output``).
A one-task run is plain fine-tuning: one pass over the data per epoch, equal weights, hard sharing.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import allocator
from ..errors import InputError
from ..hub import resolve
from ..manifest import Manifest
from ..modeling import TaskSpec, TextModel
from . import distributed as dist
from .checkpoint import latest_checkpoint, saved_world
from .loop import TaskData, Trainer, seed_everything
from .calibration import check_calibration
from .methods import apply_method, finalize_method
from .mtl_config import MultitaskConfig, TaskConfig
from .output import check_output, finish_output, prepare_output, run_folder, save_run, write_json
from .sampling import TaskSampler
from .task_data import describe, load_task
from .weighting import make_weighting


def run_tasks(cfg: MultitaskConfig, *, output: Path, baselines: bool = False, overwrite: bool = False,
              resume: bool = False, progress: bool = True, on_event: Callable[[dict[str, Any]], None] | None = None,
              manifest: dict[str, Any] | None = None, kind: str = "multitask") -> Path:
    """Train one model on every task of ``cfg`` into ``output`` and return it. ``manifest``: extra manifest fields
    (description, recipe...). ``kind`` changes only how the run presents itself: "multitask" (errors name the task,
    the comparison report) or "finetune" (one task, the single-run report).

    Tasks marked ``auxiliary`` are trained with the others to help the shared body, but the best weights are
    chosen on the other tasks alone and their heads are not saved."""
    check_output(output, overwrite, resume)
    data = [load_task(t, cfg.train.seed, name_errors=kind == "multitask") for t in cfg.tasks]
    check_base(cfg)
    check_calibration(data, cfg.train)  # a too-small validation split for --calibrate: before the folder is made
    if resume and (ckpt := latest_checkpoint(run_folder(output))) is not None:
        dist.check_world(saved_world(ckpt), f"the checkpoint in {output}")
    if dist.is_main():  # under torchrun, rank 0 alone writes the folder; the others wait until it is ready
        prepare_output(output, overwrite=overwrite, resume=resume, parts=("baselines",))
    dist.setup(dist.resolve_device(cfg.train.device))
    dist.barrier()
    run = run_folder(output)
    write_main(run / "run_config.json", {
        "config": cfg.train.to_dict(), "multitask": cfg.to_dict(), "model": cfg.model,
        "tasks": [{"name": t.name, "head": t.head, "train": describe(t.train), "eval": describe(t.eval),
                   "test": describe(t.test), "select_on_test": t.select_on_test,
                   "text_column": t.text_column, "label_column": t.label_column} for t in cfg.tasks],
        "allocator": allocator.active()})
    singles = train_baselines(cfg, data, run, progress, on_event) if baselines else {}
    trainer, tokenizer, base = build_trainer(cfg, data, progress, on_event)
    if on_event and kind == "multitask":
        on_event({"event": "joint"})
    result = trainer.fit(run_dir=run, resume=latest_checkpoint(run) is not None)
    net = trainer.model.to("cpu")  # saved and calibrated on the CPU, whatever --device trained it
    if not dist.is_main():
        dist.barrier()  # rank 0 writes the model
        return output
    finalize_method(net)
    net.drop_tasks([t.name for t in cfg.tasks if t.auxiliary])  # helped train the body; not served
    write = None
    if kind == "multitask":
        from .mtl_report import write_mtl_report

        joint = {"params": sum(p.numel() for p in net.parameters()), "train_seconds": result.train_seconds}
        write = functools.partial(write_mtl_report, cfg=cfg, joint=joint, singles=singles,
                                  weights=trainer.weighting.trace)
    fields = Manifest.from_dict({"base_model": base, "max_length": cfg.train.max_length, **(manifest or {})},
                                where="extra_manifest")
    save_run(net, tokenizer, run, fields, result, data, report=write, cfg=cfg.train)
    finish_output(run, output)
    dist.barrier()
    return output


def write_main(path: Path, obj: Any) -> None:
    """write_json on rank 0 only (every rank in one process)."""
    if dist.is_main():
        write_json(path, obj)


def body_ref(model: str | Path) -> Any:
    """The resolved body model; only a transformers encoder (or an llmkit folder of one) can be fine-tuned."""
    ref = resolve(model)
    if ref.format not in ("transformers", "llmkit"):
        raise InputError(f"{ref.name!r} is a {ref.format} model; fine-tuning needs a transformers encoder "
                         "such as all-minilm-l6-v2.")
    return ref


def load_body(model: str | Path, tasks: list[TaskSpec], pooling: str | None = None,
              architecture: dict[str, Any] | None = None) -> tuple[TextModel, Any, str]:
    """A TextModel whose body comes from a catalog name, hub id or folder, with fresh heads for ``tasks`` (and the
    mixer ``architecture`` names); returns (model, tokenizer, base name)."""
    from transformers import AutoTokenizer

    ref = body_ref(model)
    manifest = ref.manifest if ref.format == "llmkit" else None
    base = (manifest.base_model if manifest else None) or ref.name
    pool = pooling or ref.entry.get("pooling", "mean")
    tokenizer = AutoTokenizer.from_pretrained(str(ref.path))
    return TextModel.from_body(ref.path, tasks, pool, architecture), tokenizer, base


def check_base(cfg: MultitaskConfig) -> None:
    """Before the folder changes: the body can be fine-tuned, and continuing from an llmkit folder, a task it
    already has keeps its head type."""
    ref = body_ref(cfg.model)
    existing = ref.manifest.tasks if ref.format == "llmkit" and ref.manifest else {}
    for t in cfg.tasks:
        if t.name in existing and existing[t.name].type != t.head:
            raise InputError(f"task {t.name!r} is a {existing[t.name].type} head in {cfg.model} but {t.head} "
                             "in the config; use the same head type or another task name.")


def build_trainer(cfg: MultitaskConfig, data: list[TaskData], progress: bool, on_event) -> tuple[Trainer, Any, str]:
    seed_everything(cfg.train.seed)  # the heads' (and mixer's) random init is part of the run
    net, tokenizer, base = load_body(cfg.model, [d.spec for d in data],
                                     architecture={"type": cfg.architecture, "experts": cfg.experts})
    apply_method(net, cfg.train)
    names = [d.spec.name for d in data]
    options = dict(cfg.weighting_options)
    sizes = tuple(len(d.train.texts) for d in data)
    if cfg.weighting == "dwa":  # DWA compares windows of steps; default: a tenth of an epoch
        probe = TaskSampler(cfg.sampler, cfg.temperature, 1, sizes, cfg.train.batch_size)
        options.setdefault("period", max(1, probe.steps_per_epoch // 10))
    weighting = TracedWeighting(make_weighting(cfg.weighting, names, **options))
    k = cfg.steps_tasks(getattr(weighting.inner, "needs_all_tasks", False))
    sampler = TaskSampler(cfg.sampler, cfg.temperature, k, sizes, cfg.train.batch_size)
    trainer = Trainer(net, tokenizer, data, cfg.train, sampler=sampler, weighting=weighting, progress=progress,
                      on_event=on_event)
    return trainer, tokenizer, base


def alone(cfg: MultitaskConfig, task: TaskConfig) -> MultitaskConfig:
    """The same run with ``task`` alone: a plain fine-tune (hard sharing, equal weights), what a baseline is."""
    return dataclasses.replace(cfg, tasks=[dataclasses.replace(task, auxiliary=False)], architecture="hard",
                               weighting="equal", weighting_options={}, tasks_per_step="auto")


def train_baselines(cfg: MultitaskConfig, data: list[TaskData], output: Path, progress: bool,
                    on_event) -> dict[str, dict[str, Any]]:
    """Each task alone: same body, same TrainConfig, its own data once per epoch (what it gets in the mixture).
    A finished baseline's result.json is reused on --resume; an interrupted one resumes from its checkpoint."""
    results = {}
    for t, task in zip(cfg.tasks, data):
        folder = output / "baselines" / task.spec.name
        done = folder / "result.json"
        if done.exists():
            results[task.spec.name] = json.loads(done.read_text())
            continue
        trainer, _, _ = build_trainer(alone(cfg, t), [task], progress, on_event)
        if on_event:
            on_event({"event": "baseline", "task": task.spec.name})
        res = trainer.fit(run_dir=folder, resume=latest_checkpoint(folder) is not None)
        best = res.best.get("tasks", {}).get(task.spec.name, {})
        results[task.spec.name] = {
            "metric": best.get("metric"), "metric_name": best.get("metric_name"), "steps": res.steps,
            "train_seconds": round(res.train_seconds, 2), "params": sum(p.numel() for p in trainer.model.parameters()),
            "best": {k: v for k, v in best.items() if isinstance(v, (int, float, str))},
            "test": {k: v for k, v in res.test.get(task.spec.name, {}).items() if isinstance(v, (int, float, str))}}
        if dist.is_main():
            write_json(done, results[task.spec.name])
            shutil.rmtree(folder / "checkpoints", ignore_errors=True)
        dist.barrier()
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
