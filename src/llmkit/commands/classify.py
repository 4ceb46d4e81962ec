"""llmkit classify: label texts with a classifier (the built-in sentiment model by default)."""
from __future__ import annotations

import json
import sys

from ._io import add_device_arguments, add_text_input_arguments, device_options, gather_texts, write_jsonl

HELP = "Classify texts (default: English sentiment, POSITIVE / NEGATIVE)."
EXAMPLES = """\
  llmkit classify "I love this tea" "The box arrived crushed"
  echo "Tastes like cardboard" | llmkit classify --json
  llmkit classify --file reviews.csv --output labels.jsonl
  llmkit classify --model runs/topics --top-k 3 "The court ruled in favour"
  llmkit classify --model runs/multi --task sentiment "Not bad at all"
  llmkit classify --explain "Stale coffee, lovely mug"
"""


def add_arguments(p) -> None:
    add_text_input_arguments(p)
    add_model_arguments(p)
    p.add_argument("--explain", action="store_true",
                   help="word attributions (integrated gradients, on torch): coloured words, or attributions in --json")
    p.add_argument("--explain-label", default=None, metavar="LABEL",
                   help="explain this label instead of the predicted one (implies --explain)")
    p.add_argument("--json", action="store_true", help="one JSON object a line (the default with --output)")


def add_model_arguments(p) -> None:
    """The classifier and its options (shared with `llmkit batch classify`)."""
    p.add_argument("--model", "-m", default=None, help="catalog name, model folder or hub id (default: minilm-sentiment)")
    p.add_argument("--task", default=None, help="which head of a multi-task model folder")
    p.add_argument("--top-k", type=int, default=1, help="labels per text, best first (0: all)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=None, help="truncate texts to this many tokens")
    p.add_argument("--engine", default="auto", choices=["auto", "onnx-int8", "torch"])
    add_device_arguments(p)


def run(args) -> int:
    from ..errors import InputError
    from ..pipelines import pipeline

    if args.top_k < 0:
        raise InputError("--top-k must be >= 0 (0 means every label).")
    texts = gather_texts(args)
    clf = pipeline("text-classification", model=args.model, engine=args.engine, task=args.task,
                   batch_size=args.batch_size, max_length=args.max_length, **device_options(args))
    top_k = args.top_k or None
    results = clf(texts, top_k=top_k)
    rows = []
    for text, res in zip(texts, results):
        ranked = res if isinstance(res, list) else [res]
        row = {"label": ranked[0]["label"], "score": round(ranked[0]["score"], 6)}
        if top_k != 1:
            row["labels"] = [{"label": r["label"], "score": round(r["score"], 6)} for r in ranked]
        rows.append(row)
    explained = clf.explain(texts, label=args.explain_label) if args.explain or args.explain_label else None
    for row, e in zip(rows, explained or []):
        row["explained_label"] = e.label
        row["attributions"] = [{"word": a["word"], "score": round(a["score"], 6)} for a in e.attributions]
        row["attribution_delta"] = round(e.delta, 6)  # completeness: sum(scores) - logit difference
    if explained and not (args.json or args.output):
        from ..tasks.explain import render

        color = sys.stdout.isatty()
        for text, row, e in zip(texts, rows, explained):
            extra = "  " + json.dumps(row["labels"]) if "labels" in row else ""
            print(f"{row['label']}\t{row['score']:.4f}\t{render(e.attributions, color)}{extra}")
        return 0
    if args.json or args.output:
        write_jsonl(({"text": t, **r} if not args.output else r for t, r in zip(texts, rows)), args.output)
    else:
        for text, row in zip(texts, rows):
            extra = "  " + json.dumps(row["labels"]) if "labels" in row else ""
            short = text if len(text) <= 60 else text[:57] + "..."
            print(f"{row['label']}\t{row['score']:.4f}\t{short}{extra}")
    return 0
