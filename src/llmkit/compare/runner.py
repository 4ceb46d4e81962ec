"""Run the same prompts through several models, one after the other, each in its own process.

Why a process per model: peak memory (``ru_maxrss``) is then the model's own, not the largest of the models run
so far, and nothing one model leaves behind (threads, caches, mmapped weights) slows the next. Why one after the
other: models that share the cores measure each other's speed, not their own.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, LlmkitError
from ..hub import resolve
from .prompts import Messages

MEMORY_NOTE = ("peak RSS of the process that ran the model (ru_maxrss; Python and llmkit included); "
               "baseline: that process before the model loaded")


@dataclass(frozen=True)
class CompareOptions:
    """What every model gets alike: greedy decoding by default, so outputs are reproducible."""

    max_tokens: int = 256
    temperature: float = 0.0
    seed: int = 0
    engine: str = "auto"
    threads: int | None = None
    suite: str | None = None  # an eval suite (llmkit.evals.run_suite) instead of a prompts file
    limit: int | None = None  # the suite's first N items

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise InputError(f"--max-tokens must be 1 or more (got {self.max_tokens}).")
        if not 0 <= self.temperature <= 2:
            raise InputError(f"--temperature must be between 0 and 2 (got {self.temperature}).")
        if self.threads is not None and self.threads < 1:
            raise InputError(f"--threads must be 1 or more (got {self.threads}).")
        if self.limit is not None and self.limit < 1:
            raise InputError(f"--limit must be 1 or more (got {self.limit}).")


@dataclass
class CompareResult:
    """What ``write_report`` writes: the prompts, the options, and one run per model (see ``worker.measure``)."""

    prompts: list[Messages]
    options: CompareOptions
    runs: list[dict[str, Any]]
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))

    def to_dict(self) -> dict[str, Any]:
        from .. import __version__

        return {"llmkit_version": __version__, "created": self.created, "options": asdict(self.options),
                "memory": MEMORY_NOTE, "prompts": self.prompts, "models": self.runs}


def check_models(models: list[str]) -> None:
    """Refuse a bad model list before anything loads (a typo in the last name must not cost the first run)."""
    if len(models) < 2:
        raise InputError("compare needs two models or more, e.g. `llmkit compare smollm2-135m-instruct "
                         "my-model.gguf --prompts prompts.txt`.")
    seen = [m for i, m in enumerate(models) if m in models[:i]]
    if seen:
        raise InputError(f"model {seen[0]!r} is named twice; name each model once.")
    for m in models:
        ref = resolve(m, build=False)  # unknown or not installed: ModelNotFoundError, which says how to get it
        if ref.task != "text-generation":
            raise InputError(f"{m!r} is a {ref.task} model; compare runs text-generation (chat) models.")
        if ref.format == "remote":  # refused here, before any model runs (opt-in: env or config, docs/remote.md)
            from ..providers import check_allowed

            check_allowed(ref.entry["remote"])


def check_suite(suite: str) -> None:
    from ..evals import SUITES, describe_suites

    if suite not in SUITES:
        raise InputError(f"unknown suite {suite!r}; choose one of: {describe_suites()} (or give --prompts FILE).")


def compare(models: list[str], prompts: list[Messages], options: CompareOptions,
            progress: Callable[[str], None] | None = None) -> CompareResult:
    """Each model in turn, in a fresh process; a model that fails stops the comparison with its own error."""
    if options.suite:
        check_suite(options.suite)
    check_models(models)
    say = progress or (lambda line: None)
    runs = []
    for i, model in enumerate(models, 1):
        say(f"[{i}/{len(models)}] {model}")
        runs.append(_run_in_process(model, prompts, options))
    return CompareResult(prompts, options, runs)


def _run_in_process(model: str, prompts: list[Messages], options: CompareOptions) -> dict[str, Any]:
    src = str(Path(__file__).resolve().parents[2])  # the worker imports this very llmkit
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)}
    with tempfile.TemporaryDirectory(prefix="llmkit-compare-") as tmp:
        job, out = Path(tmp) / "job.json", Path(tmp) / "result.json"
        job.write_text(json.dumps({"model": model, "prompts": prompts, "options": asdict(options)}))
        # The worker's stdout goes to our stderr: engines may print, and stdout is the user's.
        proc = subprocess.run([sys.executable, "-m", "llmkit.compare.worker", str(job), str(out)], env=env,
                              stdout=sys.stderr.fileno() if _has_fileno() else None)
        if not out.exists():
            raise LlmkitError(f"{model}: the process running it ended with exit code {proc.returncode} before "
                              "it finished (out of memory?); see the lines above, or try fewer --max-tokens.")
        result = json.loads(out.read_text())
    if "error" in result:
        err = LlmkitError(f"{model}: {result['error']}")
        err.exit_code = result.get("exit_code", 1)
        raise err
    return result


def _has_fileno() -> bool:
    try:
        sys.stderr.fileno()
        return True
    except (AttributeError, OSError, ValueError):  # pytest's capture, a StringIO
        return False
