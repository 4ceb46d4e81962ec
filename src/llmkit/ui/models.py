"""The Models tab: the catalog (what each model is, size, licence, task, installed or not), the fine-tuned folders,
and the chooser: for a chosen task, the same ranked table as ``llmkit models recommend`` (speed and peak memory
measured on this machine, quality from ``llmkit eval``), with a button that benches a model as a background job."""
from __future__ import annotations

from typing import Any

from ..catalog import CATALOG
from ..chooser.bench import bench
from ..chooser.recommend import PROFILES, TASKS, RecommendOptions, fmt_size, parse_size, recommend
from ..errors import InputError
from ..hardware import detect
from ..hub import is_installed
from .common import UiContext, error_html
from .jobs import Job
from .jobview import attach, status_line

HEADERS = ["model", "task", "description", "parameters", "size", "licence", "installed"]
RANKED = ["#", "model", "size", "peak memory", "speed", "first token", "quality", "licence", "note"]


def rows(ctx: UiContext) -> list[list[Any]]:
    out = [[name, e["task"], e["description"], e["parameters"], f"{e['size_mb']} MB", e["license"],
            "yes" if is_installed(name) else "no"] for name, e in CATALOG.items()]
    for folder in ctx.finetuned():
        out.append([folder, "text-classification", "fine-tuned here", "", "", "", "yes"])
    return out


def _options(task: str, max_memory: str, deploy: str) -> RecommendOptions:
    memory = parse_size(max_memory) if (max_memory or "").strip() else None
    return RecommendOptions(task, memory, None, deploy)


def ranked(task: str, max_memory: str, deploy: str) -> tuple[list[list[str]], str]:
    """The recommend table and its why-line (plus what is missing), as the CLI prints them."""
    rec = recommend(_options(task, max_memory, deploy))
    table = [[str(i), *(r.cells(task)[c] for c in RANKED[1:])] for i, r in enumerate(rec.rows, 1)]
    source = "the maximum set above" if rec.budget_from == "--max-memory" else rec.budget_from
    notes = [f"**Why:** {rec.why}", f"Memory budget {fmt_size(rec.budget_bytes)}: {source}."]
    if rec.unbenched:
        notes.append(f"Not benched here yet: {', '.join(rec.unbenched)} (choose one below and press Bench).")
    return table, "  \n".join(notes)


def start_bench(ctx: UiContext, name: str, force: bool) -> Job:
    if not name:
        raise InputError("choose a model to bench.")
    if not is_installed(name):
        raise InputError(f"{name} is not installed here; get it with `llmkit models pull {name}`.")

    def work(job: Job) -> dict[str, Any]:
        job.emit({"event": "measuring", "model": name})
        return bench(name, force=force, log=lambda line: job.emit({"event": "log", "line": line}))

    return ctx.jobs.submit("bench", work, title=f"Benching {name}")


def build(ctx: UiContext, demo) -> None:
    import gradio as gr

    gr.Markdown("### Which model for this machine?\nSpeed and peak memory are measured here "
                f"({detect().summary()}) by `llmkit models bench`; quality comes from `llmkit eval`.")
    with gr.Row():
        task = gr.Dropdown(list(TASKS), value="chat", label="Task", elem_id="models-task")
        memory = gr.Textbox(label="Max memory (e.g. 2GB; blank: the profile's share)", elem_id="models-memory")
        deploy = gr.Radio(list(PROFILES), value="laptop", label="Deploy", elem_id="models-deploy")
    first, why_first = ranked("chat", "", "laptop")
    table = gr.Dataframe(first, headers=RANKED, interactive=False, wrap=True, elem_id="models-ranked")
    why = gr.Markdown(why_first, elem_id="models-why")
    with gr.Row():
        pick = gr.Dropdown([n for n in CATALOG if is_installed(n)], label="Model to bench", elem_id="models-pick")
        force = gr.Checkbox(label="measure again", value=False)
        go = gr.Button("Bench", variant="primary", elem_id="models-bench")
    status = gr.Markdown(elem_id="models-status")
    error = gr.HTML(elem_id="models-error")
    gr.Markdown("### The catalog")
    catalog = gr.Dataframe(rows(ctx), headers=HEADERS, interactive=False, wrap=True, elem_id="models-table")
    refresh = gr.Button("↻ Refresh", elem_id="models-refresh")

    def show(t: str, m: str, d: str):
        try:
            return [*ranked(t, m, d), ""]
        except InputError as e:
            return [gr.update(), gr.update(), error_html(e)]

    for control in (task, deploy):
        control.change(show, [task, memory, deploy], [table, why, error])
    memory.submit(show, [task, memory, deploy], [table, why, error])
    refresh.click(lambda t, m, d: [rows(ctx), *show(t, m, d)], [task, memory, deploy], [catalog, table, why, error])

    def render(job: Job) -> list:
        _, events, result, err = job.snapshot()
        detail = ""
        if result:
            figure = next((f"{result[k]:.1f} {u}" for k, u in (("tokens_per_s", "tok/s"), ("texts_per_s", "texts/s"),
                                                                ("rtf", "RTF")) if k in result), "")
            detail = f"{result['model']}: {figure}, peak memory {result['peak_rss_bytes'] / 2**20:.0f} MB"
        elif events and job.running:
            detail = f"measuring {events[0]['model']} in its own process"
        return [status_line(job, detail), error_html(err) if err else ""]

    def rerank_when_done(line: str, t: str, m: str, d: str):
        """A finished bench changes the table: rank again with this page's own choices."""
        if "· done ·" not in (line or ""):
            return [gr.update(), gr.update(), gr.update()]
        return show(t, m, d)

    attach(ctx, key="speed", start=lambda name, again: start_bench(ctx, name, again), inputs=[pick, force],
           outputs=[status, error], render=render, button=go, demo=demo, interval=2.0)
    status.change(rerank_when_done, [status, task, memory, deploy], [table, why, error])
