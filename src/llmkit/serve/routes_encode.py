"""``/v1/embeddings`` (OpenAI) and ``/v1/classifications`` (llmkit's own): encoder models behind a dynamic
batcher, so texts from concurrent requests share forward passes."""
from __future__ import annotations

import asyncio
import base64
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, Request

from ..errors import InputError
from ..textio import check_texts
from .deps import require_key, server
from .errors import invalid, openapi_errors
from .responses import fast_json
from .schemas import ClassificationRequest, ClassificationResponse, EmbeddingRequest, ModelList

MAX_EXPLAIN = 16  # integrated gradients is ~50 forward+backward passes a text: bound a request's work

router = APIRouter(dependencies=[Depends(require_key)], responses=openapi_errors())


def _texts(value: str | list[str], max_inputs: int, max_chars: int) -> list[str]:
    texts = [value] if isinstance(value, str) else list(value)
    if len(texts) > max_inputs:
        raise invalid(f"input has {len(texts)} texts, over this server's limit of {max_inputs} (--max-inputs).",
                      param="input")
    for i, t in enumerate(texts):
        if len(t) > max_chars:
            raise invalid(f"input {i} is {len(t)} characters, over this server's limit of {max_chars} "
                          "(--max-input-chars).", param="input", code="input_too_long")
    try:
        return check_texts(texts)
    except InputError as e:
        raise invalid(str(e), param="input") from None


@router.get("/v1/models", tags=["OpenAI"], response_model=ModelList, summary="The models this server serves")
async def list_models(request: Request):
    return {"object": "list", "data": server(request).pool.listing()}


@router.post("/v1/embeddings", tags=["OpenAI"], summary="Sentence embeddings (L2-normalised)")
async def embeddings(body: EmbeddingRequest, request: Request):
    s = server(request)
    texts = _texts(body.input, s.settings.max_inputs, s.settings.max_input_chars)
    ref, _, batcher = await s.pool.batcher("sentence-embeddings", body.model)
    rows = await batcher.submit(texts)
    dim = len(rows[0][0])
    if body.dimensions is not None and body.dimensions != dim:
        raise invalid(f"{ref.name} makes {dim}-dimensional embeddings; leave out dimensions or set it to {dim}.",
                      param="dimensions")
    data = []
    for i, (vec, _) in enumerate(rows):
        vec = np.asarray(vec, dtype=np.float32)
        emb: Any = base64.b64encode(vec.tobytes()).decode() if body.encoding_format == "base64" else vec
        data.append({"object": "embedding", "index": i, "embedding": emb})
    tokens = sum(n for _, n in rows)
    return fast_json({"object": "list", "data": data, "model": ref.name,
                      "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


@router.post("/v1/classifications", tags=["llmkit"], response_model=ClassificationResponse,
             summary="Classify texts: labels and scores (sentiment by default, or any fine-tuned model)")
async def classifications(body: ClassificationRequest, request: Request):
    """llmkit's own endpoint. One entry per input, in order: the best label and score, and the ``top_k`` best
    labels (all of them with ``top_k: null``). Multi-task folders take ``task`` to pick a head (the response's
    ``task`` names the head that answered)."""
    s = server(request)
    texts = _texts(body.input, s.settings.max_inputs, s.settings.max_input_chars)
    if body.explain and len(texts) > MAX_EXPLAIN:
        raise invalid(f"explain takes at most {MAX_EXPLAIN} texts a request (about a second each on a CPU); got "
                      f"{len(texts)}: split the request.", param="input")
    ref, pipe, batcher = await s.pool.batcher("text-classification", body.model, body.task)
    rows = await batcher.submit(texts)
    explained: list = [None] * len(rows)
    if body.explain:  # gradients, one text at a time, off the event loop; the batched scores stay the answer
        try:
            explained = await asyncio.to_thread(pipe.explain, texts, None, [r for r, _ in rows])
        except InputError as e:
            raise invalid(str(e), param="explain") from None
    data = []
    for i, ((ranked, _), e) in enumerate(zip(rows, explained)):
        top = ranked[: body.top_k] if body.top_k else ranked
        item = {"object": "classification", "index": i, "label": top[0]["label"], "score": top[0]["score"],
                "labels": top}
        if e is not None:
            item["attributions"] = e.attributions
            item["attribution_delta"] = e.delta
        data.append(item)
    tokens = sum(n for _, n in rows)
    return fast_json({"object": "list", "model": ref.name, "task": pipe.task, "data": data,
                      "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})
