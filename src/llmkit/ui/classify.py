"""The Classify tab: text in, labels with score bars and (optionally) the text with each word highlighted by its
attribution to the top label (green: for it, red: against it; integrated gradients, ``tasks/explain.py``); any
installed classifier or fine-tuned folder; batch mode over an uploaded CSV/JSONL with a downloadable result. A thin
shell over ``TextClassificationPipeline``."""
from __future__ import annotations

import csv
import html
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


def classify_text(ctx: UiContext, model: str, head: str | None, text: str,
                  explain: bool = False) -> tuple[dict[str, float] | None, str, str]:
    """(label scores, the highlighted text when ``explain``, an error line)."""
    try:
        if not text or not text.strip():
            raise InputError("the text is empty: type a sentence to classify.")
        pipe = ctx.pipeline(TASK, model, task=head or None)
        ranked = pipe([text], top_k=None)[0]
        highlighted = highlight(pipe.explain([text], ranked=[ranked])[0]) if explain else ""
        return {r["label"]: r["score"] for r in ranked}, highlighted, ""
    except Exception as e:
        return None, "", error_html(e)


def highlight(explanation: Any) -> str:
    """The text as HTML, each word's background green (for the label) or red (against), stronger the larger its
    share of the strongest word's score; the score in the word's tooltip."""
    top = max((abs(a["score"]) for a in explanation.attributions), default=0.0) or 1.0
    spans = []
    for a in explanation.attributions:
        share = a["score"] / top
        rgb, kind = ("22, 163, 74", "for") if share >= 0 else ("220, 38, 38", "against")
        spans.append(f'<span class="llmkit-attr llmkit-attr-{kind}" title="{a["score"]:+.3f}" '
                     f'style="background: rgba({rgb}, {abs(share) * 0.6:.2f}); padding: 0 2px; border-radius: 3px">'
                     f'{html.escape(a["word"])}</span>')
    head = (f'<div class="llmkit-explained">Why <b>{html.escape(explanation.label)}</b> '
            f'(green: for it, red: against it; integrated gradients on {html.escape(explanation.engine)}):</div>')
    return f'{head}<div class="llmkit-attributions" style="line-height: 2">{" ".join(spans)}</div>'


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
    with gr.Row():
        go = gr.Button("Classify", variant="primary", elem_id="classify-run", scale=4)
        explain = gr.Checkbox(False, label="Explain: highlight the words behind the label", elem_id="classify-explain",
                              scale=2)
    error = gr.HTML(elem_id="classify-error")
    labels = gr.Label(label="Labels", num_top_classes=10, elem_id="classify-labels")
    explanation = gr.HTML(elem_id="classify-explanation")
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
    inputs, outputs = [model, head, text, explain], [labels, explanation, error]
    go.click(lambda m, h, t, x: classify_text(ctx, m, h, t, x), inputs, outputs)
    text.submit(lambda m, h, t, x: classify_text(ctx, m, h, t, x), inputs, outputs)
    go_file.click(lambda m, h, f, c: classify_file(ctx, m, h, f, c), [model, head, upload, text_column],
                  [result_file, preview, error])
    return model, on_refresh
