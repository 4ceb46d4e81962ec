"""``llmkit serve --replicas 2`` on Ray Serve, on 127.0.0.1 with a local Ray of 2 CPUs: the openai SDK's chat,
embeddings and transcription calls work through Ray's proxy, requests reach both replicas, and a replica killed
under load loses only requests that were on it and comes back."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from speech_fixtures import have_tools, synthesize, wer

pytest.importorskip("ray.serve")
pytestmark = [pytest.mark.slow, pytest.mark.real_home]

HEADER = "x-llmkit-replica"
SENTENCE = "The train to London leaves from platform two in ten minutes."


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster():
    """The real command in a subprocess; yields (base url, its process). Ctrl-C (SIGINT) stops Ray with it."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmkit.cli", "serve", "--replicas", "2", "--port", str(port),
         "--model", "smollm2-135m-instruct", "--model", "all-minilm-l6-v2", "--model", "whisper-tiny.en"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    ready = threading.Event()
    out: list[str] = []

    def watch() -> None:
        for line in proc.stdout:
            out.append(line)
            if "with 2 replica(s) on Ray Serve" in line:
                ready.set()

    threading.Thread(target=watch, daemon=True).start()
    if not ready.wait(420):
        proc.send_signal(signal.SIGINT)
        pytest.fail(f"llmkit serve --replicas 2 did not start: {''.join(out)}{proc.stderr.read()[-3000:]}")
    yield f"http://127.0.0.1:{port}", proc
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_sdk_calls_and_both_replicas_answer(cluster, tmp_path):
    from openai import OpenAI

    url, _ = cluster
    client = OpenAI(base_url=url + "/v1", api_key="none", max_retries=0)
    chat = client.chat.completions.create(model="smollm2-135m-instruct", max_tokens=8, temperature=0,
                                          messages=[{"role": "user", "content": "Say hello."}])
    assert chat.choices[0].message.content.strip()
    emb = client.embeddings.create(model="all-minilm-l6-v2", input=["a cup of tea", "a mug of coffee"])
    assert len(emb.data) == 2 and len(emb.data[0].embedding) == 384
    if have_tools():
        wav = synthesize(SENTENCE, tmp_path / "s.wav")
        with open(wav, "rb") as f:
            heard = client.audio.transcriptions.create(model="whisper-tiny.en", file=f).text
        assert wer(SENTENCE, heard) < 0.35, heard

    seen = set()
    for _ in range(20):
        raw = client.embeddings.with_raw_response.create(model="all-minilm-l6-v2", input="hello")
        seen.add(raw.headers[HEADER])
    assert len(seen) == 2, seen  # Ray's proxy spreads requests over both replicas
    health = httpx.get(url + "/health", timeout=30).json()
    assert health["replicas"] == {"running": 2, "target": 2}
    assert health["replica"] in seen


def _replica_pids(parent: int) -> list[int]:
    import psutil

    return [p.pid for p in psutil.Process(parent).children(recursive=True)
            if "ServeReplica" in " ".join(p.cmdline())]


def test_a_killed_replica_loses_only_its_requests_and_comes_back(cluster):
    url, proc = cluster
    pids = _replica_pids(proc.pid)
    assert len(pids) == 2
    calls: list[tuple[float, float, int, str]] = []  # (start, end, status, replica)
    killed_at = []

    def call(i: int) -> None:
        start = time.monotonic()
        try:
            r = httpx.post(url + "/v1/embeddings", json={"model": "all-minilm-l6-v2", "input": f"text number {i}"},
                           timeout=120)
            status, replica = r.status_code, r.headers.get(HEADER, "")
        except httpx.HTTPError:
            status, replica = 0, ""
        calls.append((start, time.monotonic(), status, replica))
        if i == 40:  # a quarter of the way through the bounded run
            killed_at.append(time.monotonic())
            os.kill(pids[0], signal.SIGKILL)

    with ThreadPoolExecutor(4) as pool:  # 4 at a time: at most 4 are in flight when the replica dies
        list(pool.map(call, range(160)))
    assert killed_at
    failed = [c for c in calls if c[2] != 200]
    # a failure was in flight at the kill: started before it and finished after it
    assert all(start <= killed_at[0] <= end for start, end, _, _ in failed), failed
    assert len(failed) <= 4, failed
    assert sum(c[2] == 200 and c[0] > killed_at[0] for c in calls) > 0  # the rest went on to the live replica

    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # Ray's controller starts a new replica
        health = httpx.get(url + "/health", timeout=30).json()
        if health["replicas"]["running"] == 2:
            break
        time.sleep(2)
    assert health["replicas"] == {"running": 2, "target": 2}
    assert len(_replica_pids(proc.pid)) == 2 and pids[0] not in _replica_pids(proc.pid)


# ---- bad input: one line, nothing started ----------------------------------------------------------------------

def _one_line(r, code: int, *words: str) -> None:
    err = r.stderr.decode().strip()
    assert r.returncode == code, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in err, err


def test_without_ray_serve_says_which_pip_install_fixes_it(tmp_path):
    from pathlib import Path

    from cli_helpers import llmkit

    shim = tmp_path / "shim" / "ray"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    src = Path(__file__).resolve().parent.parent / "src"
    r = llmkit("serve", "--replicas", "2", env={"PYTHONPATH": os.pathsep.join([str(tmp_path / "shim"), str(src)])})
    _one_line(r, 1, "pip install 'llmkit[ray]'")


def test_bad_replicas_and_an_unreachable_cluster_are_one_line():
    from cli_helpers import llmkit

    _one_line(llmkit("serve", "--replicas", "0"), 2, "--replicas must be >= 1")
    # a closed port is found before Ray is asked (Ray Client retries it for a minute, a GCS address for minutes)
    for address in (f"ray://127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"):
        r = llmkit("serve", "--replicas", "2", "--ray", address, timeout=300)
        _one_line(r, 1, f"cannot reach the Ray cluster at --ray {address}", "ray start --head")
