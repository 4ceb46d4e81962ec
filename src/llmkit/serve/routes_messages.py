"""Anthropic's Messages API over the same generation path as the OpenAI routes: ``POST /v1/messages`` (streamed
as Anthropic's server-sent events with ``stream: true``) and ``POST /v1/messages/count_tokens``.

A request runs on the same fair queue, with the same limits and metrics, as ``/v1/chat/completions``; only the
shapes differ. Errors use Anthropic's shape (``{"type": "error", "error": {"type", "message"}}``), and the key may
come as ``x-api-key`` (what the ``anthropic`` SDK sends) or ``Authorization: Bearer``.

>>> import anthropic   # doctest: +SKIP
>>> c = anthropic.Anthropic(base_url="http://127.0.0.1:8000", api_key="sk-local")
>>> c.messages.create(model="smollm2-135m-instruct", max_tokens=64,
...                   messages=[{"role": "user", "content": "Hi"}]).content[0].text
"""
from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any, AsyncIterator, Callable

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import LlmkitError
from . import generation as gen
from .anthropic_schemas import CountTokensRequest, MessagesRequest
from .deps import check_key, client_id, server
from .errors import APIError, _validation_message, from_llmkit, invalid
from .tool_calls import ToolPlan, call_id, plan

# Anthropic's error types by status (https://docs.anthropic.com/en/api/errors)
TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
         404: "not_found_error", 408: "timeout_error", 413: "request_too_large", 429: "rate_limit_error",
         529: "overloaded_error"}


def anthropic_error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    kind = TYPES.get(status, "api_error")
    return JSONResponse({"type": "error", "error": {"type": kind, "message": message}}, status_code=status,
                        headers=headers)


def _as_anthropic(e: Exception) -> JSONResponse:
    if isinstance(e, LlmkitError):
        e = from_llmkit(e)
    if isinstance(e, RequestValidationError):
        return anthropic_error(400, _validation_message(e)[0])
    if isinstance(e, StarletteHTTPException):
        return anthropic_error(e.status_code, str(e.detail), getattr(e, "headers", None))
    status = e.status
    if e.code == "server_overloaded":  # the whole server is full: Anthropic says 529, and its SDK retries it
        status = 529
    return anthropic_error(status, e.message, e.headers)


class AnthropicRoute(APIRoute):
    """Answers every failure of these routes (validation, auth, limits, the model) in Anthropic's error shape,
    so the ``anthropic`` SDK raises its own typed errors (``BadRequestError``, ``AuthenticationError``...)."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def route(request: Request):
            try:
                return await handler(request)
            except (APIError, RequestValidationError, LlmkitError, StarletteHTTPException) as e:
                return _as_anthropic(e)

        return route


def require_anthropic_key(request: Request) -> str | None:
    given = request.headers.get("x-api-key")
    if given is None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        given = token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return check_key(request, given, "send the header `x-api-key: YOUR_KEY` (or `Authorization: Bearer YOUR_KEY`)")


router = APIRouter(route_class=AnthropicRoute, dependencies=[Depends(require_anthropic_key)])


@router.post("/v1/messages", tags=["Anthropic"], summary="Anthropic Messages API (streams with stream=true)")
async def messages(body: MessagesRequest, request: Request):
    s = server(request)
    ref, queue = await s.pool.queue("text-generation", body.model)
    tp = _tool_plan(body, remote=ref.format == "remote")
    chat = _chat(body)
    opts = _options(body, s.settings)
    if tp is not None and tp.schema is not None and ref.format != "remote":  # any/tool: a well-formed call
        opts["json_schema"] = tp.schema  # (a remote provider gets tool_choice itself: Run.tool_choice)
    run = gen.Run(ref.name, gen.choices([chat], 1, None, s.settings), opts, tools=tp.tools if tp else None,
                  tool_choice=tp.choice if tp else None)
    await gen.start(run, queue, client_id(request), s.settings, s.metrics, param="messages")
    if body.stream:
        return _sse(_tool_events(run, tp) if tp else _events(run), run)
    result = await _result(run)
    content, stop = _answer(result, tp)
    return {**_message(run, content, result.usage.completion_tokens), **stop}


@router.post("/v1/messages/count_tokens", tags=["Anthropic"], summary="Count a request's input tokens")
async def count_tokens(body: CountTokensRequest, request: Request):
    s = server(request)
    ref, queue = await s.pool.queue("text-generation", body.model)
    remote = ref.format == "remote"
    tp = _tool_plan(body, remote=remote)
    chat = _chat(body)

    def count(pipe: Any) -> int:
        if remote:  # the provider's own count, of the text as it would be sent (redacted, audited)
            return pipe.engine.count_tokens(chat, tp.tools if tp else None, tp.choice if tp else None)
        ids, dropped = pipe.prompt_ids(chat, 0, tp.tools if tp else None)
        return len(ids) + dropped

    return {"input_tokens": await asyncio.wrap_future(queue.submit(client_id(request), count))}


# ---------------------------------------------------------------------------------------------- requests

def _tool_plan(body: Any, remote: bool = False) -> ToolPlan | None:
    """Anthropic's tools (name, description, input_schema) and tool_choice (auto/any/tool/none) as OpenAI's."""
    c = body.tool_choice
    if not body.tools:
        if c is not None and c.type != "none":
            raise invalid("tool_choice needs tools; send the tools too (or drop tool_choice).", param="tool_choice")
        return None
    if c is not None and c.type == "tool" and not c.name:
        raise invalid("tool_choice of type tool needs the tool's name.", param="tool_choice.name")
    specs = [{"type": "function", "function": {"name": t.name, "description": t.description or "",
                                               "parameters": t.input_schema}} for t in body.tools]
    choice = {None: "auto", "auto": "auto", "any": "required", "none": "none"}.get(c and c.type)
    return plan(specs, choice or {"type": "function", "function": {"name": c.name}}, remote=remote)


def _chat(body: Any) -> list[dict[str, Any]]:
    """Anthropic's system + messages as the chat messages every llmkit model takes: tool_use blocks become the
    assistant's tool_calls, tool_result blocks "tool" messages (what chat templates render tools with)."""
    out: list[dict[str, Any]] = [{"role": "system", "content": body.system_text()}] if body.system_text() else []
    for i, m in enumerate(body.messages):
        parts, calls = [], []
        for b in m.blocks():
            if b.type == "text":
                parts.append(b.text)
            elif b.type == "tool_use" and m.role == "assistant":
                calls.append({"id": b.id, "type": "function", "function": {"name": b.name, "arguments": b.input}})
            elif b.type == "tool_result" and m.role == "user":
                out.append({"role": "tool", "content": ("Error: " if b.is_error else "") + b.text(),
                            "tool_call_id": b.tool_use_id})
            else:
                raise invalid(f"messages.{i}: {b.type} blocks are not supported in {m.role} messages; send text "
                              "(tool_use from the assistant, tool_result from the user).",
                              param=f"messages.{i}.content")
        if parts or calls or not out or out[-1]["role"] != "tool":
            msg: dict[str, Any] = {"role": m.role, "content": "".join(parts)}
            if calls:
                msg["tool_calls"] = calls
            out.append(msg)
    if out[-1]["role"] not in ("user", "tool"):
        # Anthropic continues a final assistant message (prefill); chat templates start a new turn instead.
        raise invalid("the last message must be the user's: continuing an assistant message (prefill) is not "
                      "supported here.", param="messages")
    return out


def _options(body: MessagesRequest, settings: Any) -> dict[str, Any]:
    """Anthropic's sampling fields through the same limits as the OpenAI routes (``generation.options``)."""
    shim = SimpleNamespace(n=1, temperature=body.temperature, top_p=body.top_p, stop=body.stop_sequences)
    opts = gen.options(shim, settings, body.max_tokens, logprobs=False)
    if body.top_k is not None:
        opts["top_k"] = body.top_k
    return opts


# ---------------------------------------------------------------------------------------------- responses

def _text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _message(run: gen.Run, content: list[dict[str, Any]], output_tokens: int) -> dict[str, Any]:
    return {"id": f"msg_{run.id}", "type": "message", "role": "assistant", "model": run.model, "content": content,
            "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": sum(run.prompt_tokens), "output_tokens": output_tokens}}


def _stop(result: Any) -> dict[str, Any]:
    if result.stop_sequence is not None:
        return {"stop_reason": "stop_sequence", "stop_sequence": result.stop_sequence}
    return {"stop_reason": "max_tokens" if result.finish_reason == "length" else "end_turn", "stop_sequence": None}


def _answer(result: Any, tp: ToolPlan | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The content blocks and stop fields of an answer; with tools, calls in the text become tool_use blocks."""
    if tp is not None:
        text, calls = tp.split(result.text)
        if calls:
            blocks = [_text_block(text)] if text else []
            blocks += [{"type": "tool_use", "id": call_id("toolu_"), "name": c.name, "input": c.arguments}
                       for c in calls]
            return blocks, {"stop_reason": "tool_use", "stop_sequence": None}
    return [_text_block(result.text)], _stop(result)


async def _result(run: gen.Run) -> Any:
    result = None
    try:
        async for ev in run.events_iter():
            if ev[0] == "end":
                result = ev[2]
    except asyncio.CancelledError:
        run.cancel()
        raise
    return result


def _event(data: dict[str, Any]) -> str:
    return f"event: {data['type']}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _events(run: gen.Run) -> AsyncIterator[dict[str, Any]]:
    yield {"type": "message_start", "message": _message(run, [], 0)}
    yield {"type": "content_block_start", "index": 0, "content_block": _text_block("")}
    yield {"type": "ping"}
    async for ev in run.events_iter():
        if ev[0] == "piece" and ev[2]:
            yield {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": ev[2]}}
        elif ev[0] == "end":
            result = ev[2]
            yield {"type": "content_block_stop", "index": 0}
            yield {"type": "message_delta", "delta": _stop(result),
                   "usage": {"output_tokens": result.usage.completion_tokens}}
    yield {"type": "message_stop"}


async def _tool_events(run: gen.Run, tp: ToolPlan) -> AsyncIterator[dict[str, Any]]:
    """With tools the answer is held back until it ends (a call is known only once parsed), then each block is
    sent whole: a text block as one text_delta, a tool_use block as one input_json_delta."""
    yield {"type": "message_start", "message": _message(run, [], 0)}
    yield {"type": "ping"}
    result = await _result(run)
    blocks, stop = _answer(result, tp)
    for i, b in enumerate(blocks):
        if b["type"] == "text":
            yield {"type": "content_block_start", "index": i, "content_block": _text_block("")}
            yield {"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": b["text"]}}
        else:
            yield {"type": "content_block_start", "index": i, "content_block": {**b, "input": {}}}
            yield {"type": "content_block_delta", "index": i,
                   "delta": {"type": "input_json_delta", "partial_json": json.dumps(b["input"], ensure_ascii=False)}}
        yield {"type": "content_block_stop", "index": i}
    yield {"type": "message_delta", "delta": stop, "usage": {"output_tokens": result.usage.completion_tokens}}
    yield {"type": "message_stop"}


def _sse(events: AsyncIterator[dict[str, Any]], run: gen.Run) -> StreamingResponse:
    async def body() -> AsyncIterator[str]:
        try:
            async for data in events:
                yield _event(data)
        except Exception as e:  # noqa: BLE001 - mid-stream the status is sent: Anthropic's error event
            message = getattr(e, "message", None) or f"internal error ({type(e).__name__})"
            yield _event({"type": "error", "error": {"type": "api_error", "message": message}})
        finally:
            run.cancel()  # a client that went away (or an error) stops the generation at the next token

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
