"""The Models tab: the catalog (what each model is, size, licence, task, installed or not), the fine-tuned
folders, and this machine's measured speed for the installed ones (measured on demand, cached in LLMKIT_HOME)."""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..catalog import CATALOG
from ..hub import home, is_installed
from ..task_table import find
from .common import UiContext
from .jobs import Job
from .jobview import attach, status_line

SENTENCES = ["The coffee was stale and bitter.", "Great snack, my kids love it!", "Arrived on time, well packed.",
             "Not worth the price at all."] * 16


def speed_file() -> Path:
    return home() / "ui" / "speed.json"


def machine() -> str:
    return f"{platform.machine()} · {os.cpu_count()} cores · {platform.system()}"


def load_speeds() -> dict[str, Any]:
    try:
        data = json.loads(speed_file().read_text())
    except (OSError, ValueError):
        return {}
    return data.get("models", {}) if data.get("machine") == machine() else {}


def measure(ctx: UiContext, name: str, task: str) -> str:
    """One figure per model, on this machine: texts/s, tokens/s or times real time."""
    task = getattr(find(task), "name", task)  # an alias (feature-extraction) measures as its task
    if task in ("text-classification", "sentence-embeddings"):
        pipe = ctx.pipeline(task, name)
        pipe(SENTENCES[:4])  # warm-up
        t0 = time.perf_counter()
        pipe(SENTENCES)
        return f"{len(SENTENCES) / (time.perf_counter() - t0):.0f} texts/s"
    if task == "text-generation":
        pipe = ctx.pipeline(task, name)
        t0 = time.perf_counter()
        r = pipe.generate([{"role": "user", "content": "Tell me about the sea."}], max_new_tokens=64, temperature=0,
                          seed=0)
        return f"{r.usage.completion_tokens / (time.perf_counter() - t0):.1f} tokens/s"
    if task == "automatic-speech-recognition":
        pipe = ctx.pipeline(task, name)
        t = np.arange(16000 * 10) / 16000  # 10 s of a warbling tone: decoding cost without needing speech
        audio = (0.3 * np.sin(2 * np.pi * (300 + 100 * np.sin(2 * np.pi * 0.5 * t)) * t)).astype(np.float32)
        t0 = time.perf_counter()
        pipe(audio, vad=False, max_duration=None)
        return f"{10 / (time.perf_counter() - t0):.1f}× real time"
    return "n/a"


def rows(ctx: UiContext) -> list[list[Any]]:
    speeds = load_speeds()
    out = [[name, e["task"], e["description"], e["parameters"], f"{e['size_mb']} MB", e["license"],
            "yes" if is_installed(name) else "no", speeds.get(name, "")] for name, e in CATALOG.items()]
    for folder in ctx.finetuned():
        out.append([folder, "text-classification", "fine-tuned here", "", "", "", "yes", speeds.get(folder, "")])
    return out


def start_job(ctx: UiContext) -> Job:
    targets = [(n, e["task"]) for n, e in CATALOG.items() if is_installed(n)]

    def work(job: Job) -> None:
        figures = load_speeds()
        for name, task in targets:
            job.emit({"event": "measuring", "model": name})
            try:
                figures[name] = measure(ctx, name, task)
            except Exception as e:  # one model failing must not hide the others' figures
                figures[name] = f"failed: {e}"
            speed_file().parent.mkdir(parents=True, exist_ok=True)
            speed_file().write_text(json.dumps({"machine": machine(), "models": figures}, indent=2))

    return ctx.jobs.submit("speed", work, title="Measuring speed")


HEADERS = ["model", "task", "description", "parameters", "size", "licence", "installed", "speed here"]


def build(ctx: UiContext, demo) -> None:
    import gradio as gr

    gr.Markdown(f"Speed is measured on this machine ({machine()}) with the model's default engine.")
    table = gr.Dataframe(rows(ctx), headers=HEADERS, interactive=False, wrap=True, elem_id="models-table")
    with gr.Row():
        refresh = gr.Button("↻ Refresh", elem_id="models-refresh")
        go = gr.Button("Measure speed of installed models", variant="primary", elem_id="models-measure")
    status = gr.Markdown()
    error = gr.HTML()

    def render(job: Job) -> list:
        _, events, _, err = job.snapshot()
        detail = f"measuring {events[-1]['model']}" if events and job.running else ""
        from .common import error_html

        return [status_line(job, detail), rows(ctx), error_html(err) if err else ""]

    refresh.click(lambda: rows(ctx), None, table)
    attach(ctx, key="speed", start=lambda: start_job(ctx), inputs=[], outputs=[status, table, error], render=render,
           button=go, demo=demo, interval=2.0)
