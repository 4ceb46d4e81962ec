"""A model's quality for a task, from its saved eval results (``llmkit eval MODEL --suite NAME``).

Results live in ``LLMKIT_HOME/evals/<model-slug>/<suite>.json`` (``llmkit.evals.results``); each holds ``primary``
(the headline metric's name), ``score`` (its value), ``higher_is_better`` and ``metrics``. They are read
tolerantly: a missing, damaged or older-shaped file counts as "not evaluated", never as an error.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..evals.results import load_results  # full results only: a --limit run is never ranked

# Recommend's task -> (the eval suites that measure it, best first; metric names to look for when a file has no
# "primary"; what the figure is called; whether higher is better).
# The catalog's "reported" key (the makers' published scores) for a task: shown next to "—", never ranked on (a
# makers' bf16 figure and a local Q4 eval are not the same measurement).
REPORTED = {"code": "humaneval"}
SUITES: dict[str, tuple[tuple[str, ...], tuple[str, ...], str, bool]] = {
    "code": (("code", "humaneval"), ("pass@1", "pass_at_1"), "HumanEval pass@1", True),
    "chat": (("chat",), ("score", "accuracy"), "chat-suite score", True),
    "classify": (("classify",), ("accuracy", "macro_f1"), "accuracy", True),
    "embed": ((), (), "embedding score", True),  # no eval suite measures embeddings yet
    "asr": (("asr",), ("wer",), "WER", False),
}


@dataclass(frozen=True)
class Quality:
    points: float | None  # the figure in percent (WER too); None: not evaluated
    label: str  # what it is: "HumanEval pass@1", "WER"...
    higher_is_better: bool
    fill: str  # the command that measures it; "" when no suite does
    reported: float | None = None  # the makers' published figure, in percent, if the catalog has one

    @property
    def how(self) -> str:
        """How to fill it, for messages."""
        return f"`{self.fill}` fills it" if self.fill else "no `llmkit eval` suite measures it yet"

    @property
    def rank_value(self) -> float | None:
        """Bigger is better, in points: a WER counts negatively."""
        if self.points is None:
            return None
        return self.points if self.higher_is_better else -self.points

    def display(self) -> str:
        if self.points is not None:
            return f"{self.points:.1f}%"
        return "—" if self.reported is None else f"— (makers: {self.reported:g}%)"


def quality(model: str, task: str, entry: dict[str, Any] | None = None) -> Quality:
    suites, metrics, label, higher = SUITES[task]
    fill = f"llmkit eval {model} --suite {suites[0]}" if suites else ""
    published = (entry or {}).get("reported")
    reported = _number(published.get(REPORTED[task])) if isinstance(published, dict) and task in REPORTED else None
    results = load_results(model)
    for suite in suites:
        value, higher_seen = _headline(results.get(suite), metrics, higher)
        if value is not None:
            points = value * 100 if abs(value) <= 1.0 else value  # fractions (0.62) and percents (62) alike
            return Quality(points, label, higher_seen, fill, reported)
    return Quality(None, label, higher, fill, reported)


def _headline(record: Any, metrics: tuple[str, ...], higher: bool) -> tuple[float | None, bool]:
    if not isinstance(record, dict):
        return None, higher
    higher = bool(record.get("higher_is_better", higher))
    if _number(record.get("score")) is not None:
        return float(record["score"]), higher
    found = record.get("metrics") if isinstance(record.get("metrics"), dict) else record
    for name in (record.get("primary"), *metrics):
        if name and _number(found.get(name)) is not None:
            return float(found[name]), higher
    return None, higher


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v else None
