"""Text classification throughput: transformers pipeline (batch 1 and 32) vs llmkit, same weights, same texts.

    .venv/bin/python bench/classify.py [--model minilm-sentiment] [--limit 1000] [--threads 2] [--rounds 2]

The anchor is transformers' own ``pipeline("text-classification")`` running the very weights llmkit serves
(the llmkit folder's body and head loaded into a transformers ``BertForSequenceClassification`` whose pooling
is the folder's mean pooling). Texts: the 1000 fine-food test reviews. Each contender runs in its own process
(so no two share thread pools or allocator state), one after the other, and the order alternates between rounds;
the best round counts. Prints texts/s, accuracy, ratios, and for llmkit's engines the agreement with fp32 (the
torch engine: cosine of class-probability vectors, label agreement) and batch invariance (min cosine between a
text's probabilities alone and inside its batch, over the first 32 texts).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np

CONTENDERS = ("transformers pipeline, batch 1", "transformers pipeline, batch 32", "llmkit engine=torch",
              "llmkit engine=onnx-int8")


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

    from llmkit.manifest import Manifest

    manifest = Manifest.read(folder)
    task = manifest.default_task
    labels = manifest.tasks[task].labels

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


def run_one(name: str, model: str, limit: int, threads: int) -> dict:
    """One contender in this process: seconds, and each text's label and class probabilities."""
    import torch

    torch.set_num_threads(threads)
    from llmkit import pipeline, resolve

    ref = resolve(model)
    max_length = ref.manifest.max_length or 128
    texts, _ = load_texts(limit)
    if name.startswith("transformers"):
        hf, _ = transformers_anchor(ref.path, max_length)
        bs = int(name.rsplit(" ", 1)[1])
        out, sec = timed(lambda t: hf(t, batch_size=bs, truncation=True, max_length=max_length, top_k=None), texts)
        labels = sorted({d["label"] for d in out[0]})
        probs = [[next(d["score"] for d in row if d["label"] == lab) for lab in labels] for row in out]
        return {"seconds": sec, "labels": [max(r, key=lambda d: d["score"])["label"] for r in out], "probs": probs}
    clf = pipeline("text-classification", model=model, engine=name.split("=")[1], threads=threads)
    out, sec = timed(lambda t: clf(t, top_k=None), texts)
    labels = sorted(d["label"] for d in out[0])

    def vec(row):
        return [next(d["score"] for d in row if d["label"] == lab) for lab in labels]

    probs = [vec(r) for r in out]
    alone = [vec(clf(t, top_k=None)[0]) for t in texts[:32]]
    invariance = min(_cos(np.array(a), np.array(b)) for a, b in zip(alone, probs))
    return {"seconds": sec, "labels": [r[0]["label"] for r in out], "probs": probs, "invariance": invariance}


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="minilm-sentiment")
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--only", choices=CONTENDERS, help=argparse.SUPPRESS)  # the child process: one contender
    args = ap.parse_args()
    if args.only:
        print(json.dumps(run_one(args.only, args.model, args.limit, args.threads)))
        return

    _, gold = load_texts(args.limit)
    results: dict[str, dict] = {}
    for rnd in range(args.rounds):
        for name in (CONTENDERS if rnd % 2 == 0 else CONTENDERS[::-1]):
            proc = subprocess.run([sys.executable, __file__, "--only", name, "--model", args.model, "--limit",
                                   str(args.limit), "--threads", str(args.threads)], capture_output=True, text=True)
            if proc.returncode:
                sys.exit(f"{name} failed:\n{proc.stderr[-2000:]}")
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            if name not in results or r["seconds"] < results[name]["seconds"]:
                results[name] = r
    fp32 = results["llmkit engine=torch"]
    rows = []
    for name in CONTENDERS:
        r = results[name]
        acc = float(np.mean([p == g for p, g in zip(r["labels"], gold)]))
        cos = [_cos(np.array(a), np.array(b)) for a, b in zip(r["probs"], fp32["probs"])]
        row = {"setting": name, "texts_per_s": len(gold) / r["seconds"], "accuracy": acc, "seconds": r["seconds"],
               "fp32_cos_mean": float(np.mean(cos)), "fp32_cos_min": float(np.min(cos)),
               "fp32_label_agreement": float(np.mean([a == b for a, b in zip(r["labels"], fp32["labels"])])),
               "batch_invariance_min_cos": r.get("invariance")}
        rows.append(row)
        inv = f"   batch invariance min cos {row['batch_invariance_min_cos']:.6f}" if "invariance" in r else ""
        print(f"{name:34} {row['texts_per_s']:8.1f} texts/s   accuracy {acc:.4f}   vs fp32: cos mean "
              f"{row['fp32_cos_mean']:.5f} min {row['fp32_cos_min']:.5f}, labels {row['fp32_label_agreement']:.4f}"
              f"{inv}", flush=True)
    best_hf = max(rows[:2], key=lambda r: r["texts_per_s"])
    for r in rows[2:]:
        print(f"{r['setting']}: {r['texts_per_s'] / best_hf['texts_per_s']:.2f}x the better transformers setting "
              f"({best_hf['setting']}); accuracy delta {100 * (r['accuracy'] - best_hf['accuracy']):+.2f} points")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
