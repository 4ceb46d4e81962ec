"""``create_app(settings)``: the FastAPI app. Routes live in ``routes_*.py``; this file wires them up with the
Host check, the body-size and body-time limits, request metrics, the error handler and model preloading.

>>> from llmkit.serve import create_app, ServeSettings
>>> app = create_app(ServeSettings(api_keys=["sk-local"]))      # then: uvicorn.run(app, port=8000)
"""
from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.exceptions import HTTPException

from .. import __version__
from ..netguard import HostGuard, allowed_hosts, check_bind
from . import errors
from .deps import Server, require_key
from .metrics import Metrics
from .models import ModelPool
from .settings import ServeSettings

log = logging.getLogger("llmkit.serve")


# Metric labels must come from a small fixed set: any other method a client invents counts as "other".
METHODS = frozenset({"GET", "POST", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})


class LimitsAndMetrics:
    """Pure ASGI middleware: refuses bodies over ``max_body_bytes`` (413, before reading them when the client
    says Content-Length, else as a chunked body streams in), answers 408 when a body has not fully arrived within
    ``body_timeout_s`` of the request's start (a stalled or trickling upload), and records each request's route,
    method, status and latency.

    Both errors are raised from inside the app's body reading as ``HTTPException``s: FastAPI passes those
    through (any other exception there becomes a 400 "error parsing the body"), and the error handler gives them
    the OpenAI shape."""

    def __init__(self, app: Any, settings: ServeSettings, metrics: Metrics):
        self.app, self.max_body, self.metrics = app, settings.max_body_bytes, metrics
        self.body_timeout = settings.body_timeout_s
        self.too_large = f"the request body is over this server's limit of {self.max_body} bytes (--max-body-bytes)."

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status, seen, body_done = time.perf_counter(), [500], [0], [False]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        async def receive_wrapper() -> dict:
            if body_done[0]:  # after the body, receive() waits for the client to leave: no deadline then
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                raise HTTPException(408, f"the request body did not arrive within {self.body_timeout:g} s "
                                         "(--body-timeout-s); send it faster or in a smaller request.") from None
            if message["type"] == "http.request":
                seen[0] += len(message.get("body", b""))
                body_done[0] = not message.get("more_body", False)
                if seen[0] > self.max_body:
                    raise HTTPException(413, self.too_large)
            else:
                body_done[0] = True
            return message

        try:
            length = int(dict(scope.get("headers", [])).get(b"content-length", b"0") or 0)
        except ValueError:
            length = 0
        try:
            if length > self.max_body:  # refused before reading a byte of it
                response = errors.error_response(413, self.too_large, code="request_too_large")
                await response(scope, receive, send_wrapper)
                return
            await self.app(scope, receive_wrapper, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            method = scope["method"] if scope["method"] in METHODS else "other"
            self.metrics.inc("llmkit_requests_total", route=path, method=method, status=str(status[0]))
            self.metrics.observe("llmkit_request_duration_seconds", time.perf_counter() - start, route=path)


def create_app(settings: ServeSettings | None = None) -> FastAPI:
    """The app for ``settings``. Refuses (``InputError``) a non-loopback ``host`` without ``api_keys``, and a
    ``device`` that is not there: every way to run the server (``llmkit serve``, ``serve()``, your own ASGI
    server) goes through here."""
    settings = settings or ServeSettings()
    check_bind(settings.host, bool(settings.api_keys), "--api-key KEY (or set LLMKIT_SERVE_API_KEYS)")
    from ..devices import check, resolve_torch

    check(settings.device, settings.precision)
    resolve_torch(settings.device)  # no GPU there: one line now, not a 500 on the first request
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
        title="llmkit", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None,
        description="OpenAI-compatible API for every llmkit task: chat, completions, embeddings, speech to text, "
                    "and classification (llmkit's own /v1/classifications); Anthropic's /v1/messages too. "
                    "See docs/server.md.",
    )
    app.state.llmkit = Server(settings, pool, metrics)
    errors.install(app)

    from . import routes_audio, routes_encode, routes_messages, routes_speech, routes_text

    for module in (routes_text, routes_messages, routes_encode, routes_audio, routes_speech):
        app.include_router(module.router)

    @app.get("/health", tags=["ops"], summary="Liveness: always open, no key needed")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__,
                "models_loaded": [m["id"] for m in pool.listing() if m["loaded"]]}

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse, dependencies=[Depends(require_key)],
             summary="Prometheus metrics (text format)")
    async def prometheus(_: Request) -> PlainTextResponse:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    _add_docs(app, settings)
    app.add_middleware(LimitsAndMetrics, settings=settings, metrics=metrics)
    # Outermost: a request for a Host this server does not answer to (DNS rebinding) gets 403 before anything.
    app.add_middleware(HostGuard, allowed=allowed_hosts(settings.host, settings.allowed_hosts))
    return app


def _add_docs(app: FastAPI, settings: ServeSettings) -> None:
    """/openapi.json, /docs and /redoc: behind the API key like every route (the schema lists what the server
    can do), unless ``open_docs``. A browser sends no Bearer header, so with keys set, browse them with
    ``--open-docs`` or fetch /openapi.json with the key."""
    guard = [] if settings.open_docs else [Depends(require_key)]

    @app.get("/openapi.json", include_in_schema=False, dependencies=guard)
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=guard)
    async def swagger():
        return get_swagger_ui_html(openapi_url="/openapi.json", title="llmkit API")

    @app.get("/redoc", include_in_schema=False, dependencies=guard)
    async def redoc():
        return get_redoc_html(openapi_url="/openapi.json", title="llmkit API")
