"""A long soak: ``llmkit serve`` on 127.0.0.1 under a bounded mixed load (streaming multi-turn chat, embeddings,
classifications, transcriptions) from 16 clients, watching errors, latency and the server's memory and file
descriptors over time. Targets: 0 errors, RSS after warm-up grows < 10%, open fds flat.

    .venv/bin/python bench/soak.py                  # 20 minutes, 16 clients (the figures in BENCHMARKS.md)
    .venv/bin/python bench/soak.py --minutes 2      # a short run
    .venv/bin/python bench/soak.py --minutes 10 --prompt-cache-mib 128   # RSS growth that is not the prompt cache

Bounded: each client sends one request at a time (at most 16 in flight), so the server's queues never overflow by
design and any 429/503 is counted as an error. Chat clients hold conversations of up to 4 turns (so prompt reuse and
its LRU budget are exercised too) and stream their answers. Writes soak.json and soak.png under --out, and prints a
markdown summary: requests and errors per route, p50/p99 latency per route per time window, RSS and fds.
"""
from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve import Server, pct, speech_clip, texts  # noqa: E402

ROUTES = ("chat", "embeddings", "classifications", "transcriptions")


class Load:
    def __init__(self, url: str, args: argparse.Namespace, clip: bytes | None):
        self.url, self.args, self.clip = url, args, clip
        self.data = texts(256)
        self.records: list[tuple[float, str, float, bool]] = []  # (end time, route, latency s, ok)
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def chat(self, client: httpx.Client, state: dict, i: int) -> None:
        history = state.setdefault("history", [])
        if len(history) >= 8:  # 4 turns, then a new conversation
            history.clear()
        history.append({"role": "user", "content": self.data[i % len(self.data)][:200]})
        body = {"model": self.args.chat, "messages": history, "max_tokens": 24, "temperature": 0.7, "seed": i,
                "stream": True}
        answer = ""
        with client.stream("POST", "/v1/chat/completions", json=body) as r:
            if r.status_code != 200:
                r.read()
                raise RuntimeError(f"chat {r.status_code}: {r.text[:200]}")
            for line in r.iter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    for choice in json.loads(line[6:]).get("choices") or []:
                        answer += (choice.get("delta") or {}).get("content") or ""
        history.append({"role": "assistant", "content": answer})

    def post(self, client: httpx.Client, path: str, **kw) -> None:
        r = client.post(path, **kw)
        if r.status_code != 200:
            raise RuntimeError(f"{path} {r.status_code}: {r.text[:200]}")

    def one(self, client: httpx.Client, route: str, state: dict, i: int) -> None:
        batch = [self.data[(i + k) % len(self.data)] for k in range(8)]
        if route == "chat":
            self.chat(client, state, i)
        elif route == "embeddings":
            self.post(client, "/v1/embeddings", json={"model": self.args.embed, "input": batch})
        elif route == "classifications":
            self.post(client, "/v1/classifications", json={"model": self.args.classifier, "input": batch})
        else:
            self.post(client, "/v1/audio/transcriptions", data={"model": self.args.asr},
                      files={"file": ("clip.wav", self.clip)})

    def client(self, n: int, routes: list[str], deadline: float) -> None:
        state: dict = {}
        # a request slower than --timeout-s is an error (and the run ends at most that long after its deadline)
        with httpx.Client(base_url=self.url, timeout=self.args.timeout_s) as client:
            for k in itertools.count():
                if time.monotonic() >= deadline or self.stop.is_set():
                    return
                route, i = routes[k % len(routes)], n * 1000 + k
                start = time.monotonic()
                ok = True
                try:
                    self.one(client, route, state, i)
                except Exception as e:  # every failure is a finding: counted and kept
                    ok = False
                    with self.lock:
                        self.errors.append(f"{route}: {e}"[:300])
                with self.lock:
                    self.records.append((time.monotonic(), route, time.monotonic() - start, ok))


def watch(pid: int, samples: list, stop: threading.Event, every: float) -> None:
    """RSS and open file descriptors of the server process (and its children), every ``every`` seconds."""
    import psutil

    proc = psutil.Process(pid)
    while not stop.wait(every):
        try:
            procs = [proc, *proc.children(recursive=True)]
            rss = sum(p.memory_info().rss for p in procs)
            fds = sum(p.num_fds() for p in procs)
            threads = sum(p.num_threads() for p in procs)
        except psutil.Error:
            return
        samples.append((time.monotonic(), rss, fds, threads))


def client_routes(n: int, clip: bytes | None) -> list[str]:
    """Client n's rotation: the 16 clients together send about 40% chat, 25% embeddings, 25% classifications,
    10% transcriptions (none without a speech clip)."""
    mix = ["chat"] * 4 + ["embeddings"] * 3 + ["classifications"] * 3 + (["transcriptions"] if clip else [])
    return mix[n % len(mix):] + mix[:n % len(mix)]


def windows(records, t0: float, seconds: float, n: int) -> list[dict]:
    out = []
    step = seconds / n
    for w in range(n):
        lo, hi = t0 + w * step, t0 + (w + 1) * step
        row = {"minute": round((lo - t0) / 60, 2)}
        for route in ROUTES:
            lat = [lat for end, r, lat, ok in records if r == route and ok and lo <= end < hi]
            row[route] = {"n": len(lat), "p50": pct(lat, 0.5), "p99": pct(lat, 0.99)}
        out.append(row)
    return out


def chart(path: Path, t0: float, wins: list[dict], samples: list, warm: float, clients: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(9, 10), sharex=True)
    x = [w["minute"] for w in wins]
    for route in ROUTES:
        if any(w[route]["n"] for w in wins):
            line, = axes[0].plot(x, [w[route]["p50"] for w in wins], "o-", ms=3, label=f"{route} p50")
            axes[0].plot(x, [w[route]["p99"] for w in wins], "x--", ms=3, color=line.get_color(),
                         label=f"{route} p99")
    axes[0].set_ylabel("latency (s)")
    axes[0].set_yscale("log")
    if axes[0].lines:
        axes[0].legend(fontsize=7, ncol=2)
    axes[0].set_title(f"llmkit serve under a mixed load, {clients} clients (latency per time window)")
    m = [(t - t0) / 60 for t, *_ in samples]
    axes[1].plot(m, [rss / 2**20 for _, rss, _, _ in samples])
    axes[1].axvline(warm / 60, color="grey", linestyle=":", label="end of warm-up")
    axes[1].set_ylabel("RSS (MiB)")
    axes[1].legend(fontsize=7, loc="lower right")
    axes[2].plot(m, [fds for _, _, fds, _ in samples], label="open fds")
    axes[2].plot(m, [th for *_, th in samples], label="threads")
    axes[2].set_ylabel("count")
    axes[2].set_xlabel("minutes")
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--chat", default="smollm2-135m-instruct")
    ap.add_argument("--embed", default="all-minilm-l6-v2")
    ap.add_argument("--classifier", default="minilm-sentiment")
    ap.add_argument("--asr", default="whisper-tiny.en")
    ap.add_argument("--no-asr", action="store_true", help="leave transcriptions out of the mix")
    ap.add_argument("--timeout-s", type=float, default=120.0, help="a request slower than this is an error")
    ap.add_argument("--sample-s", type=float, default=5.0, help="seconds between RSS/fd samples")
    ap.add_argument("--prompt-cache-mib", type=int, default=None, metavar="N",
                    help="the server's llama.cpp prompt cache budget (default: the server's, 1024 MiB); it fills "
                    "during the run, which is RSS growth by design: a small budget separates it from a leak")
    ap.add_argument("--out", default="bench/results", help="folder for soak.json and soak.png")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    clip = None if args.no_asr else speech_clip()
    models = [args.chat, args.embed, args.classifier] + ([args.asr] if clip else [])
    flags = [x for m in models for x in ("--model", m)]
    # all bench clients are one client to fair queueing (127.0.0.1, no key): let it use the whole queue
    flags += ["--generation-slots", "2", "--queue-per-client", "64", "--n-ctx", "2048"]
    if args.prompt_cache_mib is not None:
        flags += ["--prompt-cache-mib", str(args.prompt_cache_mib)]
    seconds = args.minutes * 60
    with Server(*flags) as server:
        load = Load(server.url, args, clip)
        with httpx.Client(base_url=server.url, timeout=600) as c:  # warm every route once, untimed
            for n, route in enumerate(ROUTES[:4 if clip else 3]):
                load.one(c, route, {}, n)
        samples: list = []
        stop = threading.Event()
        watcher = threading.Thread(target=watch, args=(server.proc.pid, samples, stop, args.sample_s), daemon=True)
        t0 = time.monotonic()
        samples.append((t0, *_now(server.proc.pid)))
        watcher.start()
        deadline = t0 + seconds
        workers = [threading.Thread(target=load.client, args=(n, client_routes(n, clip), deadline))
                   for n in range(args.clients)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        stop.set()
        watcher.join()
        samples.append((time.monotonic(), *_now(server.proc.pid)))
    report(args, out, load, samples, t0, seconds)
    return 0 if not load.errors else 1


def _now(pid: int) -> tuple[int, int, int]:
    import psutil

    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    return (sum(p.memory_info().rss for p in procs), sum(p.num_fds() for p in procs),
            sum(p.num_threads() for p in procs))


def report(args, out: Path, load: Load, samples: list, t0: float, seconds: float) -> None:
    n_windows = max(2, min(10, int(args.minutes * 2)))
    seconds = max(seconds, max((end for end, *_ in load.records), default=t0) - t0)  # requests still running
    wins = windows(load.records, t0, seconds * 1.0001, n_windows)
    warm = min(120.0, seconds / 5)  # the first 2 minutes (a fifth of a short run) load models and fill caches
    after = [s for s in samples if s[0] - t0 >= warm] or samples
    rss0, rss1 = after[0][1], samples[-1][1]
    fds = [s[2] for s in after]
    half = [s for s in samples if s[0] - t0 >= seconds / 2] or samples  # growth once bounded caches have filled
    summary = {
        "minutes": args.minutes, "clients": args.clients,
        "requests": {r: sum(1 for _, route, _, _ in load.records if route == r) for r in ROUTES},
        "errors": len(load.errors), "first_errors": load.errors[:10],
        "rss_mib_after_warmup": rss0 / 2**20, "rss_mib_end": rss1 / 2**20,
        "rss_growth_pct": 100 * (rss1 - rss0) / rss0,
        "rss_growth_second_half_pct": 100 * (rss1 - half[0][1]) / half[0][1],
        "rss_mib_max": max(s[1] for s in samples) / 2**20, "prompt_cache_mib": args.prompt_cache_mib,
        "fds_min": min(fds), "fds_max": max(fds),
        "threads_end": samples[-1][3], "windows": wins,
        "samples": [(round(t - t0, 1), rss, fd, th) for t, rss, fd, th in samples],
    }
    (out / "soak.json").write_text(json.dumps(summary, indent=1))
    chart(out / "soak.png", t0, wins, samples, warm, args.clients)
    print(f"\nSoak: {args.minutes:g} min, {args.clients} clients; requests {summary['requests']}, "
          f"errors {summary['errors']}")
    for e in summary["first_errors"]:
        print("  error:", e)
    print(f"RSS after warm-up {summary['rss_mib_after_warmup']:.0f} MiB -> end {summary['rss_mib_end']:.0f} MiB "
          f"({summary['rss_growth_pct']:+.1f}%; over the second half {summary['rss_growth_second_half_pct']:+.1f}%, "
          f"peak {summary['rss_mib_max']:.0f} MiB); open fds {summary['fds_min']}-{summary['fds_max']}; "
          f"threads at end {summary['threads_end']}")
    routes = [r for r in ROUTES if summary["requests"][r]]
    print("\n| minute | " + " | ".join(f"{r} n, p50/p99 (s)" for r in routes) + " |")
    print("|---:|" + "---:|" * len(routes))
    for w in wins:
        print(f"| {w['minute']:g} | " + " | ".join(
            f"{w[r]['n']}, {w[r]['p50']:.2f}/{w[r]['p99']:.2f}" for r in routes) + " |")
    all_lat = {r: [lat for _, route, lat, ok in load.records if route == r and ok] for r in routes}
    print("\nwhole run: " + "; ".join(f"{r} p50 {statistics.median(v):.2f}s p99 {pct(v, 0.99):.2f}s"
                                      for r, v in all_lat.items() if v))
    print(f"wrote {out / 'soak.json'} and {out / 'soak.png'}")


if __name__ == "__main__":
    raise SystemExit(main())
