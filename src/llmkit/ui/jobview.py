"""Wiring a background job to a tab: a Start handler submits it and remembers its id in the browser's local
storage; a timer polls it while it runs; on page load the tab re-attaches to the remembered job.

The ids live in ``gr.BrowserState`` components made at the top of the page, outside the tabs: Gradio mounts a
tab's components only when the tab is first opened, and a state that is not mounted yet reaches ``demo.load`` as
its default, so a state inside a tab would forget its job on every reload."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .common import UiContext, error_html
from .jobs import Job


JOB_TABS = ("transcribe", "finetune", "multitask", "speed")


def job_states(ctx: UiContext) -> None:
    """One browser-stored job id per tab that runs jobs; call inside the Blocks, before the tabs."""
    import gradio as gr

    for key in JOB_TABS:
        ctx.job_states[key] = gr.BrowserState("", storage_key=f"llmkit-{key}-job")


def attach(ctx: UiContext, *, key: str, start: Callable[..., Job], inputs: list, outputs: list,
           render: Callable[[Job], list], button, demo, interval: float = 1.0) -> None:
    """``start(*inputs) -> Job`` (raise LlmkitError for bad input); ``render(job) -> values for outputs``.
    The last output must be an HTML component for messages."""
    import gradio as gr

    job_id = ctx.job_states[key]
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
        """A reloaded page picks up where it was: this browser's own job, running or finished (never another
        user's: the id comes from this browser's local storage)."""
        return on_tick(jid)

    button.click(on_start, inputs, [job_id, timer, *outputs])
    timer.tick(on_tick, job_id, [job_id, timer, *outputs], show_progress="hidden")
    demo.load(on_load, job_id, [job_id, timer, *outputs])


def status_line(job: Job, detail: str = "") -> str:
    state = {"running": "running…", "done": "done", "failed": "failed"}[job.status]
    return f"**{job.title}** · {state} · {job.elapsed():.0f} s · job `{job.id}`" + (f" · {detail}" if detail else "")
