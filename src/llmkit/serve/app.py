"""``create_app(settings)``: the FastAPI app. Routes live in ``routes_*.py``; this file wires them up with the
body-size limit, request metrics, the error handler and model preloading.

>>> from llmkit.serve import create_app, ServeSettings
>>> app = create_app(ServeSettings(api_keys=["sk-local"]))      # then: uvicorn.run(app, port=8000)
"""
from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import PlainTextResponse

from .. import __version__
from . import errors
from .deps import Server, require_key
from .metrics import Metrics
from .models import ModelPool
from .settings import ServeSettings

log = logging.getLogger("llmkit.serve")


class _TooLarge(Exception):
    pass


class LimitsAndMetrics:
    """Pure ASGI middleware: refuses bodies over ``max_body_bytes`` (413, before reading them when the client
    says Content-Length, else as they stream in) and records each request's route, status and latency."""

    def __init__(self, app: Any, settings: ServeSettings, metrics: Metrics):
        self.app, self.max_body, self.metrics = app, settings.max_body_bytes, metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status, seen = time.perf_counter(), [500], [0]
        started = [False]

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0], started[0] = message["status"], True
            await send(message)

        async def receive_wrapper() -> dict:
            message = await receive()
            if message["type"] == "http.request":
                seen[0] += len(message.get("body", b""))
                if seen[0] > self.max_body:
                    raise _TooLarge()
            return message

        try:
            length = int(dict(scope.get("headers", [])).get(b"content-length", b"0") or 0)
        except ValueError:
            length = 0
        try:
            if length > self.max_body:
                raise _TooLarge()
            await self.app(scope, receive_wrapper, send_wrapper)
        except _TooLarge:
            if started[0]:
                raise
            response = errors.error_response(
                413, f"the request body is over this server's limit of {self.max_body} bytes (--max-body-bytes).",
                code="request_too_large")
            await response(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.inc("llmkit_requests_total", route=path, method=scope["method"], status=str(status[0]))
            self.metrics.observe("llmkit_request_duration_seconds", time.perf_counter() - start, route=path)


def create_app(settings: ServeSettings | None = None) -> FastAPI:
    settings = settings or ServeSettings()
    metrics = Metrics()
    pool = ModelPool(settings, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        for name in settings.models:
            log.info("preloading %s", name)
            await pool.preload(name)
        yield
        pool.close()

    app = FastAPI(
        title="llmkit", version=__version__, lifespan=lifespan,
        description="OpenAI-compatible API for every llmkit task: chat, completions, embeddings, speech to text, "
                    "and classification (llmkit's own /v1/classifications). See docs/server.md.",
    )
    app.state.llmkit = Server(settings, pool, metrics)
    errors.install(app)

    from . import routes_audio, routes_encode, routes_text

    for module in (routes_text, routes_encode, routes_audio):
        app.include_router(module.router)

    @app.get("/health", tags=["ops"], summary="Liveness: always open, no key needed")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__,
                "models_loaded": [m["id"] for m in pool.listing() if m["loaded"]]}

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse, dependencies=[Depends(require_key)],
             summary="Prometheus metrics (text format)")
    async def prometheus(_: Request) -> PlainTextResponse:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    app.add_middleware(LimitsAndMetrics, settings=settings, metrics=metrics)
    return app
