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
from .tool_calls import ToolPlan, history_calls, openai_calls, plan

router = APIRouter(dependencies=[Depends(require_key)], responses=openapi_errors())
TASK = "text-generation"  # the task these routes serve (llmkit.task_table)


@router.post("/v1/chat/completions", tags=["OpenAI"], summary="Chat completion (streams with stream=true)")
async def chat_completions(body: ChatCompletionRequest, request: Request):
    s = server(request)
    ref, queue = await s.pool.queue(TASK, body.model)
    tp = plan(body.tools, body.tool_choice, remote=ref.format == "remote")
    if body.top_logprobs and not body.logprobs:
        raise invalid("top_logprobs needs logprobs: true.", param="top_logprobs")
    opts = gen.options(body, s.settings, body.max_completion_tokens or body.max_tokens, logprobs=body.logprobs,
                       top_logprobs=body.top_logprobs or 0)
    if tp is not None and tp.schema is not None:  # a call must happen: constrain it to a well-formed one
        if "json_schema" in opts:
            raise invalid("response_format and a required tool call both constrain the answer; send one of them.",
                          param="response_format")
        if ref.format != "remote":  # a remote provider gets tool_choice itself (Run.tool_choice)
            opts["json_schema"] = tp.schema
    run = gen.Run(ref.name, gen.choices([_messages(body)], body.n, body.seed, s.settings), opts,
                  tools=tp.tools if tp else None, tool_choice=tp.choice if tp else None)
    await gen.start(run, queue, client_id(request), s.settings, s.metrics, param="messages")
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    if body.stream:
        return _sse(_chat_chunks(run, include_usage, tp), run)
    results = await _collect(run)
    return {
        "id": f"chatcmpl-{run.id}", "object": "chat.completion", "created": run.created, "model": run.model,
        "system_fingerprint": None,
        "choices": [{"index": i, **_answer(r, tp),
                     "logprobs": _chat_logprobs(r, body.top_logprobs or 0) if body.logprobs else None}
                    for i, r in enumerate(results)],
        "usage": _usage(run, results),
    }


def _messages(body: ChatCompletionRequest) -> list[dict[str, Any]]:
    out = []
    for m in body.messages:
        msg: dict[str, Any] = {"role": "system" if m.role == "developer" else m.role, "content": m.text()}
        if m.tool_calls:
            msg["tool_calls"] = history_calls(m.tool_calls)
        if m.tool_call_id:
            msg["tool_call_id"] = m.tool_call_id
        out.append(msg)
    return out


def _answer(result: Any, tp: ToolPlan | None) -> dict[str, Any]:
    """The message and finish_reason of one choice; with tools, calls found in the text become tool_calls."""
    if tp is not None:
        text, calls = tp.split(result.text)
        if calls:
            return {"message": {"role": "assistant", "content": text or None, "tool_calls": openai_calls(calls)},
                    "finish_reason": "tool_calls"}
    return {"message": {"role": "assistant", "content": result.text}, "finish_reason": result.finish_reason}


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


def _usage(run: gen.Run, results: list[Any]) -> dict[str, Any]:
    from ..tasks.generate import Usage

    drafted = [r.usage for r in results if r.usage.draft_tokens is not None]  # speculative decoding ran
    usage = Usage(sum(run.prompt_tokens), sum(r.usage.completion_tokens for r in results),
                  *((sum(u.draft_tokens for u in drafted), sum(u.accepted_tokens or 0 for u in drafted))
                    if drafted else (None, None)))
    return usage.to_dict()


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


async def _chat_chunks(run: gen.Run, include_usage: bool, tp: ToolPlan | None) -> AsyncIterator[dict[str, Any]]:
    """Pieces as content deltas; with tools the answer is held back until it ends (a call is only known once
    parsed), then sent as one content delta and/or one tool_calls delta per call, in OpenAI's shape."""
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
        if ev[0] == "piece" and tp is None:
            yield {**head, "choices": [{"index": i, "delta": {"content": ev[2]}, "logprobs": None,
                                        "finish_reason": None}]}
        elif ev[0] == "end":
            r = ev[2]
            results.append(r)
            answer = _answer(r, tp)
            if tp is not None:
                msg = answer["message"]
                if msg["content"]:
                    yield {**head, "choices": [{"index": i, "delta": {"content": msg["content"]}, "logprobs": None,
                                                "finish_reason": None}]}
                for k, call in enumerate(msg.get("tool_calls", [])):
                    yield {**head, "choices": [{"index": i, "delta": {"tool_calls": [{"index": k, **call}]},
                                                "logprobs": None, "finish_reason": None}]}
            lp = _chat_logprobs(r, run.options.get("top_logprobs", 0)) if r.logprobs is not None else None
            yield {**head, "choices": [{"index": i, "delta": {}, "logprobs": lp,
                                        "finish_reason": answer["finish_reason"]}]}
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
