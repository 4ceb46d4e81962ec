"""The Fine-tune tab: data (an upload or a built-in dataset), a body, a method and a few hyperparameters; a live
loss/metric plot fed by ``finetune(on_event=...)``; then the report and confusion matrix. The new model folder
lands in the runs folder, which the Classify tab lists."""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..textio import read_records
from ..options import defaults
from ..train.config import METHODS, TrainConfig
from ..train.data import BUILTIN_DATASETS, load_dataset, subset, to_examples
from .common import UiContext, error_html
from .jobs import Job
from .jobview import attach, status_line

BODIES = ["all-minilm-l6-v2"]
MAX_TEST = 500  # test records kept from a built-in test split: enough for a report, quick on a CPU


def load_data(source: str, builtin: str, upload: str | None, text_column: str, label_column: str,
              max_examples: int) -> tuple[list[dict], list[dict] | None, str]:
    """(train records, test records or None, a description). Model selection uses 20% of the training records
    (held out by ``finetune``); a built-in set's test split is only scored at the end. Checks the columns now, so
    a bad file is reported before any training starts."""
    if source == "Upload a file":
        if not upload:
            raise InputError("upload a .csv or .jsonl file with text and label columns, or pick a built-in dataset.")
        train, tests, where = read_records(Path(upload)), None, Path(upload).name
    else:
        if builtin not in BUILTIN_DATASETS:
            raise InputError(f"choose a built-in dataset: {', '.join(BUILTIN_DATASETS)}.")
        train, where = load_dataset(builtin, split="train"), builtin
        tests = load_dataset(builtin, split="test")
        tests = random.Random(0).sample(tests, min(len(tests), MAX_TEST))
    if max_examples and len(train) > max_examples:
        train = subset(train, int(max_examples), seed=0, label_column=label_column)
    to_examples(train, where, text_column=text_column, label_column=label_column)  # raises with the fix
    return train, tests, where


def start_job(ctx: UiContext, source: str, builtin: str, upload: str | None, text_column: str, label_column: str,
              body: str, method: str, epochs: float, lr: float, batch_size: int, max_length: int,
              max_examples: int, name: str) -> Job:
    from ..train.config import TrainConfig
    from ..train.finetune import finetune
    from ..train.output import check_output

    text_column, label_column = (text_column or "text").strip(), (label_column or "label").strip()
    train, tests, where = load_data(source, builtin, upload, text_column, label_column, int(max_examples or 0))
    if not (body or "").strip():
        raise InputError("choose a body model (e.g. all-minilm-l6-v2) or give a model folder.")
    output = ctx.run_folder(name, "finetune")
    body = ctx.model(body)
    config = TrainConfig(epochs=float(epochs), lr=float(lr), batch_size=int(batch_size), max_length=int(max_length),
                         method=method, threads=None)
    check_output(output, overwrite=False)

    def work(job: Job) -> dict[str, Any]:
        job.emit({"event": "started", "train": len(train), "test": len(tests) if tests else None})
        finetune(body, train, output=output, config=config, eval_split=0.2, test_data=tests,
                 text_column=text_column, label_column=label_column, progress=False, on_event=job.emit)
        return {"output": str(output)}

    return ctx.jobs.submit("finetune", work, title=f"Fine-tuning {Path(body).name} on {where} → {output.name}")


def curve(events: list[dict[str, Any]]):
    """The live plot's data: training loss per step and the eval metric per evaluation."""
    import pandas as pd

    rows = [{"step": e["step"], "value": e["loss"], "series": "train loss"} for e in events if e["event"] == "step"]
    for e in events:
        if e["event"] == "eval":
            for task, m in e.get("eval", {}).items():
                rows.append({"step": e["step"], "value": m["metric"], "series": f"eval {m['metric_name']}"})
    return pd.DataFrame(rows or [{"step": 0, "value": None, "series": "train loss"}])


def report(output: str) -> tuple[str, Any, Any]:
    """(report text without its image links, the confusion matrix, the loss curve) as images the page shows."""
    from PIL import Image

    folder = Path(output)
    text = (folder / "report.md").read_text() if (folder / "report.md").exists() else ""
    text = "\n".join(line for line in text.splitlines() if not line.startswith("!["))
    text += f"\n\nSaved to `{folder}`: pick it in the **Classify** tab."
    confusion = next(iter(sorted(folder.glob("confusion_*.png"))), None)
    loss = folder / "loss.png"
    return text, Image.open(confusion).copy() if confusion else None, Image.open(loss).copy() if loss.exists() else None


def build(ctx: UiContext, demo, classify_model, refresh_models) -> None:
    import gradio as gr

    with gr.Row():
        with gr.Column():
            source = gr.Radio(["Built-in dataset", "Upload a file"], value="Built-in dataset", label="Data",
                              elem_id="ft-source")
            builtin = gr.Dropdown(list(BUILTIN_DATASETS), value=BUILTIN_DATASETS[0], label="Built-in dataset")
            upload = gr.File(label="CSV / JSONL / Parquet with text and label columns",
                             file_types=[".csv", ".jsonl", ".json", ".tsv", ".parquet"], elem_id="ft-upload")
            with gr.Row():
                text_column = gr.Textbox("text", label="Text column")
                label_column = gr.Textbox("label", label="Label column")
        with gr.Column():
            body = gr.Dropdown(BODIES + ctx.finetuned(), value=BODIES[0], label="Body", allow_custom_value=True,
                               elem_id="ft-body",
                               info="a catalog encoder or a folder in the runs folder (other paths: --allow-any-model)")
            # the CLI's defaults (TrainConfig), but 1 epoch, not 3: a first run in the app should be short
            train_defaults = defaults(TrainConfig)
            method = gr.Radio(list(METHODS), value=train_defaults["method"], label="Method (full, LoRA, or head only)")
            with gr.Row():
                epochs = gr.Number(1, label="Epochs", minimum=0.01, elem_id="ft-epochs")
                lr = gr.Number(train_defaults["lr"], label="Learning rate", elem_id="ft-lr")
            with gr.Row():
                batch_size = gr.Number(train_defaults["batch_size"], label="Batch size", precision=0, minimum=1)
                max_length = gr.Number(train_defaults["max_length"], label="Max length (tokens)", precision=0,
                                       minimum=8)
            max_examples = gr.Number(2000, label="Max training examples (0 = all)", precision=0, minimum=0)
            name = gr.Textbox(label="Name of the new model (a folder in the runs folder; blank: a dated name)",
                              elem_id="ft-name")
    go = gr.Button("Start fine-tuning", variant="primary", elem_id="ft-run")
    status = gr.Markdown(elem_id="ft-status")
    error = gr.HTML(elem_id="ft-error")
    plot = gr.LinePlot(x="step", y="value", color="series", title="Training", label="Loss and eval metric",
                       elem_id="ft-plot", height=300)
    report_md = gr.Markdown(elem_id="ft-report")
    with gr.Row():
        confusion = gr.Image(label="Confusion matrix", type="pil", interactive=False, elem_id="ft-confusion")
        loss = gr.Image(label="Loss", type="pil", interactive=False)

    def render(job: Job) -> list:
        status_, events, result, err = job.snapshot()
        steps = [e for e in events if e["event"] == "step"]
        detail = f"step {steps[-1]['step']}/{steps[-1]['total']}, loss {steps[-1]['loss']:.4f}" if steps else "preparing"
        text, cm, lc = report(result["output"]) if result else ("", None, None)
        models = refresh_models(None) if result else gr.update()
        return [status_line(job, detail), curve(events), text, cm, lc, models, error_html(err) if err else ""]

    inputs = [source, builtin, upload, text_column, label_column, body, method, epochs, lr, batch_size, max_length,
              max_examples, name]
    attach(ctx, key="finetune", start=lambda *v: start_job(ctx, *v), inputs=inputs,
           outputs=[status, plot, report_md, confusion, loss, classify_model, error], render=render, button=go,
           demo=demo)
