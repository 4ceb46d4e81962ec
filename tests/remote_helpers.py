"""Servers for the remote-provider tests, all real HTTP on 127.0.0.1: ``Recorder``, a small server that plays
OpenAI's and Anthropic's streaming APIs and records what arrives (it answers by echoing the last user message),
and ``serve_url``, a real ``llmkit serve`` (a subprocess with the real chat model and an API key) that plays both
providers for the SDKs (tests/test_remote*.py, tests/test_ui_remote.py)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from conftest import REAL_HOME

KEY = "sk-serve-test"
CHAT = "smollm2-135m-instruct"
HI = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]

@pytest.fixture(scope="module")
def serve_url():
    if os.environ.get("LLMKIT_TEST_SERVE_URL"):  # a server already running (started with --api-key sk-serve-test)
        yield os.environ["LLMKIT_TEST_SERVE_URL"]
        return
    from llmkit.serve.background import free_port

    port = free_port()
    env = {**os.environ, "LLMKIT_HOME": REAL_HOME, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "llmkit.cli", "serve", "--port", str(port), "--api-key", KEY,
                             "--model", CHAT], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            if proc.poll() is not None:
                pytest.fail("llmkit serve exited: " + proc.stderr.read().decode()[-2000:])
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def keyed(monkeypatch, tmp_path):
    """The client's own home: the right key for a custom endpoint, no retries (errors come at once)."""
    monkeypatch.setenv("LLMKIT_REMOTE_API_KEY", KEY)
    home = tmp_path / "client-home"
    home.mkdir()
    (home / "config.toml").write_text("[remote.openai]\nmax_retries = 0\n[remote.anthropic]\nmax_retries = 0\n")
    monkeypatch.setenv("LLMKIT_HOME", str(home))
    return home


class Recorder(ThreadingHTTPServer):
    """Answers /v1/chat/completions (OpenAI SSE) and /v1/messages (Anthropic SSE) by echoing the last user message
    back in small pieces (so placeholders get cut across pieces), /v1/messages/count_tokens with 7; records every
    body it receives."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.status: tuple[int, dict] | None = None  # answer every request with this error instead
        self.delay = 0.0  # seconds before answering
        self.cut: int | None = None  # send only this many events, then close (a provider failing mid-stream)
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.bodies.append(body)
        time.sleep(self.server.delay)
        if self.server.status:
            self._json(*self.server.status)
            return
        if self.path.endswith("/count_tokens"):  # Anthropic's count: a fixed number (what arrived is recorded)
            self._json(200, {"input_tokens": 7})
            return
        text = "You said: " + [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
        pieces = [text[i:i + 3] for i in range(0, len(text), 3)]
        events = _openai(pieces) if self.path.endswith("/chat/completions") else _anthropic(pieces)
        events = events[:self.server.cut] if self.server.cut is not None else events
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        try:
            for ev in events:
                self.wfile.write(ev.encode())
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):  # the client stopped reading (a stop string, a timeout)
            pass

    def _json(self, code: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _openai(pieces: list[str]) -> list[str]:
    head = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "m"}
    out = [{**head, "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]} for p in pieces]
    out.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    out.append({**head, "choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": len(pieces),
                                                   "total_tokens": 11 + len(pieces)}})
    return [f"data: {json.dumps(c)}\n\n" for c in out] + ["data: [DONE]\n\n"]


def _anthropic(pieces: list[str]) -> list[str]:
    msg = {"id": "m1", "type": "message", "role": "assistant", "model": "m", "content": [], "stop_reason": None,
           "stop_sequence": None, "usage": {"input_tokens": 9, "output_tokens": 0}}
    evs = [("message_start", {"type": "message_start", "message": msg}),
           ("content_block_start", {"type": "content_block_start", "index": 0,
                                    "content_block": {"type": "text", "text": ""}})]
    evs += [("content_block_delta", {"type": "content_block_delta", "index": 0,
                                     "delta": {"type": "text_delta", "text": p}}) for p in pieces]
    evs += [("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                               "usage": {"output_tokens": len(pieces)}}),
            ("message_stop", {"type": "message_stop"})]
    return [f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in evs]
