"""One task on one shard's rows: ``make_runner(spec)(rows) -> (outputs, errors)``. No Ray here.

Each runner loads its pipeline once (an actor holds one runner) and turns a bad row (empty text, unreadable audio)
into an error record ``{"id", "reason"}`` instead of failing the shard. Output rows match the CLI verbs' JSON:
``classify`` -> label, score (and labels with --top-k), ``embed`` -> embedding, ``generate`` -> text,
``transcribe`` -> text, language, duration; each with the input's id.
"""
from __future__ import annotations

from typing import Any, Callable

from ..errors import LlmkitError

Rows = list[tuple[Any, Any]]
Result = tuple[list[dict[str, Any]], list[dict[str, Any]]]


def make_runner(spec: dict[str, Any]) -> Callable[[Rows], Result]:
    return _RUNNERS[spec["task"]](spec)


def _split_texts(rows: Rows) -> tuple[Rows, list[dict[str, Any]]]:
    good, errors = [], []
    for key, value in rows:
        if not isinstance(value, str):
            errors.append({"id": key, "reason": f"not text ({type(value).__name__})"})
        elif not value.strip():
            errors.append({"id": key, "reason": "empty text"})
        else:
            good.append((key, value))
    return good, errors


def _classify(spec: dict[str, Any]):
    from ..pipelines import pipeline

    o = spec["options"]
    clf = pipeline("text-classification", model=spec["model"], engine=spec["engine"], task=o.get("task"),
                   batch_size=o.get("batch_size", 32), max_length=o.get("max_length"), threads=spec["threads"],
                   device=o.get("device", "cpu"), precision=o.get("precision", "fp32"))
    top_k = o.get("top_k", 1) or None

    def run(rows: Rows) -> Result:
        good, errors = _split_texts(rows)
        results = clf([v for _, v in good], top_k=top_k) if good else []
        out = []
        for (key, _), res in zip(good, results):
            ranked = res if isinstance(res, list) else [res]
            row = {"id": key, "label": ranked[0]["label"], "score": round(ranked[0]["score"], 6)}
            if top_k != 1:  # the same rounding as `llmkit classify --output`
                row["labels"] = [{"label": r["label"], "score": round(r["score"], 6)} for r in ranked]
            out.append(row)
        return out, errors
    return run


def _embed(spec: dict[str, Any]):
    from ..pipelines import pipeline

    o = spec["options"]
    emb = pipeline("sentence-embeddings", model=spec["model"], engine=spec["engine"],
                   batch_size=o.get("batch_size", 32), threads=spec["threads"], device=o.get("device", "cpu"),
                   precision=o.get("precision", "fp32"))

    def run(rows: Rows) -> Result:
        good, errors = _split_texts(rows)
        vectors = emb([v for _, v in good], normalize=bool(o.get("normalize"))) if good else []
        return [{"id": key, "embedding": [float(x) for x in vec]} for (key, _), vec in zip(good, vectors)], errors
    return run


def _generate(spec: dict[str, Any]):
    from ..hub import resolve
    from ..task_table import get
    from ..tasks.generate import TextGenerationPipeline
    from ..tasks.generate_options import GenerationOptions

    o = dict(spec["options"])
    system, raw, context = o.pop("system", None), o.pop("raw", False), o.pop("context", None)
    device = o.pop("device", "cpu")
    remote = {"allow_remote": o.pop("allow_remote", None), "redact": o.pop("redact", None)}  # RemoteOptions
    pipe = TextGenerationPipeline.from_ref(resolve(spec["model"] or get(TextGenerationPipeline.task).default_model),
                                           engine=spec["engine"], threads=spec["threads"], n_ctx=context, device=device,
                                           speculative=o.get("speculative"), draft=o.get("draft"),
                                           repack=o.get("repack", True), **remote)
    pipe.options = GenerationOptions().replace(**o)

    def run(rows: Rows) -> Result:
        good, errors = _split_texts(rows)
        out = []
        for key, text in good:
            prompt: Any = text if raw else ([{"role": "system", "content": system}] if system else []) + [
                {"role": "user", "content": text}]
            try:
                result = pipe.generate(prompt)
            except LlmkitError as e:  # a prompt the model refuses (e.g. too long): this row, not the job
                errors.append({"id": key, "reason": str(e)})
                continue
            out.append({"id": key, "text": result.text, "finish_reason": result.finish_reason})
        return out, errors
    return run


def _transcribe(spec: dict[str, Any]):
    from ..pipelines import pipeline
    from ..tasks.transcribe_options import TranscribeOptions

    o = dict(spec["options"])
    fast = o.pop("fast", False)
    options = TranscribeOptions.preset("fast" if fast else "accurate", **{**o, "cpu_threads": spec["threads"]})
    asr = pipeline("automatic-speech-recognition", model=spec["model"], options=options)

    def run(rows: Rows) -> Result:
        out, errors = [], []
        for key, path in rows:
            if not isinstance(path, str) or not path.strip():
                errors.append({"id": key, "reason": "no audio path"})
                continue
            try:
                result = asr(path)
            except Exception as e:  # unreadable or missing audio: ffmpeg/soundfile errors are not all ours
                errors.append({"id": key, "reason": " ".join(str(e).split()) or type(e).__name__})
                continue
            out.append({"id": key, "text": result.text.strip(), "language": result.language,
                        "duration": round(float(result.duration), 3)})
        return out, errors
    return run


_RUNNERS = {"text-classification": _classify, "sentence-embeddings": _embed, "text-generation": _generate,
            "automatic-speech-recognition": _transcribe}
