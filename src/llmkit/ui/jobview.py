"""Wiring a background job to a tab: a Start handler submits it and remembers its id in the browser's local
storage; a timer polls it while it runs; on page load the tab re-attaches to the remembered job."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .common import UiContext, error_html
from .jobs import Job


def attach(ctx: UiContext, *, key: str, kind: str, start: Callable[..., Job], inputs: list, outputs: list,
           render: Callable[[Job], list], button, demo, interval: float = 1.0) -> None:
    """``start(*inputs) -> Job`` (raise LlmkitError for bad input); ``render(job) -> values for outputs``.
    The last output must be an HTML component for messages."""
    import gradio as gr

    job_id = gr.BrowserState("", storage_key=f"llmkit-{key}-job")
    timer = gr.Timer(interval, active=False)
    blank = [gr.update() for _ in outputs[:-1]]

    def on_start(*values: Any):
        try:
            job = start(*values)
        except Exception as e:
            return ["", gr.Timer(active=False), *blank, error_html(e)]
        return [job.id, gr.Timer(active=True), *render(job)]

    def on_tick(jid: str):
        job = ctx.jobs.get(jid)
        if job is None:
            return [jid, gr.Timer(active=False), *blank, gr.update()]
        return [job.id, gr.Timer(active=job.running), *render(job)]

    def on_load(jid: str):
        """A reloaded page picks up where it was: the job remembered in local storage, else the newest job of
        this kind that is still running (the job list), so a long job is never lost from view."""
        if ctx.jobs.get(jid) is None:
            running = [j for j in ctx.jobs.list(kind) if j.running]
            jid = running[0].id if running else jid
        return on_tick(jid)

    button.click(on_start, inputs, [job_id, timer, *outputs])
    timer.tick(on_tick, job_id, [job_id, timer, *outputs], show_progress="hidden")
    demo.load(on_load, job_id, [job_id, timer, *outputs])


def status_line(job: Job, detail: str = "") -> str:
    state = {"running": "running…", "done": "done", "failed": "failed", "cancelled": "cancelled"}[job.status]
    return f"**{job.title}** · {state} · {job.elapsed():.0f} s · job `{job.id}`" + (f" · {detail}" if detail else "")
