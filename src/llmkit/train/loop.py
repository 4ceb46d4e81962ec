"""The one training loop. Single-task fine-tuning is multi-task training with one task.

Each micro-step draws a batch per task from the sampler, computes each task's loss, and hands the losses to a
weighting strategy, which does the backward pass (equal weights by default: sum_i L_i). Then: gradient
accumulation, clipping, AdamW, warmup + decay, periodic evaluation, early stopping, and the best weights kept.
"""
from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError, TrainingError
from ..modeling import TaskSpec, TextModel
from . import distributed as dist
from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .data import LabelledTexts
from .evaluate import collate, encode, predict_logits, score
from .sampling import TaskSampler
from .weighting.equal import Equal


@dataclass
class TaskData:
    spec: TaskSpec
    train: LabelledTexts
    eval: LabelledTexts | None = None
    metric: str | None = None  # a key of evaluate.score()'s result to select on (default: the head type's metric)
    auxiliary: bool = False  # trained and scored, but the kept weights are chosen on the other tasks
    test: LabelledTexts | None = None  # scored once, with the kept weights, after training; never selected on
    eval_name: str = ""  # where the selection data came from, for the report (e.g. "train.jsonl (10% held out)")
    test_name: str = ""
    selected_on_test: bool = False  # the user insisted (--select-on-test): the reports say so


@dataclass
class TrainResult:
    history: list[dict[str, Any]] = field(default_factory=list)  # one row per log/eval event
    best: dict[str, Any] = field(default_factory=dict)  # eval metrics at the kept weights, per task
    steps: int = 0
    train_seconds: float = 0.0
    samples_seen: int = 0
    stopped_early: bool = False
    test: dict[str, Any] = field(default_factory=dict)  # per task: test metrics of the kept weights, scored once

    @property
    def samples_per_second(self) -> float:
        return self.samples_seen / self.train_seconds if self.train_seconds else 0.0


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def task_loss(spec: TaskSpec, logits: torch.Tensor, targets: list[Any]) -> torch.Tensor:
    on = logits.device
    if spec.type == "single_label":
        return F.cross_entropy(logits.float(), torch.as_tensor(targets, dtype=torch.long, device=on))
    if spec.type == "multi_label":
        return F.binary_cross_entropy_with_logits(logits.float(), torch.as_tensor(targets, dtype=torch.float32,
                                                                                  device=on))
    return F.mse_loss(logits.float()[:, 0], torch.as_tensor(targets, dtype=torch.float32, device=on))


class Trainer:
    """Fit a TextModel on one or more tasks. ``sampler`` (sampling.py: which tasks and examples each micro-step
    sees; it knows ``steps_per_epoch``) and ``weighting`` (weighting/: the backward pass) default to every task's
    data in proportion and equal weights; with one task, plain epochs of fine-tuning."""

    def __init__(self, model: TextModel, tokenizer: Any, tasks: list[TaskData], cfg: TrainConfig, *,
                 sampler: TaskSampler | None = None,
                 weighting: Callable[[dict[str, torch.Tensor], TextModel], dict[str, float]] | None = None,
                 progress: bool = True, on_event: Callable[[dict[str, Any]], None] | None = None):
        self.model, self.tokenizer, self.tasks, self.cfg = model, tokenizer, tasks, cfg
        self.device = dist.resolve_device(cfg.device)
        if cfg.precision == "fp16" and not self.device.startswith("cuda"):
            raise InputError(f"--precision fp16 needs a CUDA GPU and training runs on {self.device}; use bf16 or fp32.")
        dist.setup(self.device)  # under torchrun: join the other ranks (gloo on CPU, NCCL on CUDA)
        model.to(self.device)
        dist.broadcast_params(model)
        # fp16 needs loss scaling (its range is small); bf16 and fp32 do not: the scaler is then a no-op
        self.scaler = torch.amp.GradScaler("cuda", enabled=cfg.precision == "fp16")
        self.sampler = sampler or TaskSampler(sizes=tuple(len(t.train.texts) for t in tasks),
                                              batch_size=cfg.batch_size)
        self.weighting = weighting or Equal([t.spec.name for t in tasks])
        self.progress, self.on_event = progress, on_event
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.ids = {t.spec.name: encode(tokenizer, t.train.texts, cfg.max_length) for t in tasks}
        self.eval_ids = {t.spec.name: encode(tokenizer, t.eval.texts, cfg.max_length) for t in tasks if t.eval}
        micro = self.sampler.steps_per_epoch
        self.micro_per_epoch = micro
        self.total_steps = max(1, math.ceil(micro * cfg.epochs / cfg.grad_accum))
        self.optimizer = self._optimizer()
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_lambda)
        self.result = TrainResult()
        self.step = 0
        self._best_metric = -math.inf
        self._best_state: dict[str, torch.Tensor] | None = None
        self._bad_evals = 0

    # ------------------------------------------------------------------------------------------ setup

    def _optimizer(self) -> torch.optim.Optimizer:
        cfg = self.cfg
        decay, no_decay, heads = [], [], []
        for name, p in self.model.named_parameters():
            if not p.requires_grad:
                continue
            if name.startswith(("heads.", "mixer.")):  # fresh layers learn at the head rate
                heads.append(p)
            elif p.ndim < 2 or "LayerNorm" in name or "layer_norm" in name:
                no_decay.append(p)
            else:
                decay.append(p)
        groups = [
            {"params": decay, "weight_decay": cfg.weight_decay, "lr": cfg.lr},
            {"params": no_decay, "weight_decay": 0.0, "lr": cfg.lr},
            {"params": heads, "weight_decay": 0.0, "lr": cfg.effective_head_lr},
        ]
        groups = [g for g in groups if g["params"]]
        try:  # the fused kernel: one pass over all parameters instead of ~10 ops per tensor (3x faster here)
            return torch.optim.AdamW(groups, lr=cfg.lr, fused=True)
        except (RuntimeError, TypeError):
            return torch.optim.AdamW(groups, lr=cfg.lr, foreach=True)

    def _lr_lambda(self, step: int) -> float:
        warm = self.cfg.warmup if self.cfg.warmup >= 1 else self.cfg.warmup * self.total_steps
        if step < warm:
            return (step + 1) / (warm + 1)
        if self.cfg.scheduler == "constant":
            return 1.0
        progress = min(1.0, (step - warm) / max(1.0, self.total_steps - warm))
        if self.cfg.scheduler == "cosine":
            return 0.5 * (1 + math.cos(math.pi * progress))
        return max(0.0, 1.0 - progress)

    # ------------------------------------------------------------------------------------------ loop

    def fit(self, run_dir: Path | None = None, resume: bool = False) -> TrainResult:
        """Train to the end. With ``run_dir``, checkpoints go to ``run_dir/checkpoints`` (every epoch, or every
        ``checkpoint_every`` steps); ``resume=True`` continues from the newest one there, bit for bit."""
        seed_everything(self.cfg.seed)
        if self.cfg.threads:
            torch.set_num_threads(self.cfg.threads)
        epoch, position, running = 0, 0, []
        if resume and run_dir is not None and (ckpt := latest_checkpoint(run_dir)) is not None:
            state, self._best_state = load_checkpoint(ckpt, self.model, self.optimizer, self.scheduler)
            dist.check_world(state.get("world_size"), f"checkpoint {ckpt}")
            epoch, position, self.step = state["epoch"], state["position"], state["step"]
            self._best_metric, self._bad_evals = state["best_metric"], state["bad_evals"]
            self.result.history, self.result.best = state["history"], state["best"]
            self.result.samples_seen, running = state["samples_seen"], state["running"]
            if "weighting" in state and hasattr(self.weighting, "load_state_dict"):
                self.weighting.load_state_dict(state["weighting"])
            self._emit({"event": "resumed", "step": self.step, "checkpoint": str(ckpt)})
        if dist.rank():  # dropout: rank 0 draws as one process would, the others their own masks (not copies)
            torch.manual_seed(self.cfg.seed + 7919 * dist.rank() + self.step)
        self.model.train()
        bar = _progress(self.total_steps, self.progress and dist.is_main(), initial=self.step)
        start = time.perf_counter()
        stop = False
        while self.step < self.total_steps and not stop:
            batches = list(self.sampler(self.tasks, self.ids, self.cfg, epoch))
            while position < len(batches) and self.step < self.total_steps:
                losses = self._losses(batches[position])
                running.append(dist.global_mean(sum(v.item() for v in losses.values())))  # the whole batch's
                self._scaled_backward(losses)
                position += 1
                if position % self.cfg.grad_accum and position < len(batches):
                    continue
                self._optimizer_step()
                bar.update(1)
                bar.set_postfix(loss=f"{np.mean(running[-20:]):.4f}", refresh=False)
                self._emit({"event": "step", "step": self.step, "total": self.total_steps, "loss": running[-1]})
                if self._should_eval() and self._evaluate(float(np.mean(running[-self.micro_per_epoch:]))):
                    stop = self.result.stopped_early = True
                    break
                end_of_epoch = position >= len(batches)
                if run_dir is not None and self._should_checkpoint(end_of_epoch):
                    self._checkpoint(run_dir, epoch + 1 if end_of_epoch else epoch, 0 if end_of_epoch else position,
                                     running[-self.micro_per_epoch:])
            epoch, position = epoch + 1, 0
        bar.close()
        self.result.train_seconds += time.perf_counter() - start
        self.result.steps = self.step
        if not self.eval_ids or self._best_state is None:
            self._evaluate(float(np.mean(running[-self.micro_per_epoch:])) if running else float("nan"))
        if self._best_state is not None:
            self.model.load_state_dict(self._best_state)
        self.model.eval()
        self.result.test = self._score_tests()
        return self.result

    def _score_tests(self) -> dict[str, Any]:
        """The test data, scored once at the end with the kept weights: nothing is chosen on it."""
        tests = {}
        for t in self.tasks:
            if t.test is not None and dist.is_main():  # only rank 0 reports
                ids = encode(self.tokenizer, t.test.texts, self.cfg.max_length)
                logits = predict_logits(self.model, ids, t.spec.name, self.pad_id)
                tests[t.spec.name] = score(t.spec.type, logits, t.test.targets, t.spec.labels)
        if tests:
            self._emit({"event": "test", "test": {k: {"metric": v["metric"], "metric_name": v["metric_name"]}
                                                   for k, v in tests.items()}})
        return tests

    def _should_checkpoint(self, end_of_epoch: bool) -> bool:
        if self.cfg.checkpoint_every:
            return self.step % self.cfg.checkpoint_every == 0
        return end_of_epoch

    def _checkpoint(self, run_dir: Path, epoch: int, position: int, running: list[float]) -> None:
        state = {"step": self.step, "epoch": epoch, "position": position, "best_metric": self._best_metric,
                 "bad_evals": self._bad_evals, "history": self.result.history, "best": self.result.best,
                 "samples_seen": self.result.samples_seen, "running": running, "world_size": dist.world_size()}
        if hasattr(self.weighting, "state_dict"):  # stateful strategies (DWA, FAMO, ...) resume bit for bit too
            state["weighting"] = self.weighting.state_dict()
        if dist.is_main():  # one writer; the others wait until the checkpoint is complete
            path = save_checkpoint(run_dir, self.step, self.model, self._best_state, self.optimizer, self.scheduler,
                                   state)
            self._emit({"event": "checkpoint", "step": self.step, "path": str(path)})
        dist.barrier()

    def _emit(self, event: dict[str, Any]) -> None:
        if self.on_event and dist.is_main():
            self.on_event(event)

    def _losses(self, batches: dict[str, list[int]]) -> dict[str, torch.Tensor]:
        losses = {}
        half = torch.float16 if self.cfg.precision == "fp16" else torch.bfloat16
        autocast = torch.autocast(torch.device(self.device).type, dtype=half, enabled=self.cfg.precision != "fp32")
        for name, batch in batches.items():
            task = next(t for t in self.tasks if t.spec.name == name)
            idx, share = dist.my_slice(batch)  # this rank's part of the global batch (all of it in one process)
            input_ids, mask = collate([self.ids[name][i] for i in idx], self.pad_id)
            with autocast:
                logits = self.model(input_ids.to(self.device), mask.to(self.device), name)
            loss = task_loss(task.spec, logits, [task.train.targets[i] for i in idx]) * share
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"the loss of task {name!r} became {loss.item()} at step {self.step}; training stopped and the "
                    "last good checkpoint is kept: lower --lr (or use --precision fp32) and rerun with --resume."
                )
            losses[name] = loss
            self.result.samples_seen += len(batch)
        return losses

    def _scaled_backward(self, losses: dict[str, torch.Tensor]) -> None:
        scaled = {k: self.scaler.scale(v / self.cfg.grad_accum) for k, v in losses.items()}
        self.weighting(scaled, self.model)

    def _optimizer_step(self) -> None:
        params = [p for p in self.model.parameters() if p.requires_grad]
        dist.average_gradients(params)  # DDP's all-reduce (distributed.py): a no-op in one process
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(params, self.cfg.max_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1

    def _should_eval(self) -> bool:
        every = self.cfg.eval_every or max(1, self.micro_per_epoch // self.cfg.grad_accum)
        return self.step % every == 0 or self.step >= self.total_steps

    def _evaluate(self, train_loss: float) -> bool:
        """Score every task's eval data; keep the best weights. True when early stopping says stop."""
        row: dict[str, Any] = {"step": self.step, "epoch": round(self.step / max(1, self.total_steps) * self.cfg.epochs, 3),
                               "train_loss": float(train_loss), "lr": self.scheduler.get_last_lr()[0]}
        metrics = {}
        for t in self.tasks:
            if t.spec.name not in self.eval_ids:
                continue
            logits = predict_logits(self.model, self.eval_ids[t.spec.name], t.spec.name, self.pad_id)
            metrics[t.spec.name] = m = score(t.spec.type, logits, t.eval.targets, t.spec.labels)
            if t.metric:
                m["metric"], m["metric_name"] = float(m[t.metric]), t.metric
        row["eval"] = {k: {"metric": v["metric"], "metric_name": v["metric_name"]} for k, v in metrics.items()}
        self.result.history.append(row)
        self._emit({"event": "eval", **row})
        if not metrics:
            return False
        auxiliary = {t.spec.name for t in self.tasks if t.auxiliary}  # scored, but not what the weights are kept for
        chosen = [m["metric"] for k, m in metrics.items() if k not in auxiliary]
        mean_metric = float(np.mean(chosen or [m["metric"] for m in metrics.values()]))
        if mean_metric > self._best_metric:
            self._best_metric, self._bad_evals = mean_metric, 0
            self._best_state = copy.deepcopy(self.model.state_dict())
            self.result.best = {"step": self.step, "tasks": metrics}
            return False
        self._bad_evals += 1
        return bool(self.cfg.early_stopping and self._bad_evals >= self.cfg.early_stopping)


def _progress(total: int, enabled: bool, initial: int = 0):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="training", unit="step", disable=not enabled, dynamic_ncols=True)
