"""The HTTP server under load: throughput, p50/p99 latency and errors per endpoint; dynamic batching on vs off;
streaming chat time to first token under concurrent streams.

    .venv/bin/python bench/serve.py [--clients 32] [--requests 320] [--streams 8] [--skip-asr]
    .venv/bin/python bench/serve.py --chat-only --generation-slots 1,8   # chat alone, one slot vs eight

Each configuration starts its own `llmkit serve` subprocess on 127.0.0.1 (so client and server do not share a
GIL), warms the model up, then fires requests from an asyncio httpx client with a fixed number in flight.
Texts are the fine-food test reviews (one per request: the case batching is for). Prints a markdown table.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

CHAT = "smollm2-135m-instruct"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, *flags: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "llmkit.cli", "serve", "--port", str(self.port), "--log-level", "warning", *flags]
        self.proc = subprocess.Popen(cmd, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})

    def __enter__(self) -> "Server":
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.3)
        raise TimeoutError("server did not start")

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))] if xs else float("nan")


async def load(url: str, path: str, bodies: list[dict], clients: int, files: bytes | None = None) -> dict:
    """``len(bodies)`` requests, ``clients`` in flight at once; returns throughput and latencies.

    JSON requests go through a minimal keep-alive HTTP/1.1 client on raw asyncio streams, pre-encoded: httpx
    costs a few ms of CPU per request, and on a 2-core machine shared with the server it capped the measurement
    at ~110 req/s (the server's own latency histogram said every request took < 0.25 s while httpx saw 1.5 s).
    Uploads (multipart) use httpx."""
    if files is not None:
        return await _load_httpx(url, path, bodies, clients, files)
    host, port = url.split("//")[1].split(":")
    raw = [(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(b)}\r\n\r\n").encode() + b for b in (json.dumps(x).encode() for x in bodies)]
    lat: list[float] = []
    errors = 0
    queue: asyncio.Queue = asyncio.Queue()
    for r in raw:
        queue.put_nowait(r)

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while not queue.empty():
                request = queue.get_nowait()
                t = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                await reader.readexactly(length)
                lat.append(time.perf_counter() - t)
                errors += not head.startswith(b"HTTP/1.1 200")
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    wall = time.perf_counter() - start
    return {"n": len(bodies), "rps": len(bodies) / wall, "p50": pct(lat, 0.5), "p99": pct(lat, 0.99),
            "errors": errors, "wall": wall}


async def _load_httpx(url: str, path: str, bodies: list[dict], clients: int, files: bytes) -> dict:
    lat: list[float] = []
    errors = 0
    queue: asyncio.Queue = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as c:
        async def worker() -> None:
            nonlocal errors
            while not queue.empty():
                body = queue.get_nowait()
                t = time.perf_counter()
                r = await c.post(path, data=body, files={"file": ("clip.wav", files)})
                lat.append(time.perf_counter() - t)
                errors += r.status_code != 200

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - start
    return {"n": len(bodies), "rps": len(bodies) / wall, "p50": pct(lat, 0.5), "p99": pct(lat, 0.99),
            "errors": errors, "wall": wall}


async def streams(url: str, n_streams: int, rounds: int, max_tokens: int) -> dict:
    """``n_streams`` concurrent streaming chats, ``rounds`` each: time to first token and tokens/s."""
    ttft: list[float] = []
    tokens = 0
    errors = 0
    async with httpx.AsyncClient(base_url=url, timeout=600) as c:
        async def one(i: int) -> None:
            nonlocal tokens, errors
            for r_ in range(rounds):
                body = {"model": CHAT, "messages": [{"role": "user", "content": f"Tell me a fact about the number {i * 10 + r_}."}],
                        "max_tokens": max_tokens, "temperature": 0.2, "seed": i, "stream": True,
                        "stream_options": {"include_usage": True}, "user": f"client{i}"}
                t = time.perf_counter()
                first = None
                async with c.stream("POST", "/v1/chat/completions", json=body) as r:
                    if r.status_code != 200:
                        errors += 1
                        await r.aread()
                        continue
                    async for line in r.aiter_lines():
                        if first is None and '"content": "' in line and '"content": ""' not in line:
                            first = time.perf_counter() - t
                        if '"usage"' in line and '"completion_tokens"' in line:
                            tokens += json.loads(line[6:])["usage"]["completion_tokens"]
                ttft.append(first if first is not None else time.perf_counter() - t)

        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n_streams)))
        wall = time.perf_counter() - start
    return {"n": n_streams * rounds, "ttft_p50": pct(ttft, 0.5), "ttft_p99": pct(ttft, 0.99),
            "tok_s": tokens / wall, "errors": errors, "wall": wall}


def texts(n: int, kind: str = "reviews") -> list[str]:
    """``reviews``: fine-food test reviews cut to 400 characters (~70 tokens); ``sentences``: the first sentence
    of each, at most 80 characters (~17 tokens), the length of a search query or a chat message."""
    from llmkit.train.data import load_dataset

    rows = load_dataset("fine_food_reviews", "test")
    pick = (lambda t: t[:400]) if kind == "reviews" else (lambda t: t.split(".")[0][:80] or t[:80])
    return [pick(rows[i % len(rows)]["text"]) for i in range(n)]


def speech_clip() -> bytes | None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from speech_fixtures import SENTENCES, have_tools, synthesize

    if not have_tools():
        return None
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        return synthesize(SENTENCES[0], Path(d) / "clip.wav").read_bytes()


def row(name: str, r: dict) -> str:
    return (f"| {name} | {r['n']} | {r['rps']:.1f} | {r['p50'] * 1000:.0f} | {r['p99'] * 1000:.0f} | "
            f"{r['errors']} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--requests", type=int, default=320)
    ap.add_argument("--streams", type=int, default=8)
    ap.add_argument("--stream-rounds", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--classifier", default="minilm-sentiment")
    ap.add_argument("--skip-asr", action="store_true")
    ap.add_argument("--encoders-only", action="store_true", help="only the batching runs (embeddings, classification)")
    ap.add_argument("--chat-only", action="store_true", help="only the chat runs")
    ap.add_argument("--generation-slots", default="1", help="comma-separated --generation-slots values, one chat "
                    "run each (e.g. 1,8)")
    args = ap.parse_args()
    from llmkit.errors import LlmkitError
    from llmkit.hub import resolve

    try:
        resolve(args.classifier, build=False)
        classifier = args.classifier
    except LlmkitError as e:
        print(f"note: no classification run: {e}", file=sys.stderr)
        classifier = None

    data = texts(args.requests)
    print(f"`uptime` before: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    lines = ["| endpoint (batching) | requests | req/s | p50 ms | p99 ms | errors |", "|---|---|---|---|---|---|"]
    ratios = {}
    kinds = [] if args.chat_only else [("embeddings", "/v1/embeddings", "all-minilm-l6-v2")]
    if classifier and not args.chat_only:
        kinds.append(("classifications", "/v1/classifications", classifier))
    for kind, path, model in kinds:
        for text_kind in ("reviews", "sentences"):
            bodies = [{"model": model, "input": t} for t in texts(args.requests, text_kind)]
            res = {}
            for label, flags in (("one at a time", ["--batch-max-size", "1"]), ("dynamic", [])):
                with Server("--model", model, *flags) as s:
                    asyncio.run(load(s.url, path, bodies[:args.clients * 2], args.clients))  # warm-up
                    res[label] = asyncio.run(load(s.url, path, bodies, args.clients))
                lines.append(row(f"{path}, {text_kind} ({label})", res[label]))
                print(lines[-1], flush=True)
            ratios[f"{kind}, {text_kind}"] = res["dynamic"]["rps"] / res["one at a time"]["rps"]
    if args.encoders_only:
        print("\n".join(["", *lines, ""]))
        for kind, r in ratios.items():
            print(f"dynamic batching / one at a time, {kind}, {args.clients} clients: {r:.2f}x")
        return 0

    chats = {}
    for slots in [int(x) for x in args.generation_slots.split(",")]:
        # every bench client comes from 127.0.0.1 with no key, which fair queueing counts as one client: let it
        # queue as much as the whole queue holds (--queue-per-client), or the load test measures its own 429s
        with Server("--model", CHAT, "--generation-slots", str(slots), "--queue-per-client", "64") as s:
            asyncio.run(streams(s.url, 1, 1, 4))  # warm-up
            chats[slots] = asyncio.run(streams(s.url, args.streams, args.stream_rounds, args.max_tokens))
            bodies = [{"model": CHAT, "messages": [{"role": "user", "content": t[:200]}], "max_tokens": 8}
                      for t in data[: max(args.clients, args.requests // 8)]]
            plain = asyncio.run(load(s.url, "/v1/chat/completions", bodies, args.clients))
            lines.append(row(f"/v1/chat/completions (fair queue, {slots} generation slot(s), max_tokens 8)", plain))
    asr = None
    clip = None if args.skip_asr or args.chat_only else speech_clip()
    if clip:
        with Server("--model", "whisper-tiny.en") as s:
            asyncio.run(load(s.url, "/v1/audio/transcriptions", [{"model": "whisper-tiny.en"}], 1, clip))
            asr = asyncio.run(load(s.url, "/v1/audio/transcriptions", [{"model": "whisper-tiny.en"}] * 16, 4, clip))
        lines.append(row("/v1/audio/transcriptions (4 clients, 3.5 s clip)", asr))

    print()
    print("\n".join(lines))
    print()
    for kind, r in ratios.items():
        print(f"dynamic batching / one at a time, {kind}, {args.clients} clients: {r:.2f}x")
    for slots, chat in chats.items():
        print(f"streaming chat, {slots} generation slot(s), {args.streams} concurrent streams x {args.stream_rounds}, "
              f"max_tokens {args.max_tokens}: time to first token p50 {chat['ttft_p50'] * 1000:.0f} ms, "
              f"p99 {chat['ttft_p99'] * 1000:.0f} ms; {chat['tok_s']:.1f} tokens/s in total; errors {chat['errors']}")
    print(f"`uptime` after: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
