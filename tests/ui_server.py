"""`llmkit ui` started as a user starts it, in its own process on a free 127.0.0.1 port (for the web-app tests)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_ui(args: list[str], log_path: Path, env: dict[str, str] | None = None,
               timeout: float = 180) -> Iterator[str]:
    """Yield the app's URL (``http://127.0.0.1:PORT``) once it answers; stop it afterwards."""
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "TOKENIZERS_PARALLELISM": "false", **(env or {})}
    env.pop("LLMKIT_UI_AUTH", None)  # only what the test passes
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "llmkit.cli", "ui", "--port", str(port), *args], env=env,
                                stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError("llmkit ui exited: " + log_path.read_text()[-3000:])
            try:
                urllib.request.urlopen(url + "/", timeout=2)  # a login page answers 200 too
                break
            except OSError:
                if time.time() > deadline:
                    proc.kill()
                    raise RuntimeError(f"llmkit ui did not start in {timeout:.0f} s") from None
                time.sleep(0.5)
        try:
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
