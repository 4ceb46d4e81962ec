"""The llama.cpp engine can be dropped right after it is made: xllamacpp's Server hung for ever in its destructor
when its task loop had not started yet (seen in `make test` on a busy machine). Each round runs in a subprocess
with a time limit, so a hang fails the test instead of stalling the suite."""
from __future__ import annotations

import subprocess
import sys

import pytest

from llmkit.engines import llamacpp
from llmkit.hub import is_installed

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (llamacpp.available() and is_installed("smollm2-135m-instruct")),
                       reason="needs xllamacpp and the smollm2 GGUF"),
]

SCRIPT = """
import gc
from llmkit.engines.llamacpp import LlamaCppEngine
from llmkit.hub import resolve
ref = resolve("smollm2-135m-instruct")
for _ in range(8):
    engine = LlamaCppEngine.from_ref(ref, threads=1, n_ctx=256)
    del engine
    gc.collect()
print("ok")
"""


def test_an_engine_dropped_at_once_does_not_hang():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
