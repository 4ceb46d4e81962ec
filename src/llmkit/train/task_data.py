"""One task's data for a training run: loaded, subset, mapped to targets and split into train / selection / test.

>>> data = load_task(TaskConfig(name="sentiment", train="fine_food_reviews"), seed=42)     # doctest: +SKIP
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..modeling import TaskSpec
from .data import DEFAULT_EVAL_SPLIT, check_selection_data, default_test, load_dataset, split_of, subset, to_examples
from .loop import TaskData
from .mtl_config import TaskConfig


def describe(source: Any) -> str | None:
    """How reports and run_config.json name a data source: its path or name, ``<N records>`` for in-memory data
    (``evaluate_folder`` reads that as "not on disk")."""
    if isinstance(source, list):
        return f"<{len(source)} records>"
    return str(source) if source is not None else None


def records(source: Any, split: str) -> list[dict]:
    """The records of a file, built-in or hub dataset, or in-memory list; empty data is an error."""
    rows = source if isinstance(source, list) else load_dataset(source, split=split)
    if not rows:
        raise InputError(f"{describe(source)}: no records; the data is empty.")
    return rows


def load_task(t: TaskConfig, seed: int, name_errors: bool = True) -> TaskData:
    """One task's data, with a fixed random subset when ``limit`` / ``eval_limit`` are set; errors name the task
    (``name_errors``: in a multi-task run; a fine-tune has just the one)."""
    try:
        train = subset(records(t.train, "train"), t.limit, seed, t.label_column)
        evals = subset(records(t.eval, "test"), t.eval_limit, seed, t.label_column) if t.eval is not None else None
        tests = subset(records(t.test, "test"), t.test_limit, seed, t.label_column) if t.test is not None else None
        data = prepare_task(t.name, train, evals, eval_split=t.eval_split, test_data=tests,
                            train_name=describe(t.train), text_column=t.text_column, label_column=t.label_column,
                            head_type=t.head, label_names=t.label_names, seed=seed)
    except InputError as e:
        raise InputError(f"task {t.name!r}: {e}" if name_errors else str(e)) from None
    data.metric, data.auxiliary, data.selected_on_test = t.metric, t.auxiliary, t.select_on_test and t.eval is not None
    if t.eval is not None:  # the records came in as lists: name them as the user did
        data.eval_name = _named(t.eval, t.eval_limit, len(data.eval.texts))
    if t.test is not None:
        data.test_name = _named(t.test, t.test_limit, len(data.test.texts))
    return data


def _named(source: Any, limit: int | None, n: int) -> str:
    return f"{describe(source)}" + (f" ({n} records, a fixed subset)" if limit and limit <= n else "")


def prepare_task(name: str, train: str | Path | list[dict], eval_data: str | Path | list[dict] | None = None, *,
                 eval_split: float | None = None, test_data: str | Path | list[dict] | None = None,
                 select_on_test: bool = False, text_column: str = "text", label_column: str = "label",
                 head_type: str = "single_label", label_names: dict[str, str] | None = None,
                 seed: int = 42, train_name: str | None = None) -> TaskData:
    """Load, map and split one task's data. ``label_names`` renames raw labels (e.g. great -> POSITIVE);
    ``train_name`` names the training data in messages and reports (default: ``describe(train)``).

    Selection data (best checkpoint, early stopping): ``eval_data``, else ``eval_split`` (default 10%) of the
    training data held out with ``seed``. A test split as ``eval_data`` needs ``select_on_test``. ``test_data``
    (default: a built-in training set's test split) is scored once at the end."""
    check_selection_data(eval_data, select_on_test, "--select-on-test")
    if eval_split is not None and not 0 < eval_split < 1:
        raise InputError("--eval-split must be between 0 and 1 (e.g. 0.1).")
    rows, where = records(train, "train"), train_name or describe(train)
    eval_rows, eval_where = (records(eval_data, "test"), describe(eval_data)) if eval_data is not None else (None, "")
    if eval_rows is None and len(rows) > 1:
        share = eval_split or DEFAULT_EVAL_SPLIT
        rows = list(rows)
        random.Random(seed).shuffle(rows)
        cut = max(1, int(len(rows) * share))
        eval_rows, rows = rows[:cut], rows[cut:]
        eval_where = f"{where} ({cut} records held out: {share:g} of the training data, seed {seed})"
    test_data = test_data if test_data is not None else default_test(train)
    test_rows, test_where = (records(test_data, "test"), describe(test_data)) if test_data is not None else (None, "")

    def examples(rows: list[dict] | None, at: str, labels: list[str] | None = None) -> Any:
        if rows is None:
            return None, []
        if label_names:
            rows = [{**r, label_column: label_names.get(str(r.get(label_column)), r.get(label_column))} for r in rows]
        return to_examples(rows, at, text_column=text_column, label_column=label_column, head_type=head_type,
                           labels=labels)

    train_ex, labels = examples(rows, where)
    known = labels if head_type != "regression" else None
    eval_ex, test_ex = examples(eval_rows, eval_where, known)[0], examples(test_rows, test_where, known)[0]
    return TaskData(TaskSpec(name, head_type, labels), train_ex, eval_ex, test=test_ex, eval_name=eval_where,
                    test_name=test_where, selected_on_test=split_of(eval_data, "test") == "test")
