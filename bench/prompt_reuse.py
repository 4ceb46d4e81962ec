"""Prompt reuse: time to first token of each turn of a growing multi-turn chat (to ~2,000 tokens of history), llmkit
with prompt reuse against the same engine with reuse off and llama-cpp-python reading the whole history each turn.

    .venv/bin/python bench/prompt_reuse.py                       # all modes, smollm2-135m-instruct, 2 threads
    .venv/bin/python bench/prompt_reuse.py --turns 3 --modes pipeline,pipeline-off   # a quick smoke run

Modes, each in its own process (so none shares a GIL, a cache or memory with another):
- ``pipeline``: ``pipeline("text-generation").chat()``, the default (reuse on, llama.cpp via xllamacpp);
- ``pipeline-off``: the same with ``prompt_cache_mib=0``: every turn reads the whole history (the baseline);
- ``cli``: ``llmkit chat`` in a pseudo-terminal: from the Enter key to the first byte of the answer;
- ``server``: ``llmkit serve`` (2 slots), streaming /v1/chat/completions: to the first content chunk;
- ``llama-cpp-python``: ``Llama.create_chat_completion`` with the cache reset each turn (skipped if not installed).

Each turn sends a ~110-token message and takes a greedy answer of up to 48 tokens. Prints one markdown table:
history length (tokens) -> first-token seconds per mode, and turn N / turn 1 per mode (target: <= 1.2).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

MESSAGE = ("Here is part {n} of my notes on the history of tea: it was first drunk in China, traded along the Silk "
           "Road, carried to Europe by Dutch and Portuguese ships, and grown later in India and Sri Lanka. Tea "
           "houses, ceremonies and taxes shaped whole economies and even started a revolution in Boston harbour. "
           "Reply with one short sentence about part {n}.")
NEW = 48
SYSTEM = "You are a concise assistant."


def turns(n: int) -> list[str]:
    return [MESSAGE.format(n=i + 1) for i in range(n)]


# ---- workers (one process each) -------------------------------------------------------------------------------

def run_pipeline(args, reuse: bool) -> list[dict]:
    from llmkit import pipeline

    kw = {} if reuse else {"prompt_cache_mib": 0}
    pipe = pipeline("text-generation", model=args.model, engine="llamacpp", threads=args.threads, n_ctx=4096, **kw)
    conv = pipe.chat(system=SYSTEM)
    rows = []
    for text in turns(args.turns):
        history = len(pipe.prompt_ids(conv.messages + [{"role": "user", "content": text}], NEW)[0])
        start = time.perf_counter()
        first = None
        for piece in conv.stream(text, temperature=0, max_new_tokens=NEW):
            if first is None and piece:
                first = time.perf_counter() - start
        rows.append({"history": history, "ttft": first})
    return rows


def run_llama_cpp_python(args) -> list[dict]:
    from llama_cpp import Llama

    from llmkit.hub import resolve
    from llmkit.engines.gguf_meta import GGUFInfo

    path = GGUFInfo(resolve(args.model).path, 4096).path
    llm = Llama(model_path=str(path), n_ctx=4096, n_threads=args.threads, n_threads_batch=args.threads, verbose=False)
    messages = [{"role": "system", "content": SYSTEM}]
    rows = []
    for text in turns(args.turns):
        messages.append({"role": "user", "content": text})
        llm.reset()  # no reuse: the whole history is read again, as a client without a prompt cache does
        start = time.perf_counter()
        first, answer = None, ""
        for chunk in llm.create_chat_completion(messages, temperature=0, max_tokens=NEW, stream=True):
            piece = chunk["choices"][0]["delta"].get("content") or ""
            if first is None and piece:
                first = time.perf_counter() - start
            answer += piece
        rows.append({"history": llm.n_tokens - 1, "ttft": first})
        messages.append({"role": "assistant", "content": answer})
    return rows


def run_server(args) -> list[dict]:
    import httpx

    sys.path.insert(0, os.path.dirname(__file__))
    from serve import Server

    flags = ["--model", args.model, "--generation-slots", "2", "--n-ctx", "4096"]
    if args.threads:
        flags += ["--threads", str(args.threads)]
    rows = []
    with Server(*flags) as server, httpx.Client(base_url=server.url, timeout=600) as client:
        messages = [{"role": "system", "content": SYSTEM}]
        for text in turns(args.turns):
            messages.append({"role": "user", "content": text})
            body = {"model": args.model, "messages": messages, "temperature": 0, "max_tokens": NEW, "stream": True,
                    "stream_options": {"include_usage": True}}
            start = time.perf_counter()
            first, answer, history = None, "", None
            with client.stream("POST", "/v1/chat/completions", json=body) as r:
                for line in r.iter_lines():
                    if not line.startswith("data: ") or line == "data: [DONE]":
                        continue
                    chunk = json.loads(line[6:])
                    if chunk.get("usage"):
                        history = chunk["usage"]["prompt_tokens"]
                    for choice in chunk.get("choices") or []:
                        piece = (choice.get("delta") or {}).get("content") or ""
                        if first is None and piece:
                            first = time.perf_counter() - start
                        answer += piece
            rows.append({"history": history, "ttft": first})
            messages.append({"role": "assistant", "content": answer})
    return rows


def run_cli(args) -> list[dict]:
    """``llmkit chat`` in a pseudo-terminal (it is interactive only on a terminal): type a line, time the first
    byte printed after the terminal's echo of it."""
    import pty
    import select

    cmd = [sys.executable, "-m", "llmkit.cli", "chat", "-m", args.model, "--engine", "llamacpp", "--temperature", "0",
           "--max-new-tokens", str(NEW), "--context", "4096", "--system", SYSTEM]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(sys.executable, cmd)
    buf = b""

    def read_until(pred, timeout=900.0) -> None:
        nonlocal buf
        deadline = time.monotonic() + timeout
        while not pred(buf):
            if time.monotonic() > deadline:
                raise TimeoutError(buf[-300:])
            if select.select([fd], [], [], 1.0)[0]:
                buf += os.read(fd, 4096)
    rows = []
    try:
        read_until(lambda b: b.rstrip().endswith(b">>>"))
        for text in turns(args.turns):
            buf = b""
            start = time.perf_counter()
            os.write(fd, text.encode() + b"\r")
            echo = text[-20:].encode()
            read_until(lambda b: echo in b and b.split(echo, 1)[1].strip(b"\r\n") != b"")
            rows.append({"history": None, "ttft": time.perf_counter() - start})
            read_until(lambda b: b.rstrip().endswith(b">>>"))
    finally:
        os.write(fd, b"/exit\r")
        os.waitpid(pid, 0)
    return rows


WORKERS = {"pipeline": lambda a: run_pipeline(a, True), "pipeline-off": lambda a: run_pipeline(a, False),
           "cli": run_cli, "server": run_server, "llama-cpp-python": run_llama_cpp_python}


# ---- driver -----------------------------------------------------------------------------------------------------

def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--turns", type=int, default=14, help="turns per chat (14: ~2,000 tokens of history)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--modes", default="pipeline,pipeline-off,cli,server,llama-cpp-python")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)))
        return
    results = {}
    for mode in args.modes.split(","):
        if mode == "llama-cpp-python":
            import importlib.util

            if importlib.util.find_spec("llama_cpp") is None:
                print("llama-cpp-python is not installed: skipped", file=sys.stderr)
                continue
        out = subprocess.run([sys.executable, __file__, "--worker", mode, "--model", args.model, "--turns",
                              str(args.turns), "--threads", str(args.threads)], capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{mode} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
            continue
        results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{mode}: " + " ".join(f"{r['ttft']:.3f}" for r in results[mode]), file=sys.stderr)
    print_table(args, results)


def print_table(args, results: dict[str, list[dict]]) -> None:
    modes = list(results)
    history = next((r for r in results.values() if r[0]["history"] is not None), None) or []
    print(f"\nTime to first token (s) per turn, {args.model}, {args.threads} threads, greedy answers of <= {NEW} tokens")
    print("| turn | history (tokens) | " + " | ".join(modes) + " |")
    print("|---:|---:|" + "---:|" * len(modes))
    for i in range(args.turns):
        hist = history[i]["history"] if i < len(history) else ""
        print(f"| {i + 1} | {hist} | " + " | ".join(f"{results[m][i]['ttft']:.3f}" for m in modes) + " |")
    print(f"| last / first | | " + " | ".join(f"{results[m][-1]['ttft'] / results[m][0]['ttft']:.2f}x"
                                               for m in modes) + " |")


if __name__ == "__main__":
    main()
