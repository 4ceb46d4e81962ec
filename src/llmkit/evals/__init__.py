"""Evals: one call per (model, suite), real benchmarks, generated code run in a sandbox.

>>> from llmkit.evals import run_suite
>>> result = run_suite("smollm2-135m-instruct", "chat")
>>> result.score, result.metrics                       # the headline figure, and every figure
>>> from llmkit.evals.results import save, load_results
>>> save(result); load_results("smollm2-135m-instruct")["chat"]["score"]

Suites (one module each, with ``DESCRIPTION`` and ``run(model, options, progress) -> SuiteResult``): ``code``
(HumanEval, pass@k), ``chat`` (built-in checkable questions), ``classify`` (accuracy, macro-F1 on a dataset),
``asr`` (WER on a folder of audio + transcripts). ``llmkit eval`` and ``llmkit compare --suite`` are shells over
``run_suite``.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import InputError
from .results import SuiteResult, load_results, save

__all__ = ["SUITES", "EvalOptions", "SuiteResult", "run_suite", "load_results", "save", "describe_suites"]

SUITES: dict[str, str] = {
    "code": "llmkit.evals.humaneval",
    "chat": "llmkit.evals.chat",
    "classify": "llmkit.evals.classify",
    "asr": "llmkit.evals.asr",
}


@dataclass(frozen=True)
class EvalOptions:
    limit: int | None = None  # only the first N items (a quick look; the figure is not the benchmark's)
    samples: int = 1  # answers per item (code: pass@k for every k <= samples among 1, 10, 100)
    temperature: float = 0.0  # 0: greedy; sampling (samples > 1) needs more than 0
    seed: int = 0
    max_new_tokens: int | None = None  # None: the suite's own (code 768, chat 256)
    threads: int | None = None  # llama.cpp threads (None: its default)
    timeout: float = 10.0  # code: seconds a program may run in the sandbox
    data: str | None = None  # classify: a built-in dataset name or a file; asr: a folder or a manifest
    task: str | None = None  # classify: the head of a multi-task folder
    journal: str | None = None  # code: a file that keeps finished items, so an interrupted run continues (journal.py)
    prompt: str = "evalplus"  # code: how a chat model is asked (humaneval.PROMPTINGS; "makers": the catalog's)

    def __post_init__(self) -> None:
        if self.limit is not None and (isinstance(self.limit, bool) or not isinstance(self.limit, int)
                                       or self.limit < 1):
            raise InputError(f"--limit must be a whole number of at least 1 (got {self.limit!r}).")
        if not isinstance(self.samples, int) or not 1 <= self.samples <= 200:
            raise InputError(f"--samples must be a whole number from 1 to 200 (got {self.samples!r}).")
        if not isinstance(self.temperature, (int, float)) or not 0.0 <= self.temperature <= 2.0:
            raise InputError(f"--temperature must be a number from 0 to 2 (got {self.temperature!r}).")
        if self.samples > 1 and self.temperature == 0:
            raise InputError("--samples above 1 needs sampling: add --temperature (e.g. 0.8); greedy answers "
                             "would all be the same.")
        if not self.timeout > 0:
            raise InputError(f"--timeout must be positive (got {self.timeout!r}).")


def describe_suites() -> str:
    return ", ".join(SUITES)


def suite_module(suite: str) -> Any:
    if suite not in SUITES:
        raise InputError(f"unknown suite {suite!r}; choose one of: {describe_suites()}.")
    return importlib.import_module(SUITES[suite])


def run_suite(model: str, suite: str, limit: int | None = None, *,
              progress: Callable[[int, int, str], None] | None = None, **options: Any) -> SuiteResult:
    """Run one suite on one model; ``options`` are ``EvalOptions`` fields. Nothing is saved (see ``save``)."""
    module = suite_module(suite)
    opts = EvalOptions(limit=limit, **options)
    result = module.run(str(model), opts, progress or (lambda done, total, note: None))
    if limit:
        result.options["limit"] = limit  # saved apart and never ranked (results.SuiteResult.partial)
    result.model = shown_name(model)
    return result


def shown_name(model: str) -> str:
    """The model as results name it: results are files people share, so a remote model is the reference as shown,
    without the user:password@ or ?key= of its URL."""
    from ..providers import parse

    spec = parse(str(model)) if ":" in str(model) else None
    return spec.name if spec else str(model)
