"""The Classify tab: text in, labels with score bars; any installed classifier or fine-tuned folder; batch
mode over an uploaded CSV/JSONL with a downloadable result. A thin shell over ``TextClassificationPipeline``."""
from __future__ import annotations

import csv
import tempfile
from pathlib import Path
from typing import Any

from ..errors import InputError, LlmkitError
from ..hub import resolve
from ..textio import column, read_records
from .common import UiContext, error_html

TASK = "text-classification"


def heads_of(ctx: UiContext, model: str) -> list[str]:
    """The heads of a model folder (one for a plain classifier, several for a multi-task one)."""
    try:
        ref = resolve(ctx.model(model), build=False)
    except LlmkitError:
        return []
    manifest = ref.manifest if ref.format == "llmkit" else None
    return list(manifest.tasks) if manifest else []


def classify_text(ctx: UiContext, model: str, head: str | None, text: str) -> tuple[dict[str, float] | None, str]:
    try:
        if not text or not text.strip():
            raise InputError("the text is empty: type a sentence to classify.")
        pipe = ctx.pipeline(TASK, model, task=head or None)
        ranked = pipe([text], top_k=None)[0]
        return {r["label"]: r["score"] for r in ranked}, ""
    except Exception as e:
        return None, error_html(e)


def classify_file(ctx: UiContext, model: str, head: str | None, file: str | None,
                  text_column: str) -> tuple[str | None, list[list[Any]] | None, str]:
    """Classify every record of a CSV/JSONL; the result is a CSV with the label and score added."""
    try:
        if not file:
            raise InputError("upload a .csv or .jsonl file with a text column first.")
        records = read_records(Path(file))
        texts = [str(t) for t in column(records, text_column or "text", Path(file).name)]
        pipe = ctx.pipeline(TASK, model, task=head or None)
        best = pipe(texts, top_k=1)
        out = Path(tempfile.mkdtemp(prefix="llmkit-ui-")) / f"{Path(file).stem}.classified.csv"
        fields = list(dict.fromkeys([*records[0].keys(), "label", "score"]))
        with out.open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
            w.writeheader()
            for r, b in zip(records, best):
                w.writerow({**r, "label": b["label"], "score": round(b["score"], 4)})
        preview = [[t[:120], b["label"], round(b["score"], 4)] for t, b in zip(texts[:50], best)]
        return str(out), preview, ""
    except Exception as e:
        return None, None, error_html(e)


def build(ctx: UiContext):
    """Lay out the tab; returns the model dropdown so the Fine-tune tab can add new models to it."""
    import gradio as gr

    models = ctx.models_for(TASK)
    with gr.Row():
        model = gr.Dropdown(models, value=models[0] if models else None, label="Model", scale=4,
                            allow_custom_value=True, elem_id="classify-model",
                            info="an installed classifier or a folder in the runs folder (others: --allow-any-model)")
        head = gr.Dropdown(heads_of(ctx, models[0]) if models else [], label="Head", scale=2,
                           elem_id="classify-head", info="which output of a multi-task model")
        refresh = gr.Button("↻ Refresh models", scale=1, elem_id="classify-refresh")
    text = gr.Textbox(label="Text", lines=3, placeholder="The coffee was stale and bitter.", elem_id="classify-text")
    go = gr.Button("Classify", variant="primary", elem_id="classify-run")
    error = gr.HTML(elem_id="classify-error")
    labels = gr.Label(label="Labels", num_top_classes=10, elem_id="classify-labels")
    with gr.Accordion("Batch: classify a CSV / JSONL file", open=False):
        with gr.Row():
            upload = gr.File(label="CSV or JSONL", file_types=[".csv", ".jsonl", ".json", ".tsv"], elem_id="classify-file")
            text_column = gr.Textbox("text", label="Text column")
        go_file = gr.Button("Classify file", elem_id="classify-file-run")
        result_file = gr.File(label="Result (CSV)", interactive=False)
        preview = gr.Dataframe(headers=["text", "label", "score"], label="Preview (first 50)", interactive=False)

    def on_model(m):
        heads = heads_of(ctx, m) if m else []
        return gr.update(choices=heads, value=heads[0] if heads else None)

    def on_refresh(current):
        choices = ctx.models_for(TASK)
        return gr.update(choices=choices, value=current if current in choices else (choices[0] if choices else None))

    model.change(on_model, model, head)
    refresh.click(on_refresh, model, model)
    go.click(lambda m, h, t: classify_text(ctx, m, h, t), [model, head, text], [labels, error])
    text.submit(lambda m, h, t: classify_text(ctx, m, h, t), [model, head, text], [labels, error])
    go_file.click(lambda m, h, f, c: classify_file(ctx, m, h, f, c), [model, head, upload, text_column],
                  [result_file, preview, error])
    return model, on_refresh
