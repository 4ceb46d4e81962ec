"""llmkit evaluate: score a model folder on labelled data (every task of a multi-task folder)."""
from __future__ import annotations

import json

HELP = "Score a fine-tuned or multi-task model folder on labelled data."
EXAMPLES = """\
  llmkit evaluate runs/food --data fine_food_reviews:test
  llmkit evaluate runs/topics --data test.csv --label-column topic --json
  llmkit evaluate runs/multi                      # every task, on the eval data recorded at training time
"""


def add_arguments(p) -> None:
    p.add_argument("model", help="model folder (or catalog name)")
    p.add_argument("--data", help="labelled data: file or built-in name (default: the run's eval data)")
    p.add_argument("--task", help="only this task of a multi-task folder")
    p.add_argument("--text-column", default="text")
    p.add_argument("--label-column", default="label")
    p.add_argument("--engine", default="auto", choices=["auto", "onnx-int8", "torch"])
    p.add_argument("--json", action="store_true")


def run(args) -> int:
    from ..train.evaluate_folder import evaluate_folder

    results = evaluate_folder(args.model, data=args.data, task=args.task, text_column=args.text_column,
                              label_column=args.label_column, engine=args.engine)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for task, m in results.items():
        print(f"## {task}  ({m['n']} examples, data: {m['data']})")
        if "accuracy" in m:
            print(f"accuracy {m['accuracy']:.4f}   macro-F1 {m['macro_f1']:.4f}")
            print(f"{'class':24} {'precision':>9} {'recall':>9} {'F1':>9} {'support':>8}")
            for name, c in m["per_class"].items():
                print(f"{name:24} {c['precision']:9.3f} {c['recall']:9.3f} {c['f1']:9.3f} {c['support']:8d}")
        else:
            print(", ".join(f"{k} {v:.4f}" for k, v in m.items() if isinstance(v, float)))
    return 0
