"""The Multi-task tab: choose tasks (built-in datasets) and a weighting strategy, train one shared body, and see
the report against single-task baselines as a table and a chart. A thin shell over ``llmkit.train.multitask``,
imported when a job starts."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InputError
from ..train.data import BUILTIN_DATASETS
from .common import UiContext, error_html
from .jobs import Job
from .jobview import attach, status_line


def start_job(ctx: UiContext, tasks: list[str], body: str, weighting: str, sampler: str, epochs: float, lr: float,
              limit: int, baselines: bool, name: str) -> Job:
    from ..train.multitask import multitask
    from ..train.mtl_config import MultitaskConfig

    if len(tasks or []) < 2:
        raise InputError("choose at least two tasks: multi-task training shares one body between tasks.")
    limit = int(limit or 0) or None
    output = ctx.run_folder(name, "multitask")
    config = MultitaskConfig.from_dict({
        "model": ctx.model(body or "all-minilm-l6-v2"), "weighting": weighting, "sampler": sampler,
        "epochs": float(epochs), "lr": float(lr),
        "tasks": [{"name": t, "train": t, "test": f"{t}:test", "limit": limit, "test_limit": 500} for t in tasks]})

    def work(job: Job) -> dict[str, Any]:
        multitask(config, output=output, baselines=bool(baselines), progress=False, on_event=job.emit)
        return {"output": str(output)}

    return ctx.jobs.submit("multitask", work, title=f"Multi-task: {', '.join(tasks)} ({weighting}) → {output.name}")


def curve(events: list[dict[str, Any]]):
    """The live plot: each single-task baseline and then the joint model get their own loss and metric lines
    (their steps restart from 1, so one shared line would zig-zag)."""
    import pandas as pd

    phase, rows = "joint", []
    for e in events:
        if e["event"] == "baseline":
            phase = f"{e['task']} alone"
        elif e["event"] == "joint":
            phase = "joint"
        elif e["event"] == "step":
            rows.append({"step": e["step"], "value": float(e["loss"]), "series": f"{phase}: loss"})
        elif e["event"] == "eval":
            for task, m in e.get("eval", {}).items():
                name = f"{phase}: {m['metric_name']}" if phase != "joint" else f"joint: {task} {m['metric_name']}"
                rows.append({"step": e["step"], "value": float(m["metric"]), "series": name})
    return pd.DataFrame(rows or [{"step": 0, "value": 0.0, "series": "joint: loss"}])


def report(output: str) -> tuple[str, Any]:
    from PIL import Image

    folder = Path(output)
    text = (folder / "report.md").read_text() if (folder / "report.md").exists() else ""
    text = "\n".join(line for line in text.splitlines() if not line.startswith("!["))
    chart = folder / "comparison.png"
    return text + f"\n\nSaved to `{folder}`: pick it (and a task head) in the **Classify** tab.", \
        Image.open(chart).copy() if chart.exists() else None


def build(ctx: UiContext, demo) -> None:
    import gradio as gr

    from ..train.sampling import SAMPLERS
    from ..train.weighting import STRATEGIES

    with gr.Row():
        with gr.Column():
            tasks = gr.CheckboxGroup(list(BUILTIN_DATASETS), value=list(BUILTIN_DATASETS[:2]),
                                     label="Tasks (built-in datasets)", elem_id="mt-tasks")
            weighting = gr.Dropdown(list(STRATEGIES), value="equal", label="Loss weighting strategy",
                                    elem_id="mt-weighting")
            sampler = gr.Dropdown(list(SAMPLERS), value="proportional", label="Task sampler")
            baselines = gr.Checkbox(True, label="Also train single-task baselines (for the comparison)")
        with gr.Column():
            body = gr.Dropdown(["all-minilm-l6-v2"], value="all-minilm-l6-v2", label="Body", allow_custom_value=True,
                               elem_id="mt-body",
                               info="a catalog encoder or a folder in the runs folder (other paths: --allow-any-model)")
            with gr.Row():
                epochs = gr.Number(1, label="Epochs", minimum=0.01)
                lr = gr.Number(5e-5, label="Learning rate", elem_id="mt-lr")
            limit = gr.Number(1000, label="Max training examples per task (0 = all)", precision=0, minimum=0,
                              elem_id="mt-limit")
            name = gr.Textbox(label="Name of the new model (a folder in the runs folder; blank: a dated name)",
                              elem_id="mt-name")
    go = gr.Button("Start multi-task training", variant="primary", elem_id="mt-run")
    status = gr.Markdown(elem_id="mt-status")
    error = gr.HTML(elem_id="mt-error")
    plot = gr.LinePlot(x="step", y="value", color="series", title="Training", height=300)
    report_md = gr.Markdown(elem_id="mt-report")
    chart = gr.Image(label="Single-task vs joint", type="pil", interactive=False, elem_id="mt-chart")

    def render(job: Job) -> list:
        _, events, result, err = job.snapshot()
        steps = [e for e in events if e["event"] == "step"]
        phases = [e for e in events if e["event"] in ("baseline", "joint")]
        phase = (f"{phases[-1]['task']} alone" if phases[-1]["event"] == "baseline" else "joint model") \
            if phases else "preparing"
        detail = f"{phase}, step {steps[-1]['step']}/{steps[-1]['total']}" if steps else phase
        text, img = report(result["output"]) if result else ("", None)
        return [status_line(job, detail), curve(events), text, img, error_html(err) if err else ""]

    attach(ctx, key="multitask",
           start=lambda *v: start_job(ctx, *v), inputs=[tasks, body, weighting, sampler, epochs, lr, limit,
                                                        baselines, name],
           outputs=[status, plot, report_md, chart, error], render=render, button=go, demo=demo)
