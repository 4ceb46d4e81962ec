"""Running one request's generation on a fair-queue worker and streaming its events back to the event loop.

The worker thread owns the model; the request's coroutine reads events (``start``, ``piece``, ``end``, ``error``)
from an ``asyncio.Queue``. When the client goes away, ``cancel()`` makes the worker close the ``TextStream``,
which stops llama.cpp at the next token (the pipeline's contract), and the engine is free for the next job.
"""
from __future__ import annotations

import asyncio
import itertools
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

from ..errors import InputError, LlmkitError
from ..tasks.structured import ANY_OBJECT, canonical_schema
from .errors import APIError, from_llmkit, invalid
from .metrics import Metrics
from .queues import FairQueue
from .settings import ServeSettings

Prompt = Any  # a raw prompt (str) or chat messages (list of dicts)


@dataclass
class Choice:
    index: int
    prompt: Prompt
    seed: int | None


@dataclass
class Run:
    """One request's generation: choices (prompts x n) run one after another on one worker."""

    model: str  # the resolved name (never the request's raw string: it labels metrics, see ModelPool.ref)
    choices: list[Choice]
    options: dict[str, Any]
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:24])
    created: int = field(default_factory=lambda: int(time.time()))
    cancelled: threading.Event = field(default_factory=threading.Event)
    prompt_tokens: list[int] = field(default_factory=list)
    tools: list[dict[str, Any]] | None = None  # OpenAI function specs the chat template renders (see tool_calls.py)
    tool_choice: Any = None  # as OpenAI writes it; only a remote model's provider reads it (local: json_schema)
    events: asyncio.Queue | None = None
    _future: Any = None

    def cancel(self) -> None:
        self.cancelled.set()
        if self._future is not None:
            self._future.cancel()  # still queued: dropped without running

    async def events_iter(self) -> AsyncIterator[tuple]:
        while True:
            ev = await self.events.get()
            if ev[0] == "done":
                return
            if ev[0] == "error":
                raise ev[1]
            yield ev


async def start(run: Run, queue: FairQueue, client: str, settings: ServeSettings, metrics: Metrics,
                param: str) -> Run:
    """Queue ``run``; return once its prompts are checked and generation began (errors are raised here, so
    a streaming response can still answer with an error status)."""
    loop = asyncio.get_running_loop()
    run.events = asyncio.Queue()

    def emit(ev: tuple) -> None:
        try:
            loop.call_soon_threadsafe(run.events.put_nowait, ev)
        except RuntimeError:  # the event loop is gone (shutdown)
            run.cancelled.set()

    def job(pipe: Any) -> None:
        try:
            _generate(pipe, run, emit, settings, metrics, param)
        except LlmkitError as e:
            emit(("error", from_llmkit(e)))
        except BaseException as e:  # noqa: BLE001 - reported to the request, which answers 500
            emit(("error", e))
        finally:
            emit(("done",))

    def failed(fut: Any) -> None:  # the worker could not load the model, so the job never ran
        if not fut.cancelled() and fut.exception() is not None:
            e = fut.exception()
            emit(("error", from_llmkit(e) if isinstance(e, LlmkitError) else e))
            emit(("done",))

    run._future = queue.submit(client, job)
    run._future.add_done_callback(failed)
    try:
        first = await run.events.get()
    except asyncio.CancelledError:
        run.cancel()
        raise
    if first[0] == "error":
        await run.events.get()  # "done"
        raise first[1]
    return run


def _generate(pipe: Any, run: Run, emit, settings: ServeSettings, metrics: Metrics, param: str) -> None:
    engine = pipe.engine
    if getattr(engine, "remote", False):
        return _generate_remote(pipe, run, emit, metrics, param)
    ctx = engine.context_length
    limit = min(settings.max_prompt_tokens, ctx - 1)
    prompts: dict[int, list[int]] = {}  # each distinct prompt is rendered and tokenised once, by the pipeline
    for c in run.choices:
        key = id(c.prompt)
        if key not in prompts:
            if isinstance(c.prompt, str) and not c.prompt.strip():
                raise invalid("the prompt is empty; give some text.", param=param)
            ids, dropped = pipe.prompt_ids(c.prompt, 0, run.tools)  # asking no room for the answer: cut only past the context
            if len(ids) + dropped > limit:
                n = len(ids) + dropped
                raise APIError(400, f"the prompt is {n} tokens, over this server's limit of {limit} "
                                    "(--max-prompt-tokens and the model's context); shorten it.",
                               param=param, code="context_length_exceeded")
            prompts[key] = ids
    run.prompt_tokens = [len(ids) for ids in prompts.values()]
    metrics.inc("llmkit_prompt_tokens_total", float(sum(run.prompt_tokens)), model=run.model)
    emit(("start",))
    for c in run.choices:
        ids = prompts[id(c.prompt)]
        max_new = max(1, min(run.options["max_new_tokens"], ctx - len(ids)))  # within the limit: never cut
        stream = pipe.stream_ids(ids, **{**run.options, "max_new_tokens": max_new, "seed": c.seed})
        if not _emit_choice(stream, c, run, emit, metrics):
            return
        emit(("end", c.index, stream.result))


def _emit_choice(stream: Any, c: Choice, run: Run, emit, metrics: Metrics, start: bool = False) -> bool:
    """Send one choice's pieces as events and count its tokens; False once the request was cancelled. ``start``:
    emit "start" after the first piece came (or the stream ended), so an error before it is still the request's
    status rather than a broken stream."""
    try:
        first = next(stream, None)
        if start:
            emit(("start",))
        for piece in itertools.chain([first] if first is not None else [], stream):
            if run.cancelled.is_set():
                break
            emit(("piece", c.index, piece))
    finally:
        stream.close()
    result = stream.result
    if result is not None:
        metrics.inc("llmkit_tokens_generated_total", float(result.usage.completion_tokens), model=run.model)
        if result.usage.draft_tokens is not None:  # speculative decoding: proposed and kept tokens
            metrics.inc("llmkit_draft_tokens_total", float(result.usage.draft_tokens), model=run.model)
            metrics.inc("llmkit_draft_tokens_accepted_total", float(result.usage.accepted_tokens or 0),
                        model=run.model)
    if run.cancelled.is_set():
        metrics.inc("llmkit_generations_cancelled_total", model=run.model)
        return False
    return True


def _generate_remote(pipe: Any, run: Run, emit, metrics: Metrics, param: str) -> None:
    """A remote model (``--model NAME=openai:...``): the provider templates, tokenises and counts, so nothing is
    counted here before it runs. "start" waits for the provider's first piece, so a refused key or an unknown
    model is still the request's error status, not a broken stream. The prompt's tokens are the provider's."""
    counted: set[int] = set()
    for c in run.choices:
        if isinstance(c.prompt, str) and not c.prompt.strip():
            raise invalid("the prompt is empty; give some text.", param=param)
    for c in run.choices:
        stream = pipe.stream(c.prompt, tools=run.tools, tool_choice=run.tool_choice,
                             **{**run.options, "seed": c.seed})
        if not _emit_choice(stream, c, run, emit, metrics, start=c.index == 0):
            return
        if id(c.prompt) not in counted and stream.result is not None:
            counted.add(id(c.prompt))
            run.prompt_tokens.append(stream.result.usage.prompt_tokens)
            metrics.inc("llmkit_prompt_tokens_total", float(stream.result.usage.prompt_tokens), model=run.model)
        emit(("end", c.index, stream.result))


def options(body: Any, settings: ServeSettings, max_tokens: int | None, *, logprobs: bool,
            top_logprobs: int = 0) -> dict[str, Any]:
    """OpenAI sampling fields -> ``GenerationOptions`` keywords, with the server's own limits."""
    if max_tokens is not None and max_tokens > settings.max_tokens:
        raise invalid(f"max_tokens is {max_tokens}, over this server's limit of {settings.max_tokens} "
                      "(--max-tokens).", param="max_tokens", code="max_tokens_too_large")
    if body.n > settings.max_n:
        raise invalid(f"n is {body.n}, over this server's limit of {settings.max_n} (--max-n).", param="n")
    temperature, top_p = body.temperature, body.top_p
    if top_p is not None and top_p == 0:  # OpenAI allows top_p=0: only the most likely token, i.e. greedy
        temperature, top_p = 0.0, 1.0
    stop = body.stop if isinstance(body.stop, list) else [body.stop] if body.stop else []
    out = {"max_new_tokens": max_tokens or settings.default_max_tokens, "temperature": temperature,
           "top_p": top_p, "stop": tuple(stop), "logprobs": logprobs, "top_logprobs": top_logprobs,
           "json_schema": json_schema(getattr(body, "response_format", None))}
    return {k: v for k, v in out.items() if v is not None}  # None: the pipeline's defaults


def json_schema(response_format: Any) -> str | None:
    """OpenAI's ``response_format`` -> the checked schema text of ``GenerationOptions.json_schema`` (a 400 naming
    the problem when it is not JSON Schema or llama.cpp cannot compile it, before anything is queued)."""
    if response_format is None or response_format.type == "text":
        return None
    if response_format.type == "json_object":
        schema: Any = ANY_OBJECT
    elif response_format.json_schema is None:
        raise invalid("response_format of type json_schema needs a json_schema object with a schema.",
                      param="response_format.json_schema")
    else:
        schema = response_format.json_schema.schema_
    try:
        return canonical_schema(schema)
    except InputError as e:
        raise invalid(str(e), param="response_format.json_schema.schema", code="invalid_json_schema") from None


def choices(prompts: list[Prompt], n: int, seed: int | None, settings: ServeSettings) -> list[Choice]:
    """prompts x n, at most ``max_generations``; with a seed, choice i uses seed + i, so n choices differ yet
    are reproducible."""
    if len(prompts) * n > settings.max_generations:
        raise invalid(f"this request asks for {len(prompts) * n} generations ({len(prompts)} prompt(s) x n={n}), "
                      f"over this server's limit of {settings.max_generations} (--max-generations); send fewer "
                      "prompts or a smaller n.", param="n", code="too_many_generations")
    out = []
    for p in prompts:
        for _ in range(n):
            i = len(out)
            out.append(Choice(i, p, None if seed is None else (seed + i) % 2**32))
    return out
