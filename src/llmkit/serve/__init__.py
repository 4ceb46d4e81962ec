"""The OpenAI-compatible HTTP server: ``llmkit serve`` or ``create_app(settings)``. See docs/server.md.

>>> from llmkit.serve import serve
>>> serve(port=8000, models=["smollm2-135m-instruct"], api_keys=["sk-local"])    # doctest: +SKIP
"""
from __future__ import annotations

from typing import Any

from .app import create_app
from .settings import ServeSettings, load_settings

__all__ = ["create_app", "ServeSettings", "load_settings", "serve"]


def serve(settings: ServeSettings | None = None, *, config: str | None = None, **overrides: Any) -> None:
    """Run the server in this process until Ctrl-C (uvicorn, one worker: models are shared in memory)."""
    import uvicorn

    settings = settings or load_settings(config, **overrides)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level,
                timeout_graceful_shutdown=5)
