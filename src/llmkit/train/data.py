"""Training data: built-in sample datasets, user files, label maps, and length-bucketed batches.

``load_dataset("fine_food_reviews", split="test")`` -> list of ``{"text", "label"}`` records.
"""
from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..textio import column, read_records

BUILTIN_DATASETS = ("fine_food_reviews", "fortune_topics", "austen_novels")
# the share of the training data held out for model selection when no --eval is given (seeded, not stratified)
DEFAULT_EVAL_SPLIT = 0.1


def load_dataset(source: str | Path, split: str = "train") -> list[dict[str, Any]]:
    """Records from a built-in dataset name (``name`` or ``name:test``), a local file, or a hub dataset id."""
    text = str(source)
    name, _, explicit = text.partition(":")
    if name in BUILTIN_DATASETS:
        return _builtin(name, explicit or split)
    path = Path(text).expanduser()
    if path.exists():
        return read_records(path)
    if "/" in text and not text.startswith((".", "/", "~")):
        hub_id, _, hub_split = text.rpartition(":") if ":" in text else (text, "", "")
        return _hub_dataset(hub_id, hub_split or split)
    raise InputError(
        f"{text}: no such file or built-in dataset; built-in: {', '.join(BUILTIN_DATASETS)} (add ':test' for the test split)."
    )


def split_of(source: Any, default: str) -> str | None:
    """The split a dataset source names (``name:test`` -> test, a bare name -> ``default``); None for a file or
    in-memory records, which are whatever the user made them.

    >>> split_of("fine_food_reviews", "test"), split_of("org/data:validation", "test"), split_of([], "test")
    ('test', 'validation', None)
    """
    if not isinstance(source, (str, Path)) or Path(str(source)).expanduser().exists():
        return None
    name, _, explicit = str(source).rpartition(":") if ":" in str(source) else (str(source), "", "")
    if name in BUILTIN_DATASETS or ("/" in name and not name.startswith((".", "/", "~"))):
        return explicit or default
    return None


def check_selection_data(eval_data: Any, select_on_test: bool, flag: str, where: str = "--eval") -> None:
    """Model selection (best checkpoint, early stopping) on a test split makes the test score optimistic: refused
    unless the user insists (``flag``), and then the report says so."""
    if split_of(eval_data, "test") == "test" and not select_on_test:
        raise InputError(f"{where} {eval_data} is a test split, and the best checkpoint would be chosen on it; "
                         f"give a validation file, or leave out {where} to hold out "
                         f"{DEFAULT_EVAL_SPLIT:.0%} of the training data (or {flag} to select on it anyway).")


def default_test(train: Any) -> str | None:
    """A built-in training set's own test split, scored once at the end; other sources have no default."""
    name = str(train).partition(":")[0] if isinstance(train, (str, Path)) else None
    return f"{name}:test" if name in BUILTIN_DATASETS else None


def _builtin(name: str, split: str) -> list[dict[str, Any]]:
    if split not in ("train", "test"):
        raise InputError(f"built-in dataset {name!r} has splits 'train' and 'test', not {split!r}.")
    ref = resources.files("llmkit.data").joinpath(f"{name}.{split}.jsonl.gz")
    with ref.open("rb") as f:
        return [json.loads(line) for line in gzip.decompress(f.read()).decode("utf-8").splitlines() if line.strip()]


def _hub_dataset(repo_id: str, split: str) -> list[dict[str, Any]]:
    try:
        import datasets
    except ImportError:
        raise InputError(f"{repo_id!r} looks like a hub dataset id; that needs `pip install datasets` and a network.") from None
    try:
        return list(datasets.load_dataset(repo_id, split=split))
    except Exception as e:
        raise InputError(f"cannot load hub dataset {repo_id!r} split {split!r} ({type(e).__name__}); offline?") from None


@dataclass
class LabelledTexts:
    """Texts with targets as numbers: class ids (single-label), multi-hot lists (multi-label) or floats."""

    texts: list[str]
    targets: list[Any]


def subset(records: list[dict[str, Any]], limit: int | None, seed: int, label_column: str = "label") -> list[dict[str, Any]]:
    """A fixed random subset of at most ``limit`` records that keeps every class: one record of each label is
    taken first (so a rare class cannot vanish and make the evaluation split's labels "unseen"), the rest at
    random. Multi-label and regression records are sampled plainly.

    >>> rows = [{"label": "a"}] * 98 + [{"label": "b"}, {"label": "c"}]
    >>> sorted({r["label"] for r in subset(rows, 3, seed=0)})
    ['a', 'b', 'c']
    """
    if limit is None or limit >= len(records):
        return records
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    first: dict[Any, int] = {}
    for i in order:
        label = records[i].get(label_column)
        if isinstance(label, (str, int)) and not isinstance(label, bool) and label not in first:
            first[label] = i
    keep = list(first.values())[:limit]
    chosen = set(keep)
    keep += [i for i in order if i not in chosen][: limit - len(keep)]
    rank = {i: r for r, i in enumerate(order)}
    return [records[i] for i in sorted(keep, key=rank.__getitem__)]


def to_examples(
    records: list[dict[str, Any]], where: str, *, text_column: str = "text", label_column: str = "label",
    head_type: str = "single_label", labels: Sequence[str] | None = None,
) -> tuple[LabelledTexts, list[str]]:
    """Records -> (examples, label names). With ``labels`` given (eval data), unseen labels are an error."""
    texts = [str(t) for t in column(records, text_column, where)]
    raw = column(records, label_column, where)
    for n, t in enumerate(texts, 1):
        if not t.strip():
            raise InputError(f"{where}: record {n} has an empty {text_column!r}.")
    if head_type == "regression":
        try:
            return LabelledTexts(texts, [float(v) for v in raw]), []
        except (TypeError, ValueError):
            raise InputError(f"{where}: regression needs numeric {label_column!r} values.") from None
    if head_type == "multi_label":
        lists = [_as_list(v) for v in raw]
        names = list(labels) if labels is not None else sorted({x for v in lists for x in v})
        _check_known(where, {x for v in lists for x in v}, names, labels)
        return LabelledTexts(texts, [[1.0 if n in set(v) else 0.0 for n in names] for v in lists]), names
    values = [str(v) for v in raw]
    names = list(labels) if labels is not None else sorted(set(values))
    _check_known(where, set(values), names, labels)
    if labels is None and len(names) < 2:
        raise InputError(f"{where}: every example has the label {names[0]!r}; a classifier needs at least two classes.")
    index = {n: i for i, n in enumerate(names)}
    return LabelledTexts(texts, [index[v] for v in values]), names


def _as_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [p.strip() for p in str(value).replace(";", ",").split(",") if p.strip()]


def _check_known(where: str, seen: set[str], names: Sequence[str], given: Sequence[str] | None) -> None:
    if given is None:
        return
    unseen = sorted(seen - set(names))
    if unseen:
        raise InputError(f"{where}: labels {unseen} never occur in the training data (known: {list(names)}).")


def bucketed_batches(
    lengths: Sequence[int], batch_size: int, *, shuffle: bool, seed: int = 0, bucket_factor: int = 50
) -> Iterator[list[int]]:
    """Index batches of similar length, so padding stays small (dynamic padding).

    Shuffled mode sorts within large random pools (``bucket_factor`` batches each) and shuffles the batch order,
    which keeps the randomness SGD needs while cutting padding; unshuffled mode sorts all indices by length.
    """
    order = list(range(len(lengths)))
    if not shuffle:
        order.sort(key=lambda i: lengths[i])
        yield from (order[i : i + batch_size] for i in range(0, len(order), batch_size))
        return
    rng = random.Random(seed)
    rng.shuffle(order)
    pool = batch_size * bucket_factor
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    yield from batches
