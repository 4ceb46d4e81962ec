"""``/v1/audio/speech``: text to speech in OpenAI's shape (``model``, ``input``, ``voice``, ``response_format``,
``speed``), always streamed: the worker thread that owns the voice encodes each sentence as soon as it is
synthesised and the response sends it, so a player starts on the first sentence while the rest is being made.

OpenAI's model names (``tts-1``, ``tts-1-hd``, ``gpt-4o-mini-tts``) mean the default voice model, and its voice
names (``alloy``, ``echo``, ...) mean the voice's one speaker, so a client written for OpenAI works unchanged.
"""
from __future__ import annotations

import asyncio
import threading
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ..audio_out import FORMATS, MEDIA_TYPES, encode_stream
from ..errors import LlmkitError
from ..tasks.speak import MAX_SPEED, MIN_SPEED
from .deps import client_id, require_key, server
from .errors import APIError, from_llmkit, invalid, openapi_errors

router = APIRouter(dependencies=[Depends(require_key)], responses=openapi_errors())

MAX_INPUT_CHARS = 4096  # OpenAI's limit for one request
OPENAI_MODELS = {"tts-1", "tts-1-hd", "gpt-4o-mini-tts"}
OPENAI_VOICES = {"alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse",
                 "marin", "cedar"}


class SpeechRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field("piper-joe-medium", max_length=1024,
                       description="A Piper voice model; OpenAI's tts-1 / tts-1-hd / gpt-4o-mini-tts mean the default")
    input: str = Field(..., max_length=MAX_INPUT_CHARS, description="The text to speak")
    voice: str = Field("alloy", max_length=256,
                       description="A speaker of a multi-speaker voice; OpenAI's voice names choose the default one")
    response_format: Literal[tuple(FORMATS)] = "mp3"  # type: ignore[valid-type]
    speed: float = Field(1.0, ge=MIN_SPEED, le=MAX_SPEED)
    stream_format: Literal["audio"] = Field("audio", description="Raw audio bytes, streamed (sse is not offered)")
    instructions: str | None = Field(None, description="Not supported by Piper voices: a request with it is refused")


@router.post("/v1/audio/speech", tags=["OpenAI"], summary="Text to speech", response_class=StreamingResponse,
             responses={200: {"content": {t: {} for t in MEDIA_TYPES.values()}}})
async def speech(request: Request, body: SpeechRequest):
    s = server(request)
    if not body.input.strip():
        raise invalid("input is empty; give some text to speak.", param="input")
    if body.instructions:
        raise invalid("instructions (a speaking style) are not supported by Piper voices; leave them out.",
                      param="instructions")
    ref, queue = await s.pool.queue("text-to-speech", None if body.model in OPENAI_MODELS else body.model)
    bridge = _Bridge(asyncio.get_running_loop())
    fmt = body.response_format

    def job(pipe: Any) -> None:
        speaker = _speaker(pipe, body.voice)
        chunks = pipe.stream(body.input, speed=body.speed, voice=speaker)
        for data in encode_stream(chunks, pipe.sampling_rate, fmt):
            if bridge.cancelled.is_set():
                return
            bridge.emit(data)

    future = queue.submit(client_id(request), bridge.wrap(job))
    future.add_done_callback(bridge.failed)
    try:
        first = await bridge.next()  # errors before the first byte still get a status and OpenAI's error body
    except asyncio.CancelledError:
        bridge.cancelled.set()
        future.cancel()
        raise
    s.metrics.inc("llmkit_tts_requests_total", model=ref.name)

    async def body_iter():
        try:
            data: bytes | None = first
            while data is not None:
                if data:
                    yield data
                data = await bridge.next()
        finally:
            bridge.cancelled.set()  # the client went away: the worker stops after the sentence in hand
            future.cancel()

    return StreamingResponse(body_iter(), media_type=MEDIA_TYPES[fmt],
                             headers={"Content-Disposition": f'inline; filename="speech.{fmt}"'})


def _speaker(pipe: Any, voice: str) -> str | None:
    if voice in pipe.voices:
        return voice
    if voice in OPENAI_VOICES or voice == pipe.ref.name or not pipe.voices and voice in pipe.ref.entry.get(
            "aliases", ()):
        return None  # the voice's default speaker
    names = sorted({*pipe.voices, *OPENAI_VOICES})
    raise APIError(400, f"unknown voice {voice!r} for {pipe.ref.name}; choose one of: {', '.join(names)}.",
                   param="voice", code="unknown_voice")


class _Bridge:
    """Bytes from the worker thread to the response coroutine; ``None`` ends the stream, an exception fails it."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop, self.queue = loop, asyncio.Queue()
        self.cancelled = threading.Event()

    def emit(self, item: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the event loop is gone (shutdown)
            self.cancelled.set()

    def wrap(self, job):
        def run(pipe: Any) -> None:
            try:
                job(pipe)
            except LlmkitError as e:
                self.emit(from_llmkit(e))
            except BaseException as e:  # noqa: BLE001 - reported to the request, which answers 500
                self.emit(e)
            finally:
                self.emit(None)
        return run

    def failed(self, future: Any) -> None:
        """The worker could not load the model, so the job never ran: fail the request instead of hanging it."""
        if not future.cancelled() and future.exception() is not None:
            e = future.exception()
            self.emit(from_llmkit(e) if isinstance(e, LlmkitError) else e)
            self.emit(None)

    async def next(self) -> bytes | None:
        item = await self.queue.get()
        if isinstance(item, BaseException):
            raise item
        return item
