"""A server in a background thread of this process, on 127.0.0.1 and a free port: for tests, notebooks and
benchmarks that want a real socket without a subprocess.

>>> with running(ServeSettings(port=0)) as url:              # doctest: +SKIP
...     httpx.get(url + "/health").json()
{'status': 'ok', ...}
"""
from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from .settings import ServeSettings


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextmanager
def running(settings: ServeSettings, *, timeout: float = 300.0) -> Iterator[str]:
    """Start uvicorn with ``create_app(settings)`` (port 0: a free one); yield its base URL; stop it on exit."""
    import uvicorn

    from .app import create_app

    port = settings.port or free_port(settings.host)
    settings = settings.model_copy(update={"port": port})
    config = uvicorn.Config(create_app(settings), host=settings.host, port=port, log_level="warning",
                            lifespan="on", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="llmkit-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout  # preloading models (--model) happens before `started`
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the server stopped while starting; see the log above")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise TimeoutError(f"the server did not start within {timeout:.0f} s")
        time.sleep(0.05)
    try:
        yield f"http://{settings.host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
