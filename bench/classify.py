"""Text classification throughput: transformers pipeline (batch 1 and 32) vs llmkit, same weights, same texts.

    .venv/bin/python bench/classify.py [--model minilm-sentiment] [--limit 1000] [--threads 2]

The anchor is transformers' own ``pipeline("text-classification")`` running the very weights llmkit serves
(the llmkit folder's body and head loaded into a transformers ``BertForSequenceClassification`` whose pooling
is the folder's mean pooling). Texts: the 1000 fine-food test reviews. Prints texts/s, accuracy and ratios.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np


def load_texts(limit: int) -> tuple[list[str], list[str]]:
    from llmkit.train.data import load_dataset
    from llmkit.train.recipes import SENTIMENT_LABELS

    rows = load_dataset("fine_food_reviews", "test")[:limit]
    return [r["text"] for r in rows], [SENTIMENT_LABELS[r["label"]] for r in rows]


def transformers_anchor(folder, max_length: int):
    """A transformers pipeline over the llmkit folder's exact weights."""
    from _hf import mean_pooled_classifier_class
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoTokenizer, pipeline

    from llmkit.modeling import read_manifest

    manifest = read_manifest(folder)
    task = manifest["default_task"]
    labels = manifest["tasks"][task]["labels"]

    MeanPooledBertForSequenceClassification = mean_pooled_classifier_class()

    config = AutoConfig.from_pretrained(str(folder), num_labels=len(labels),
                                        id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
    model = MeanPooledBertForSequenceClassification(config)
    body = load_file(str(folder / "model.safetensors"))
    missing, unexpected = model.bert.load_state_dict(body, strict=False)
    assert not [k for k in missing if "pooler" not in k], missing
    heads = load_file(str(folder / "heads.safetensors"))
    model.classifier.load_state_dict({"weight": heads[f"{task}.weight"], "bias": heads[f"{task}.bias"]})
    model.eval()
    tok = AutoTokenizer.from_pretrained(str(folder))
    return pipeline("text-classification", model=model, tokenizer=tok, device="cpu"), max_length


def timed(fn, texts):
    fn(texts[:16])  # warm-up
    start = time.perf_counter()
    out = fn(texts)
    return out, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="minilm-sentiment")
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from llmkit import pipeline, resolve

    ref = resolve(args.model)
    max_length = int(ref.manifest.get("max_length", 128))
    texts, gold = load_texts(args.limit)
    hf, _ = transformers_anchor(ref.path, max_length)
    rows = []

    def record(name, labels, seconds):
        acc = float(np.mean([p == g for p, g in zip(labels, gold)]))
        rows.append({"setting": name, "texts_per_s": len(texts) / seconds, "accuracy": acc, "seconds": seconds})
        print(f"{name:34} {len(texts) / seconds:8.1f} texts/s   accuracy {acc:.4f}", flush=True)

    for bs in (1, 32):
        out, sec = timed(lambda t: hf(t, batch_size=bs, truncation=True, max_length=max_length), texts)
        record(f"transformers pipeline, batch {bs}", [o["label"] for o in out], sec)
    for engine in ("torch", "onnx-int8"):
        clf = pipeline("text-classification", model=args.model, engine=engine, threads=args.threads)
        out, sec = timed(clf, texts)
        record(f"llmkit engine={engine}", [o["label"] for o in out], sec)

    best_hf = max(rows[:2], key=lambda r: r["texts_per_s"])
    for r in rows[2:]:
        print(f"{r['setting']}: {r['texts_per_s'] / best_hf['texts_per_s']:.2f}x the better transformers setting "
              f"({best_hf['setting']}); accuracy delta {100 * (r['accuracy'] - best_hf['accuracy']):+.2f} points")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
