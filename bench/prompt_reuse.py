"""Prompt reuse: time to first token of each turn of a growing multi-turn chat (to ~2,000 tokens of history), llmkit
with prompt reuse against the same engine with reuse off and llama-cpp-python reading the whole history each turn.

    .venv/bin/python bench/prompt_reuse.py                       # all modes, the default chat model, 2 threads
    .venv/bin/python bench/prompt_reuse.py --model smollm2-135m-instruct --rounds 3   # the smallest model, 3 rounds
    .venv/bin/python bench/prompt_reuse.py --turns 3 --modes pipeline,pipeline-off   # a quick smoke run

Modes, each in its own process (so none shares a GIL, a cache or memory with another):
- ``pipeline``: ``pipeline("text-generation").chat()``, the default (reuse on, llama.cpp via xllamacpp);
- ``pipeline-off``: the same with ``prompt_cache_mib=0``: every turn reads the whole history (the baseline);
- ``cli``: ``llmkit chat`` in a pseudo-terminal: from the Enter key to the first byte of the answer;
- ``server``: ``llmkit serve`` (2 slots), streaming /v1/chat/completions: to the first content chunk;
- ``llama-cpp-python``: ``Llama.create_chat_completion`` with the cache reset each turn (skipped if not installed).

Each turn sends a ~110-token message and takes a greedy answer of up to 48 tokens. Prints one markdown table:
history length (tokens) -> first-token seconds per mode, and turn N / turn 1 per mode (target: <= 1.2). With
``--rounds R`` every mode runs R times (rounds alternate the modes) and each cell is the median of R.

What no cache removes: each new token still attends to the whole history, so the first token of a long chat costs
more than the first of a short one by the attention's share of the work. Per token, the weights cost ~2 x parameters
FLOPs and attention ~4 x layers x heads x head size x history; at 1,800 tokens that is ~38% more for SmolLM2-135M
(30 x 9 x 64 against 135M parameters) but ~8% for Qwen2.5-Coder-1.5B (28 x 12 x 128 against 1.5B).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
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
    """Needs only llama_cpp (``--lcpp-python`` may be a throwaway venv without llmkit): the parent passes the file
    and the rendered turns."""
    from llama_cpp import Llama

    llm = Llama(model_path=args.gguf, n_ctx=4096, n_threads=args.threads, n_threads_batch=args.threads, verbose=False)
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


def run_depth(args) -> list[dict]:
    """The engine's own floor: the same ~110 new tokens read after a short history and after a long one (~2,000
    tokens), alternating, each history pinned to its own slot so both stay cached; llama.cpp's prompt timings."""
    from llmkit import pipeline

    pipe = pipeline("text-generation", model=args.model, engine="llamacpp", threads=args.threads, n_ctx=4096,
                    parallel=2)
    history = [{"role": "system", "content": SYSTEM}]
    for text in turns(args.turns):  # a fixed answer per turn: the same history whatever the model would say
        history += [{"role": "user", "content": text},
                    {"role": "assistant", "content": "Tea moved from China along trade routes to Europe, India and "
                                                     "Sri Lanka, and it shaped economies and even a revolution."}]
    short = history[:1]
    rows = []
    for i in range(-1, args.repeats):  # -1: fills both slots, not timed
        for slot, past in ((0, short), (1, history)):
            ids, _ = pipe.prompt_ids([*past, {"role": "user", "content": MESSAGE.format(n=100 + i)}], NEW)
            body = {"prompt": ids, "n_predict": 1, "temperature": 0, "cache_prompt": True, "id_slot": slot}
            start = time.perf_counter()
            timings = pipe.engine.server.handle_completions(body)["timings"]
            if i >= 0:
                rows.append({"history": len(ids), "read": timings["prompt_n"], "prompt_ms": timings["prompt_ms"],
                             "ttft": time.perf_counter() - start})
    return rows


def print_depth(args, rows: list[dict]) -> None:
    short, long = rows[0::2], rows[1::2]
    med = {name: {k: statistics.median(r[k] for r in part) for k in ("history", "read", "prompt_ms")}
           for name, part in (("short", short), ("long", long))}
    print(f"\nThe same new message after a short and a long history, {args.model}, {args.threads} threads, "
          f"median of {len(short)} alternating reads (llama.cpp's prompt timings)")
    print("| history (tokens) | tokens read | ms |")
    print("|---:|---:|---:|")
    for name in ("short", "long"):
        print(f"| {med[name]['history']:.0f} | {med[name]['read']:.0f} | {med[name]['prompt_ms']:.0f} |")
    ratio = med["long"]["prompt_ms"] / med["short"]["prompt_ms"]
    print(f"long / short: {ratio:.2f}x (the part of the first-token time that grows with the history)")


WORKERS = {"pipeline": lambda a: run_pipeline(a, True), "pipeline-off": lambda a: run_pipeline(a, False),
           "cli": run_cli, "server": run_server, "llama-cpp-python": run_llama_cpp_python, "depth": run_depth}


# ---- driver -----------------------------------------------------------------------------------------------------

def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None, help="default: the default chat model (catalog)")
    p.add_argument("--turns", type=int, default=14, help="turns per chat (14: ~2,000 tokens of history)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--modes", default="pipeline,pipeline-off,cli,server,llama-cpp-python")
    p.add_argument("--rounds", type=int, default=1, help="runs per mode (alternating); cells are medians")
    p.add_argument("--depth", action="store_true", help="instead: the engine's floor, the same new message read "
                   "after a short and after a --turns-long history, --repeats times each, alternating")
    p.add_argument("--repeats", type=int, default=10, help="--depth: reads at each history length")
    p.add_argument("--lcpp-python", default=sys.executable, metavar="EXE",
                   help="the interpreter with llama_cpp installed (e.g. a throwaway venv: it compiles llama.cpp)")
    p.add_argument("--gguf", default=None, help=argparse.SUPPRESS)
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker == "llama-cpp-python":  # its venv may have no llmkit
        print(json.dumps(run_llama_cpp_python(args)))
        return
    if args.model is None:
        from llmkit.task_table import get

        args.model = get("text-generation").default_model
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)))
        return
    if args.depth:
        out = subprocess.run([sys.executable, __file__, "--worker", "depth", "--model", args.model, "--turns",
                              str(args.turns), "--threads", str(args.threads), "--repeats", str(args.repeats)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"depth failed:\n{out.stderr[-2000:]}")
        print_depth(args, json.loads(out.stdout.strip().splitlines()[-1]))
        return
    modes = args.modes.split(",")
    if "llama-cpp-python" in modes:
        found = subprocess.run([args.lcpp_python, "-c", "import llama_cpp"], capture_output=True).returncode == 0
        if not found:
            print(f"llama-cpp-python is not installed for {args.lcpp_python}: skipped (--lcpp-python)", file=sys.stderr)
            modes.remove("llama-cpp-python")
    runs: dict[str, list[list[dict]]] = {}
    for r in range(args.rounds):
        for mode in modes:
            extra = ["--gguf", gguf_path(args.model)] if mode == "llama-cpp-python" else []
            exe = args.lcpp_python if mode == "llama-cpp-python" else sys.executable
            out = subprocess.run([exe, __file__, "--worker", mode, "--model", args.model, "--turns",
                                  str(args.turns), "--threads", str(args.threads), *extra], capture_output=True,
                                 text=True)
            if out.returncode != 0:
                print(f"{mode} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
                continue
            rows = json.loads(out.stdout.strip().splitlines()[-1])
            runs.setdefault(mode, []).append(rows)
            print(f"round {r + 1} {mode}: " + " ".join(f"{row['ttft']:.3f}" for row in rows), file=sys.stderr)
    results = {mode: [{"history": rs[0][i]["history"], "ttft": statistics.median(run[i]["ttft"] for run in rs)}
                      for i in range(len(rs[0]))] for mode, rs in runs.items()}
    print_table(args, results)


def gguf_path(model: str) -> str:
    from llmkit.engines.gguf_meta import GGUFInfo
    from llmkit.hub import resolve

    return str(GGUFInfo(resolve(model).path, 4096).path)


def print_table(args, results: dict[str, list[dict]]) -> None:
    modes = list(results)
    history = next((r for r in results.values() if r[0]["history"] is not None), None) or []
    print(f"\nTime to first token (s) per turn, {args.model}, {args.threads} threads, greedy answers of <= {NEW} tokens"
          + (f", median of {args.rounds} rounds" if args.rounds > 1 else ""))
    print("| turn | history (tokens) | " + " | ".join(modes) + " |")
    print("|---:|---:|" + "---:|" * len(modes))
    for i in range(args.turns):
        hist = history[i]["history"] if i < len(history) else ""
        print(f"| {i + 1} | {hist} | " + " | ".join(f"{results[m][i]['ttft']:.3f}" for m in modes) + " |")
    print(f"| last / first | | " + " | ".join(f"{results[m][-1]['ttft'] / results[m][0]['ttft']:.2f}x"
                                               for m in modes) + " |")


if __name__ == "__main__":
    main()
