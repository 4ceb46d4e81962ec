"""Run the real CLI in a subprocess, as a user would."""
from __future__ import annotations

import os
import subprocess
import sys


def llmkit(*args: str, input: bytes | str | None = None, env: dict | None = None, timeout: int = 300):
    full_env = {**os.environ, **(env or {})}
    if isinstance(input, str):
        input = input.encode()
    return subprocess.run([sys.executable, "-m", "llmkit.cli", *args], input=input, capture_output=True,
                          env=full_env, timeout=timeout)
