"""What an eval run produces and where it is kept: one ``SuiteResult`` per (model, suite), saved as JSON (for
``models recommend`` and ``compare``) and as a Markdown table (for people), under
``LLMKIT_HOME/evals/<model-slug>/<suite>.json`` and ``.md``.

>>> from llmkit.evals.results import load_results
>>> load_results("smollm2-135m-instruct")          # {suite: the saved JSON}, {} when never evaluated
{'chat': {'model': 'smollm2-135m-instruct', 'suite': 'chat', 'score': 0.43, 'metrics': {...}, ...}}

The JSON keys: ``model``, ``suite``, ``primary`` (the headline metric's name) and ``score`` (its value; for
``asr`` it is the WER, lower is better: ``higher_is_better`` says which), ``metrics`` (every figure), ``n``
(items scored), ``date`` (UTC, ISO 8601), ``llmkit_version``, ``machine`` (cpu, cores, memory), ``options`` (how it
was run) and ``items`` (one record per item: what the model said and how it scored).
"""
from __future__ import annotations

import json
import os
import platform
import re
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..catalog import canonical_name
from ..hub import home
from .journal import journal_path


@dataclass
class SuiteResult:
    model: str
    suite: str
    primary: str
    metrics: dict[str, float]
    n: int
    options: dict[str, Any] = field(default_factory=dict)
    items: list[dict[str, Any]] = field(default_factory=list)
    higher_is_better: bool = True
    date: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    llmkit_version: str = field(default_factory=lambda: _version())
    machine: dict[str, Any] = field(default_factory=lambda: machine_info())

    @property
    def score(self) -> float:
        return self.metrics[self.primary]

    @property
    def partial(self) -> bool:
        """A ``--limit`` run: a quick look, not the benchmark's figure (saved apart, never ranked)."""
        return is_partial(self.options)

    @property
    def stem(self) -> str:
        """The file name it is saved under: ``chat``, ``chat-first3`` for a ``--limit 3`` run, ``code-makers`` for a
        run with another prompt (``--prompt makers``)."""
        return result_stem(self.suite, self.options.get("limit") if self.partial else None,
                           self.options.get("variant"))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        order = ["model", "suite", "primary", "score", "higher_is_better", "metrics", "n", "date", "llmkit_version",
                 "machine", "options", "items"]
        d["score"] = self.score
        return {k: d[k] for k in order}

    def markdown(self) -> str:
        """A Markdown report: the metrics table, how it was run, and the items that did not pass (first 20)."""
        lines = [f"# {self.suite}: {self.model}", "", "| metric | value |", "| --- | --- |"]
        lines += [f"| {k}{' (primary)' if k == self.primary else ''} | {_fmt(v)} |" for k, v in self.metrics.items()]
        lines += ["", f"{self.n} items; {self.date}; llmkit {self.llmkit_version}; "
                      f"{self.machine.get('cpu', '?')}, {self.machine.get('cores', '?')} cores", ""]
        lines += [f"- {k}: `{v}`" for k, v in self.options.items()]
        misses = [i for i in self.items if not i.get("correct", i.get("passed", True))][:20]
        if misses:
            lines += ["", "## Misses (first 20)", "", "| id | detail |", "| --- | --- |"]
            lines += [f"| {m.get('id', '')} | {_cell(m.get('detail') or m.get('answer') or '')} |" for m in misses]
        return "\n".join(lines) + "\n"


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")[:120]


def result_stem(suite: str, limit: int | None, variant: str | None = None) -> str:
    stem = f"{suite}-{variant}" if variant else suite
    return f"{stem}-first{limit}" if limit else stem


def is_partial(options: Any) -> bool:
    """True for the options of a run over the first N items only (``--limit N``)."""
    return isinstance(options, dict) and bool(options.get("limit"))


def is_variant(options: Any) -> bool:
    """True for a run set up otherwise than the suite's default (``--prompt makers``): saved apart, never ranked."""
    return isinstance(options, dict) and bool(options.get("variant"))


def model_slug(model: str) -> str:
    """The folder name results of ``model`` are kept under: its catalog name, else its file or folder name; a
    remote model's provider and model name (never its base URL, which may carry a key or a password).

    >>> model_slug("SmolLM2-135M-Instruct"), model_slug("/m/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")
    ('smollm2-135m-instruct', 'qwen2.5-coder-0.5b-instruct-q4_k_m')
    >>> model_slug("openai:org/m:7b@https://user:pw@host.example/v1")
    'openai-org-m-7b'
    """
    from ..providers import parse

    spec = parse(str(model)) if ":" in str(model) else None
    name = f"{spec.provider}-{spec.model}" if spec else canonical_name(str(model))
    if name is None:
        p = Path(str(model).rstrip("/"))
        name = p.stem if p.suffix.lower() == ".gguf" else p.name or str(model)
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "model"


def results_dir(model: str) -> Path:
    return home() / "evals" / model_slug(model)


def save(result: SuiteResult, folder: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """Write ``<suite>.json`` and ``<suite>.md`` into ``folder`` (default: the model's results folder), each
    atomically: a reader never sees half a file. A ``--limit N`` run is written as ``<suite>-firstN``: it never
    replaces the full result that ``models recommend`` and ``compare`` read. The run's journal there, if any, is
    removed."""
    out = Path(folder).expanduser() if folder else results_dir(result.model)
    out.mkdir(parents=True, exist_ok=True)
    paths = out / f"{result.stem}.json", out / f"{result.stem}.md"
    for path, text in zip(paths, (json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n",
                                  result.markdown())):
        fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{path.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    journal_path(out, result.stem).unlink(missing_ok=True)  # saved: what an interrupted run kept is done with
    return paths


def load_results(model: str) -> dict[str, dict[str, Any]]:
    """Every saved full result of ``model`` (a catalog name or a path, as given to ``llmkit eval``): suite -> JSON.
    ``--limit`` runs are left out (a few items are not the benchmark's figure), and so are runs with another prompt
    (``--prompt makers``: each model asked its own way does not rank models against each other)."""
    folder = results_dir(model)
    found = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a damaged file counts as not evaluated
        if (isinstance(data, dict) and "suite" in data and not is_partial(data.get("options"))
                and not is_variant(data.get("options"))):
            found[data["suite"]] = data
    return found


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {"cpu": cpu, "cores": os.cpu_count(), "system": platform.system(),
                            "python": platform.python_version()}
    try:
        info["memory_gb"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return info


def _version() -> str:
    from .. import __version__  # the package's version (the library layer, same as this one)

    return __version__
