"""The ``chat`` suite: 40 built-in questions with answers a program can check (facts, arithmetic, format
following), asked one at a time through the model's chat template, greedy; the score is the share answered right.

>>> from llmkit.evals.chat import check
>>> check({"number": 42}, "The answer is 42."), check({"words": 3}, "Blue, deep, endless.")
(True, True)
"""
from __future__ import annotations

import json
import re
from collections import defaultdict
from typing import Any, Callable

from .chat_data import QUESTIONS
from .results import SuiteResult

DESCRIPTION = "40 built-in questions with checkable answers: facts, arithmetic, format following (accuracy)"

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_WORD = re.compile(r"[A-Za-z0-9]+(?:['’-][A-Za-z0-9]+)*")


def check(question: dict[str, Any], reply: str) -> bool:
    """Whether ``reply`` meets the question's check (see ``chat_data`` for the kinds)."""
    text = reply.strip()
    if "any" in question:
        return any(re.search(rf"(?<!\w){re.escape(a)}(?!\w)", text, flags=re.I) for a in question["any"])
    if "number" in question:
        numbers = _NUMBER.findall(text)
        return bool(numbers) and float(numbers[-1].replace(",", "")) == float(question["number"])
    if "json_keys" in question:
        return _json_keys(text, question["json_keys"])
    if "words" in question:
        return len(_WORD.findall(text)) == question["words"]
    if "lower" in question:
        return any(c.isalpha() for c in text) and text == text.lower()
    if "upper" in question:
        return any(c.isalpha() for c in text) and text == text.upper()
    if "lines" in question:
        return len([line for line in text.splitlines() if line.strip()]) == question["lines"]
    if "starts" in question:
        return text.lower().startswith(question["starts"].lower())
    if "regex" in question:
        return re.fullmatch(question["regex"], text) is not None
    raise ValueError(f"question {question.get('id')!r} has no check")


def _json_keys(text: str, keys: list[str]) -> bool:
    fenced = re.fullmatch(r"```(?:json)?\s*\n(.*?)\n?```", text, flags=re.S)
    try:
        value = json.loads(fenced[1] if fenced else text)
    except ValueError:
        return False
    return isinstance(value, dict) and all(k in value for k in keys)


def run(model: str, options: Any, progress: Callable[[int, int, str], None]) -> SuiteResult:
    from ..pipelines import pipeline

    questions = QUESTIONS[: options.limit]
    pipe = pipeline("text-generation", model=model, threads=options.threads, n_ctx=2048)
    max_new = options.max_new_tokens or 256
    items = []
    for i, q in enumerate(questions):
        out = pipe.generate([{"role": "user", "content": q["q"]}], temperature=options.temperature,
                            max_new_tokens=max_new, seed=options.seed)
        ok = check(q, out.text)
        items.append({"id": q["id"], "category": q["cat"], "correct": ok, "answer": out.text})
        progress(i + 1, len(questions), f"{q['id']}: {'right' if ok else 'wrong'}")
    by_cat: dict[str, list[bool]] = defaultdict(list)
    for it in items:
        by_cat[it["category"]].append(it["correct"])
    metrics = {"accuracy": sum(it["correct"] for it in items) / len(items)}
    metrics |= {f"accuracy_{cat}": sum(v) / len(v) for cat, v in by_cat.items()}
    return SuiteResult(model=model, suite="chat", primary="accuracy", metrics=metrics, n=len(items), items=items,
                       options={"questions": "llmkit built-in (chat_data.py)", "temperature": options.temperature,
                                "max_new_tokens": max_new})
