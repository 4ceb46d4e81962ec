"""Prometheus metrics in the text exposition format, hand-written (no client library needed).

Counters and histograms are updated from the event loop and from worker threads, so one lock guards them.
Queue depths are read live from the queues when ``/metrics`` is scraped.
"""
from __future__ import annotations

import threading
from collections import defaultdict
from typing import Callable

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, float("inf"))
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, float("inf"))


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    if not pairs:
        return ""
    esc = (lambda v: v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n"))
    return "{" + ",".join(f'{k}="{esc(str(v))}"' for k, v in pairs) + "}"


def _fmt(x: float) -> str:
    return "+Inf" if x == float("inf") else repr(float(x)) if isinstance(x, float) else str(x)


class _Histogram:
    def __init__(self, buckets: tuple[float, ...]):
        self.buckets, self.counts, self.sum, self.count = buckets, [0] * len(buckets), 0.0, 0

    def observe(self, value: float) -> None:
        for i, b in enumerate(self.buckets):
            if value <= b:
                self.counts[i] += 1
        self.sum += value
        self.count += 1


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[tuple, float]] = defaultdict(lambda: defaultdict(float))
        self._hists: dict[str, dict[tuple, _Histogram]] = defaultdict(dict)
        self._gauges: dict[str, Callable[[], dict[tuple, float]]] = {}
        self._help = {
            "llmkit_requests_total": ("counter", "HTTP requests by route, method and status."),
            "llmkit_request_duration_seconds": ("histogram", "Time from request to the last byte of the response."),
            "llmkit_tokens_generated_total": ("counter", "Completion tokens generated, by model."),
            "llmkit_prompt_tokens_total": ("counter", "Prompt tokens read, by model."),
            "llmkit_generations_cancelled_total": ("counter", "Generations stopped because the client went away."),
            "llmkit_draft_tokens_total": ("counter", "Speculative decoding: tokens proposed by the draft, by model."),
            "llmkit_draft_tokens_accepted_total": ("counter", "... of them, kept by the model."),
            "llmkit_draft_acceptance_rate": ("gauge", "Accepted / proposed draft tokens so far, by model."),
            "llmkit_batch_size": ("histogram", "Texts per encoder batch (dynamic batching), by model."),
            "llmkit_queue_depth": ("gauge", "Jobs or texts waiting, by queue."),
            "llmkit_models_loaded": ("gauge", "Models loaded in memory."),
        }
        self.gauge("llmkit_draft_acceptance_rate", self._acceptance)

    def _acceptance(self) -> dict[tuple, float]:
        with self._lock:
            drafted = dict(self._counters.get("llmkit_draft_tokens_total", {}))
            kept = dict(self._counters.get("llmkit_draft_tokens_accepted_total", {}))
        return {key: kept.get(key, 0.0) / n for key, n in drafted.items() if n}

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        with self._lock:
            self._counters[name][tuple(sorted(labels.items()))] += value

    def observe(self, name: str, value: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        buckets = BATCH_BUCKETS if name == "llmkit_batch_size" else LATENCY_BUCKETS
        with self._lock:
            hist = self._hists[name].get(key)
            if hist is None:
                hist = self._hists[name][key] = _Histogram(buckets)
            hist.observe(value)

    def gauge(self, name: str, read: Callable[[], dict[tuple, float]]) -> None:
        """Register a gauge read live at scrape time: ``read()`` -> {labels tuple: value}."""
        self._gauges[name] = read

    def value(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._counters[name].get(tuple(sorted(labels.items())), 0.0)

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            counters = {n: dict(v) for n, v in self._counters.items()}
            hists = {n: {k: (h.buckets, list(h.counts), h.sum, h.count) for k, h in v.items()}
                     for n, v in self._hists.items()}
        gauges = {n: read() for n, read in self._gauges.items()}
        for name, (kind, text) in self._help.items():
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
            for key, value in sorted(counters.get(name, {}).items()):
                lines.append(f"{name}{_labels(key)} {_fmt(value)}")
            for key, value in sorted(gauges.get(name, {}).items()):
                lines.append(f"{name}{_labels(key)} {_fmt(value)}")
            for key, (buckets, counts, total, count) in sorted(hists.get(name, {}).items()):
                for b, c in zip(buckets, counts):
                    lines.append(f"{name}_bucket{_labels(key + (('le', _fmt(b)),))} {c}")
                lines.append(f"{name}_sum{_labels(key)} {_fmt(total)}")
                lines.append(f"{name}_count{_labels(key)} {count}")
        return "\n".join(lines) + "\n"
