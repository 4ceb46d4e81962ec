"""``recommend(options)``: the catalog's models for a task, ranked for this machine, with the reason the first wins.

The rule (docs/models.md says the same):

1. **Constraints.** A model whose peak memory (measured by ``llmkit models bench``; before that, estimated from its
   size and engine, marked ``~``) is over the memory budget is marked "does not fit"; one measured slower than
   ``--min-speed`` is "too slow". Both go to the bottom, still shown. The budget is ``--max-memory``, else a share
   of this machine's memory set by the deploy profile (laptop: half, the rest of the laptop needs the other half;
   server: 80%; gpu: 90% of the GPU's memory when there is one).
2. **Quality first.** Among the rest, the best eval score (``llmkit eval``) leads, except that a model within the
   profile's tolerance of the best (laptop 5 points, server 2, gpu 0) and faster here goes first: a small loss of
   quality for a faster answer is worth it on a laptop, rarely on a GPU. Ranking repeats the rule on what is left.
3. **Then speed.** Models without a score come after those with one, fastest first; equal speeds (or none
   measured), the smaller peak memory first.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from ..catalog import CATALOG
from ..errors import InputError
from ..hardware import Hardware, detect
from ..hub import is_installed
from . import bench as benches
from .quality import SUITES, Quality, quality

RULE = ("models over the memory budget or under --min-speed go last (marked); then the best quality leads, except "
        "that a faster model within the deploy profile's tolerance of the best goes first (laptop 5 points, server "
        "2, gpu 0); models without a score follow, fastest first; then the smaller peak memory.")

# Recommend's task -> the catalog tasks it draws from. Chat and code both use the generators; the eval decides.
TASKS: dict[str, tuple[str, ...]] = {
    "chat": ("text-generation",),
    "code": ("text-generation",),
    "classify": ("text-classification",),
    "embed": ("sentence-embeddings", "feature-extraction"),
    "asr": ("automatic-speech-recognition",),
}


@dataclass(frozen=True)
class Profile:
    tolerance: float  # quality points a faster model may give up
    memory_share: float  # of the machine's (or GPU's) memory, when no --max-memory is given
    what: str


PROFILES: dict[str, Profile] = {
    "laptop": Profile(5.0, 0.5, "half the memory; a model within 5 quality points of the best wins if faster"),
    "server": Profile(2.0, 0.8, "80% of the memory; a model within 2 quality points of the best wins if faster"),
    "gpu": Profile(0.0, 0.9, "90% of the GPU's memory (RAM without a GPU); the best quality wins"),
}

# (bench key, unit, "higher is faster") per task; speech speed is shown as times real time (1 / RTF).
SPEED = {"chat": "tok/s", "code": "tok/s", "classify": "texts/s", "embed": "texts/s", "asr": "× real time"}
# Memory an engine needs besides the weights (interpreter, libraries, buffers, llama.cpp's KV cache), for the
# estimate shown before a bench; calibrated on the measured catalog models (BENCHMARKS.md), rounded up.
OVERHEAD_MB = {"llamacpp": 300, "ctranslate2": 250, "torch": 150}
_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 2**10, "kib": 2**10, "m": 2**20, "mb": 2**20, "mib": 2**20,
          "g": 2**30, "gb": 2**30, "gib": 2**30, "t": 2**40, "tb": 2**40, "tib": 2**40}


def parse_size(text: str) -> int:
    """``"2GB"``, ``"1.5G"``, ``"512MB"`` -> bytes (binary units: 1 GB = 1024 MB, as memory is counted)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(text))
    if not m or m[2].lower() not in _UNITS or float(m[1]) <= 0:
        raise InputError(f"--max-memory wants a size such as 2GB, 1.5G or 512MB (got {text!r}).")
    return int(float(m[1]) * _UNITS[m[2].lower()])


@dataclass(frozen=True)
class RecommendOptions:
    task: str
    max_memory: int | None = None  # bytes; None: the profile's share of this machine
    min_speed: float | None = None  # in the task's speed unit (SPEED)
    deploy: str = "laptop"

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise InputError(f"--task must be one of {', '.join(TASKS)} (got {self.task!r}).")
        if self.deploy not in PROFILES:
            raise InputError(f"--deploy must be one of {', '.join(PROFILES)} (got {self.deploy!r}).")
        if self.max_memory is not None and self.max_memory <= 0:
            raise InputError("--max-memory must be above zero, e.g. 2GB.")
        if self.min_speed is not None and not self.min_speed > 0:
            raise InputError(f"--min-speed must be above zero, in {SPEED[self.task]} (got {self.min_speed}).")


@dataclass
class Row:
    model: str
    installed: bool
    size_bytes: int
    memory_bytes: int
    memory_estimated: bool
    speed: float | None  # in SPEED[task]; None: not benched here
    first_token_s: float | None
    quality: Quality
    license: str
    status: str = "ok"  # ok | does not fit | too slow | speed not measured
    bench: dict[str, Any] | None = field(default=None, repr=False)

    def cells(self, task: str) -> dict[str, str]:
        mem = fmt_size(self.memory_bytes)
        speed = "not benched" if self.speed is None else f"{self.speed:.{1 if self.speed < 100 else 0}f} {SPEED[task]}"
        notes = [] if self.status == "ok" else [self.status]
        if not self.installed:
            notes.append(f"not installed: `llmkit models pull {self.model}`")
        return {"model": self.model, "size": fmt_size(self.size_bytes),
                "peak memory": f"~{mem} (estimate)" if self.memory_estimated else mem,
                "speed": speed, "first token": "" if self.first_token_s is None else f"{self.first_token_s:.2f} s",
                "quality": self.quality.display(), "licence": self.license, "note": "; ".join(notes)}

    def to_dict(self, task: str) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k not in ("bench", "quality")}
        out.update(quality=self.quality.points, quality_label=self.quality.label, speed_unit=SPEED[task],
                   display=self.cells(task))
        return out


@dataclass
class Recommendation:
    task: str
    deploy: str
    machine: str
    budget_bytes: int
    budget_from: str
    min_speed: float | None
    rows: list[Row]
    why: str

    @property
    def unbenched(self) -> list[str]:
        """Installed models with no bench on this machine yet (``--bench-missing`` measures them)."""
        return [r.model for r in self.rows if r.installed and r.bench is None]

    @property
    def unevaluated(self) -> list[Row]:
        return [r for r in self.rows if r.quality.points is None]

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "deploy": self.deploy, "machine": self.machine,
                "max_memory_bytes": self.budget_bytes,
                "max_memory_from": self.budget_from, "min_speed": self.min_speed, "speed_unit": SPEED[self.task],
                "quality": SUITES[self.task][2], "rule": RULE,
                "why": self.why, "rows": [r.to_dict(self.task) for r in self.rows], "unbenched": self.unbenched}


def recommend(options: RecommendOptions, hw: Hardware | None = None) -> Recommendation:
    hw = hw or detect()
    profile = PROFILES[options.deploy]
    budget, budget_from = _budget(options, profile, hw)
    rows = [_row(name, entry, options, budget, hw) for name, entry in CATALOG.items() if _serves(entry, options.task)]
    ranked = rank(rows, profile.tolerance)
    why = explain(ranked, options, profile, budget) if ranked else f"the catalog has no model for {options.task}."
    return Recommendation(options.task, options.deploy, hw.summary(), budget, budget_from, options.min_speed, ranked,
                          why)


def _serves(entry: dict[str, Any], task: str) -> bool:
    """A base model (the catalog's ``"chat": False``, e.g. Gemma 3 270M) writes completions, not chat turns."""
    return entry["task"] in TASKS[task] and not (task == "chat" and entry.get("chat") is False)


def _budget(options: RecommendOptions, profile: Profile, hw: Hardware) -> tuple[int, str]:
    if options.max_memory is not None:
        return options.max_memory, "--max-memory"
    if options.deploy == "gpu" and hw.gpus:
        total, where = max(g.memory_bytes for g in hw.gpus), "the GPU's"
    else:
        total, where = hw.memory_bytes, "this machine's"
    share = profile.memory_share
    return int(total * share), f"{share:.0%} of {where} {fmt_size(total)} ({options.deploy})"


def _row(name: str, entry: dict[str, Any], options: RecommendOptions, budget: int, hw: Hardware) -> Row:
    record = benches.cached(name, hw)
    size = int(entry.get("size_mb", 0) * 2**20)
    if record:
        memory, estimated = int(record["peak_rss_bytes"]), False
        size = int(record.get("size_bytes") or size)
        speed = 1 / record["rtf"] if options.task == "asr" else record.get(
            "tokens_per_s" if options.task in ("chat", "code") else "texts_per_s")
    else:
        memory = int(size * 1.2 + OVERHEAD_MB.get(entry.get("engine", ""), 300) * 2**20)
        estimated, speed = True, None
    row = Row(name, is_installed(name), size, memory, estimated, speed,
              record.get("first_token_s") if record else None, quality(name, options.task, entry),
              str(entry.get("license", "?")), bench=record)
    if memory > budget:
        row.status = "does not fit" + (" (estimate)" if estimated else "")
    elif options.min_speed is not None:
        if speed is None:
            row.status = "speed not measured"
        elif speed < options.min_speed:
            row.status = "too slow"
    return row


def rank(rows: list[Row], tolerance: float) -> list[Row]:
    """Rows that meet every constraint, then those that could not be checked, then those that fail; each group
    ordered by ``_order``."""
    ok = [r for r in rows if r.status == "ok"]
    unchecked = [r for r in rows if r.status == "speed not measured"]
    failing = [r for r in rows if r not in ok and r not in unchecked]
    return _order(ok, tolerance) + _order(unchecked, tolerance) + _order(failing, tolerance)


def _speed_key(r: Row) -> tuple:
    q = r.quality.rank_value
    return (r.speed is None, -(r.speed or 0.0), q is None, -(q or 0.0), r.memory_bytes, r.model)


def _order(rows: list[Row], tolerance: float) -> list[Row]:
    rated = [r for r in rows if r.quality.rank_value is not None]
    out: list[Row] = []
    while rated:  # the fastest of those within `tolerance` points of the best left, again and again
        best = max(r.quality.rank_value for r in rated)  # type: ignore[type-var]
        pick = min((r for r in rated if r.quality.rank_value >= best - tolerance), key=_speed_key)  # type: ignore
        out.append(pick)
        rated.remove(pick)
    return out + sorted((r for r in rows if r.quality.rank_value is None), key=_speed_key)


def explain(rows: list[Row], options: RecommendOptions, profile: Profile, budget: int) -> str:
    """One line: why the first row wins."""
    w, task = rows[0], options.task
    label, unit = w.quality.label, SPEED[task]
    mem = f"peak memory {'~' if w.memory_estimated else ''}{fmt_size(w.memory_bytes)}" + \
        (" estimated: run `llmkit models bench " + w.model + "` to measure it" if w.memory_estimated else " measured")
    if w.status != "ok":
        limits = f"{fmt_size(budget)} of memory" + (f" and {options.min_speed:g} {unit}" if options.min_speed else "")
        return f"no model meets {limits}; the closest is {w.model} ({w.status}; {mem})."
    ok = [r for r in rows if r.status == "ok"]
    rated = [r for r in ok if r.quality.points is not None]
    if len(rows) == 1:
        score = f"{label} {w.quality.display()}" if w.quality.points is not None else \
            f"no {label} yet: {w.quality.how}"
        return f"{w.model} wins: it is the catalog's only {task} model ({score}; {mem})."
    if w.quality.points is None:
        speed = f"{w.speed:.1f} {unit}" if w.speed is not None else "speed not benched yet"
        article = "an" if label[0].lower() in "aeiou" else "a"
        return (f"{w.model} wins: no model that fits has {article} {label} yet ({w.quality.how}), so the "
                f"fastest wins ({speed}; {mem}).")
    top = max(rated, key=lambda r: r.quality.rank_value)  # type: ignore[arg-type,return-value]
    if top is w or top.quality.rank_value == w.quality.rank_value:
        rivals = len(ok) - 1
        return (f"{w.model} wins: the best {label} ({w.quality.display()}) of the {len(ok)} model"
                f"{'s' if len(ok) != 1 else ''} that fit {fmt_size(budget)}" + (" (the only one)" if not rivals else "")
                + f"; {mem}.")
    if top.speed is None:
        faster = f"its speed is measured here ({w.speed:.1f} {unit}) and {top.model}'s is not yet"
    else:
        faster = f"it runs faster here ({w.speed:.1f} vs {top.speed:.1f} {unit})"
    return (f"{w.model} wins: its {label} ({w.quality.display()}) is within {profile.tolerance:g} points of the best "
            f"({top.model}, {top.quality.display()}) and {faster}, which the {options.deploy} profile prefers; "
            f"{mem}.")


def fmt_size(n: int) -> str:
    """Bytes for people: 370 MB, 1.2 GB (binary units, as --max-memory reads them)."""
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"
