"""Typed, validated multi-task options: what a ``tasks.yaml`` holds, checked in one place.

The smallest config::

    model: all-minilm-l6-v2
    weighting: pcgrad
    epochs: 1
    max_length: 64
    tasks:
      - {name: sentiment, train: fine_food_reviews}    # selects on 10% of train; scored on its test split
      - {name: topic, train: path/to/train.jsonl, eval: path/to/dev.jsonl, test: path/to/test.jsonl}

Top-level keys: the multi-task options below, plus any ``TrainConfig`` option (epochs, lr, batch_size, ...).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..errors import InputError
from ..modeling import HEAD_TYPES
from ..mtl_arch import ARCHITECTURES
from ..options import check_keys, opt
from .config import TrainConfig
from .data import BUILTIN_DATASETS, check_selection_data, default_test
from .sampling import SAMPLERS
from .weighting import STRATEGIES

# the metrics a head type can select on (keys of evaluate.score()'s result; higher is better)
METRICS = {"single_label": ("accuracy", "macro_f1"), "multi_label": ("micro_f1", "exact_match"),
           "regression": ("neg_mse", "pearson")}


@dataclass
class TaskConfig:
    name: str
    train: Any
    eval: Any = None
    eval_split: float | None = None
    text_column: str = "text"
    label_column: str = "label"
    head: str = "single_label"
    metric: str | None = None
    label_names: dict[str, str] | None = None
    limit: int | None = None  # use at most this many training examples (a fixed random subset)
    eval_limit: int | None = None
    test: Any = None  # scored once at the end (default: a built-in train set's test split; none for auxiliary)
    test_limit: int | None = None
    select_on_test: bool = False  # allow a test split as eval (optimistic scores; the report says so)
    auxiliary: bool = False  # trained with the others to help them; not selected on, not saved in the folder

    def __post_init__(self) -> None:
        where = f"task {self.name!r}"
        if not isinstance(self.name, str) or not self.name or "." in self.name:
            raise InputError(f"task name {self.name!r}: give each task a non-empty name without dots.")
        if self.head not in HEAD_TYPES:
            raise InputError(f"{where}: head {self.head!r} is unknown; choose one of: {', '.join(HEAD_TYPES)}.")
        if self.metric is not None and self.metric not in METRICS[self.head]:
            raise InputError(f"{where}: metric {self.metric!r} does not fit a {self.head} head; choose one of: "
                             f"{', '.join(METRICS[self.head])}.")
        if self.train in (None, "", []):
            raise InputError(f"{where}: no training data; give it `train: FILE` (or a built-in name like "
                             f"{BUILTIN_DATASETS[0]}).")
        if isinstance(self.eval, str) and self.eval in BUILTIN_DATASETS:
            self.eval = f"{self.eval}:test"  # a built-in name as eval data means its own test split
        if isinstance(self.test, str) and self.test in BUILTIN_DATASETS:
            self.test = f"{self.test}:test"
        for key in ("auxiliary", "select_on_test"):
            if not isinstance(getattr(self, key), bool):
                raise InputError(f"{where}: {key} must be true or false.")
        check_selection_data(self.eval, self.select_on_test, "set select_on_test: true", where=f"{where}: eval")
        if self.test is None and not self.auxiliary:
            self.test = default_test(self.train)
        for key in ("limit", "eval_limit", "test_limit"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise InputError(f"{where}: {key} must be a whole number >= 1.")

    @classmethod
    def from_dict(cls, values: Any, index: int) -> "TaskConfig":
        if not isinstance(values, dict):
            raise InputError(f"tasks[{index}]: expected a mapping like {{name: sentiment, train: data.jsonl}}.")
        values = {k.replace("-", "_"): v for k, v in values.items()}
        if "type" in values and "head" not in values:
            values["head"] = values.pop("type")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"tasks[{index}]: unknown key(s) {unknown}; known: {sorted(known)}.")
        if "name" not in values or "train" not in values:
            raise InputError(f"tasks[{index}]: every task needs `name` and `train`.")
        return cls(**values)


def _auto_or_int(text: str) -> Any:
    """--tasks-per-step: auto, all, or a number."""
    return int(text) if text.strip().isdigit() else text


@dataclass
class MultitaskConfig:
    """The multi-task options (top-level keys of tasks.yaml, and flags of ``llmkit multitask``); ``tasks`` and
    ``weighting_options`` are YAML only."""

    tasks: list[TaskConfig] = field(metadata={"help": "YAML only", "cli": False})
    model: str = opt("all-minilm-l6-v2", "body: catalog name, folder or hub id", flags=("--model", "-m"))
    architecture: str = opt("hard", "hard: a shared body and one head per task; mmoe: shared experts, a gate per "
                            "task", choices=tuple(ARCHITECTURES))
    experts: int = opt(4, "experts of the mmoe architecture")
    sampler: str = opt("proportional", "which task each step trains on", choices=tuple(SAMPLERS))
    temperature: float = opt(2.0, "T of the temperature sampler")
    # auto: all tasks for strategies that need them, else 1; or a number, or "all"
    tasks_per_step: Any = opt("auto", "tasks per optimizer step: auto, all or a number", type=_auto_or_int)
    weighting: str = opt("equal", "how the task losses are balanced", choices=tuple(STRATEGIES))
    weighting_options: dict[str, Any] = field(default_factory=dict, metadata={"help": "YAML only", "cli": False})
    train: TrainConfig = field(default_factory=TrainConfig, metadata={"cli": False})

    def __post_init__(self) -> None:
        if not self.tasks:
            raise InputError("no tasks: list at least one under `tasks:` (each with a name and train data).")
        names = [t.name for t in self.tasks]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise InputError(f"duplicate task name(s) {dupes}; every task needs its own name.")
        if all(t.auxiliary for t in self.tasks):
            raise InputError("every task is auxiliary: mark at least one task without `auxiliary: true`, the one "
                             "the model is for.")
        checks = [
            (self.architecture in ARCHITECTURES, f"architecture must be one of: {', '.join(ARCHITECTURES)}"),
            (self.sampler in SAMPLERS, f"sampler must be one of: {', '.join(SAMPLERS)}"),
            (self.weighting in STRATEGIES, f"weighting must be one of: {', '.join(STRATEGIES)}"),
            (self.temperature > 0, "temperature must be > 0"),
            (isinstance(self.experts, int) and self.experts >= 1, "experts must be >= 1"),
            (self.tasks_per_step in ("auto", "all") or (isinstance(self.tasks_per_step, int)
                                                         and 1 <= self.tasks_per_step <= len(self.tasks)),
             f"tasks_per_step must be auto, all, or between 1 and {len(self.tasks)}"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(message + ".")

    def steps_tasks(self, needs_all: bool) -> int:
        if self.tasks_per_step == "all" or (self.tasks_per_step == "auto" and needs_all):
            return len(self.tasks)
        return 1 if self.tasks_per_step == "auto" else int(self.tasks_per_step)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "MultitaskConfig":
        values = {k.replace("-", "_"): v for k, v in values.items()}
        own = {f.name for f in fields(cls)} - {"train"}
        train_keys = set(TrainConfig.__dataclass_fields__)
        check_keys(values, own | train_keys, where="multi-task options")
        raw_tasks = values.get("tasks")
        if not isinstance(raw_tasks, list):
            raise InputError("`tasks:` must be a list of tasks (each with a name and train data).")
        tasks = [TaskConfig.from_dict(t, i) for i, t in enumerate(raw_tasks)]
        train = TrainConfig.from_dict({k: v for k, v in values.items() if k in train_keys})
        return cls(tasks=tasks, train=train, **{k: v for k, v in values.items() if k in own and k != "tasks"})

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["tasks"] = [{k: (f"<{len(v)} records>" if isinstance(v, list) else v) for k, v in t.items()}
                        for t in out["tasks"]]
        return out
