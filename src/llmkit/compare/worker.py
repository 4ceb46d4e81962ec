"""One model's run of ``llmkit compare``, in its own process: ``python -m llmkit.compare.worker JOB RESULT``.

JOB is JSON (model, prompts, options); RESULT gets the measurements, or ``{"error", "exit_code"}`` for a
problem the user can fix. Progress goes to stderr.
"""
from __future__ import annotations

import json
import resource
import statistics
import sys
import time
from typing import Any

from ..errors import LlmkitError
from .prompts import Messages, prompt_text
from .runner import CompareOptions


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def measure(model: str, prompts: list[Messages], opts: CompareOptions) -> dict[str, Any]:
    """Load ``model`` once, warm it up (not counted), then answer each prompt, timing every piece."""
    from ..pipelines import pipeline

    baseline = peak_rss_mb()
    t0 = time.perf_counter()
    pipe = pipeline("text-generation", model=model, engine=opts.engine, threads=opts.threads)
    load = time.perf_counter() - t0
    _say(f"  loaded in {load:.1f} s ({type(pipe.engine).__name__})")
    gen = {"max_new_tokens": opts.max_tokens, "temperature": opts.temperature, "seed": opts.seed}
    pipe.generate(prompts[0], **{**gen, "max_new_tokens": 4})  # first-call allocations and thread pools
    outputs = []
    for i, messages in enumerate(prompts, 1):
        out = answer(pipe, messages, gen)
        outputs.append(out)
        speed = f"{out['decode_tok_s']:.1f} tok/s" if out["decode_tok_s"] else "-"
        _say(f"  prompt {i}/{len(prompts)}: {out['completion_tokens']} tokens, first token "
             f"{out['first_token_s'] or 0:.3f} s, {speed}")
    return {"model": model, "engine": type(pipe.engine).__name__, "load_s": load, **summary(outputs),
            "peak_rss_mb": peak_rss_mb(), "baseline_rss_mb": baseline, "score": None, "metric": None,
            "outputs": outputs}


def answer(pipe: Any, messages: Messages, gen: dict[str, Any]) -> dict[str, Any]:
    stream = pipe.stream(messages, **gen)
    start = time.perf_counter()
    first = last = None
    for _ in stream:
        last = time.perf_counter()
        first = first or last
    seconds = time.perf_counter() - start
    r = stream.result
    n = r.usage.completion_tokens
    # decode speed as bench/generate.py measures it: the tokens after the first over the time after the first
    decode = (n - 1) / (last - first) if first and last and last > first and n > 1 else None
    return {"prompt": prompt_text(messages), "text": r.text, "finish_reason": r.finish_reason,
            "prompt_tokens": r.usage.prompt_tokens, "completion_tokens": n,
            "first_token_s": (first - start) if first else None, "seconds": seconds, "decode_tok_s": decode,
            "decode_tokens": max(n - 1, 0) if decode else 0, "decode_s": (last - first) if decode else 0.0}


def summary(outputs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per model: median first token, decode speed over all prompts (tokens / seconds, not a mean of rates)."""
    firsts = [o["first_token_s"] for o in outputs if o["first_token_s"] is not None]
    secs = sum(o["decode_s"] for o in outputs)
    return {"first_token_s": statistics.median(firsts) if firsts else None,
            "tokens_per_s": sum(o["decode_tokens"] for o in outputs) / secs if secs > 0 else None,
            "completion_tokens": sum(o["completion_tokens"] for o in outputs)}


def run_suite(model: str, opts: CompareOptions) -> dict[str, Any]:
    """A suite run through ``llmkit.evals.run_suite(model, suite, limit)``: its score, and per item the prompt
    (the item's id or question), the model's output and the item's score, for the side-by-side report."""
    from ..evals import run_suite as run

    baseline = peak_rss_mb()
    t0 = time.perf_counter()
    result = run(model, opts.suite, limit=opts.limit)
    outputs = [{"prompt": it.get("question") or it.get("id"), "text": _item_output(it), "score": _item_score(it)}
               for it in result.items]
    return {"model": model, "seconds": time.perf_counter() - t0, "score": result.score, "metric": result.primary,
            "first_token_s": None, "tokens_per_s": None, "peak_rss_mb": peak_rss_mb(), "baseline_rss_mb": baseline,
            "outputs": outputs}


def _item_output(item: dict[str, Any]) -> str:
    """What the model said for one item: a chat answer, a transcript, or the first code sample."""
    samples = item.get("samples") or [{}]
    return str(item.get("answer") or item.get("hypothesis") or samples[0].get("answer") or "")


def _item_score(item: dict[str, Any]) -> float | None:
    if "correct" in item:
        return float(bool(item["correct"]))
    if "c" in item and item.get("n"):
        return item["c"] / item["n"]  # code: the share of samples that passed
    return item.get("wer")


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main(job_path: str, result_path: str) -> int:
    job = json.loads(open(job_path, encoding="utf-8").read())
    opts = CompareOptions(**job["options"])
    try:
        result = run_suite(job["model"], opts) if opts.suite else measure(job["model"], job["prompts"], opts)
        code = 0
    except LlmkitError as e:
        result, code = {"error": str(e), "exit_code": e.exit_code}, e.exit_code
    with open(result_path, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False)
    return code


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
