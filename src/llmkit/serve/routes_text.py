"""``/v1/chat/completions`` and ``/v1/completions``: OpenAI's shapes over ``TextGenerationPipeline.stream``.

Streaming is Server-Sent Events ending in ``data: [DONE]``; the first chunk goes out only after the prompt was
checked, so a bad request still gets a 400 rather than a broken stream.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any, AsyncIterator

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from . import generation as gen
from .deps import client_id, require_key, server
from .errors import invalid, openapi_errors
from .schemas import ChatCompletionRequest, CompletionRequest

router = APIRouter(dependencies=[Depends(require_key)], responses=openapi_errors())
TASK = "text-generation"  # the task these routes serve (llmkit.task_table)


@router.post("/v1/chat/completions", tags=["OpenAI"], summary="Chat completion (streams with stream=true)")
async def chat_completions(body: ChatCompletionRequest, request: Request):
    s = server(request)
    ref, queue = await s.pool.queue(TASK, body.model)
    messages = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in body.messages]
    if body.top_logprobs and not body.logprobs:
        raise invalid("top_logprobs needs logprobs: true.", param="top_logprobs")
    opts = gen.options(body, s.settings, body.max_completion_tokens or body.max_tokens, logprobs=body.logprobs,
                       top_logprobs=body.top_logprobs or 0)
    run = gen.Run(ref.name, gen.choices([messages], body.n, body.seed, s.settings), opts)
    await gen.start(run, queue, client_id(request), s.settings, s.metrics, param="messages")
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    if body.stream:
        return _sse(_chat_chunks(run, include_usage), run)
    results = await _collect(run)
    return {
        "id": f"chatcmpl-{run.id}", "object": "chat.completion", "created": run.created, "model": run.model,
        "system_fingerprint": None,
        "choices": [{"index": i, "message": {"role": "assistant", "content": r.text},
                     "logprobs": _chat_logprobs(r, body.top_logprobs or 0) if body.logprobs else None,
                     "finish_reason": r.finish_reason}
                    for i, r in enumerate(results)],
        "usage": _usage(run, results),
    }


@router.post("/v1/completions", tags=["OpenAI"], summary="Text completion of a raw prompt")
async def completions(body: CompletionRequest, request: Request):
    s = server(request)
    ref, queue = await s.pool.queue(TASK, body.model)
    prompts = [body.prompt] if isinstance(body.prompt, str) else list(body.prompt)
    opts = gen.options(body, s.settings, body.max_tokens, logprobs=body.logprobs is not None,
                       top_logprobs=body.logprobs or 0)
    run = gen.Run(ref.name, gen.choices(prompts, body.n, body.seed, s.settings), opts)
    await gen.start(run, queue, client_id(request), s.settings, s.metrics, param="prompt")
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    if body.stream:
        return _sse(_completion_chunks(run, include_usage, body.echo), run)
    results = await _collect(run)
    return {
        "id": f"cmpl-{run.id}", "object": "text_completion", "created": run.created, "model": run.model,
        "system_fingerprint": None,
        "choices": [{"index": i, "text": (run.choices[i].prompt if body.echo else "") + r.text,
                     "logprobs": _text_logprobs(r, body.logprobs) if body.logprobs is not None else None,
                     "finish_reason": r.finish_reason} for i, r in enumerate(results)],
        "usage": _usage(run, results),
    }


# ---------------------------------------------------------------------------------------------- helpers

async def _collect(run: gen.Run) -> list[Any]:
    results: dict[int, Any] = {}
    try:
        async for ev in run.events_iter():
            if ev[0] == "end":
                results[ev[1]] = ev[2]
    except asyncio.CancelledError:
        run.cancel()
        raise
    return [results[i] for i in sorted(results)]


def _usage(run: gen.Run, results: list[Any]) -> dict[str, int]:
    prompt = sum(run.prompt_tokens)
    completion = sum(r.usage.completion_tokens for r in results)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _chat_logprobs(result: Any, top: int = 0) -> dict[str, Any]:
    def entry(token: str, logprob: float) -> dict[str, Any]:
        return {"token": token, "logprob": logprob, "bytes": list(token.encode("utf-8"))}

    return {"content": [{**entry(t.token, t.logprob), "top_logprobs": [entry(a, lp) for a, lp in t.top[:top]]}
                        for t in (result.logprobs or [])]}


def _text_logprobs(result: Any, top: int = 0) -> dict[str, Any]:
    tokens = [t.token for t in result.logprobs or []]
    offsets, pos = [], 0
    for t in tokens:
        offsets.append(pos)
        pos += len(t)
    return {"tokens": tokens, "token_logprobs": [t.logprob for t in result.logprobs or []],
            "top_logprobs": [dict(t.top[:top]) for t in result.logprobs or []] if top else None,
            "text_offset": offsets}


def _sse(chunks: AsyncIterator[dict[str, Any]], run: gen.Run) -> StreamingResponse:
    async def body() -> AsyncIterator[str]:
        try:
            async for chunk in chunks:
                yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
            yield "data: [DONE]\n\n"
        except Exception as e:  # noqa: BLE001 - mid-stream the status is sent; report in the stream, as OpenAI does
            message = getattr(e, "message", None) or f"internal error ({type(e).__name__})"
            yield f"data: {json.dumps({'error': {'message': message, 'type': 'server_error', 'param': None, 'code': None}})}\n\n"
        finally:
            run.cancel()  # a client that went away (or an error) stops the generation at the next token

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _chat_chunks(run: gen.Run, include_usage: bool) -> AsyncIterator[dict[str, Any]]:
    head = {"id": f"chatcmpl-{run.id}", "object": "chat.completion.chunk", "created": run.created,
            "model": run.model, "system_fingerprint": None}
    results = []
    started: set[int] = set()
    async for ev in run.events_iter():
        i = ev[1]
        if i not in started:
            started.add(i)
            yield {**head, "choices": [{"index": i, "delta": {"role": "assistant", "content": ""},
                                        "logprobs": None, "finish_reason": None}]}
        if ev[0] == "piece":
            yield {**head, "choices": [{"index": i, "delta": {"content": ev[2]}, "logprobs": None,
                                        "finish_reason": None}]}
        elif ev[0] == "end":
            r = ev[2]
            results.append(r)
            lp = _chat_logprobs(r, run.options.get("top_logprobs", 0)) if r.logprobs is not None else None
            yield {**head, "choices": [{"index": i, "delta": {}, "logprobs": lp, "finish_reason": r.finish_reason}]}
    if include_usage:
        yield {**head, "choices": [], "usage": _usage(run, results)}


async def _completion_chunks(run: gen.Run, include_usage: bool, echo: bool) -> AsyncIterator[dict[str, Any]]:
    head = {"id": f"cmpl-{run.id}", "object": "text_completion", "created": run.created, "model": run.model,
            "system_fingerprint": None}
    results = []
    echoed: set[int] = set()
    async for ev in run.events_iter():
        i = ev[1]
        if echo and i not in echoed:
            echoed.add(i)
            yield {**head, "choices": [{"index": i, "text": run.choices[i].prompt, "logprobs": None,
                                        "finish_reason": None}]}
        if ev[0] == "piece":
            yield {**head, "choices": [{"index": i, "text": ev[2], "logprobs": None, "finish_reason": None}]}
        elif ev[0] == "end":
            results.append(ev[2])
            lp = _text_logprobs(ev[2], run.options.get("top_logprobs", 0)) if ev[2].logprobs is not None else None
            yield {**head, "choices": [{"index": i, "text": "", "logprobs": lp, "finish_reason": ev[2].finish_reason}]}
    if include_usage:
        yield {**head, "choices": [], "usage": _usage(run, results)}
