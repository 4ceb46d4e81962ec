"""Fine-tuning: quality on the three built-in datasets, and speed against transformers' Trainer.

    .venv/bin/python bench/finetune.py quality [--datasets fine_food_reviews,fortune_topics,austen_novels]
                                               [--epochs 3] [--max-length 128] [--limit N]
                                               [--body all-mpnet-base-v2] [--lr 4e-5]
    .venv/bin/python bench/finetune.py speed [--limit 512] [--epochs 1] [--max-length 128]

quality: full fine-tune of the body (default all-minilm-l6-v2) with llmkit on each train split (the best checkpoint chosen on 10% of
it, held out), accuracy on the test split, next to
two baselines computed in the same run (TF-IDF + logistic regression; the frozen body's mean embeddings + logistic
regression).
speed: the same model (MiniLM + mean pooling + linear head), data, hyperparameters and seed, trained by llmkit's
loop and by transformers' Trainer, each in its own process (so peak RSS is each one's own): samples/s, peak
memory, final accuracy.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def _data(name: str, limit: int | None):
    from llmkit.train.data import load_dataset

    train, test = load_dataset(name, "train"), load_dataset(name, "test")
    if limit:
        import random

        random.Random(0).shuffle(train)
        train = train[:limit]
    return train, test


def baselines(name: str, limit: int | None, body: str) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from llmkit import pipeline

    train, test = _data(name, limit)
    xt, yt = [r["text"] for r in train], [r["label"] for r in train]
    xe, ye = [r["text"] for r in test], [r["label"] for r in test]
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    tfidf = LogisticRegression(max_iter=2000, C=10).fit(vec.fit_transform(xt), yt).score(vec.transform(xe), ye)
    emb = pipeline("sentence-embeddings", model=body, normalize=True)
    frozen = LogisticRegression(max_iter=2000, C=10).fit(emb(xt), yt).score(emb(xe), ye)
    return {"tfidf_lr": tfidf, "frozen_body_lr": frozen}


def quality(args) -> None:
    from llmkit.train.config import TrainConfig
    from llmkit.train.evaluate_folder import evaluate_folder
    from llmkit.train.finetune import finetune

    rows = []
    for name in args.datasets.split(","):
        base = baselines(name, args.limit, args.body)
        train, _ = _data(name, args.limit)
        cfg = TrainConfig(epochs=args.epochs, lr=args.lr, batch_size=16, max_length=args.max_length, seed=13,
                          threads=args.threads)
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            # model selection on 10% of train; the test split is scored once, at the end
            out = finetune(args.body, train, eval_split=0.1, output=Path(tmp) / name, config=cfg,
                           progress=False)
            minutes = (time.perf_counter() - start) / 60
            acc = evaluate_folder(str(out), data=f"{name}:test", engine="torch")["default"]["accuracy"]
            acc8 = evaluate_folder(str(out), data=f"{name}:test", engine="onnx-int8")["default"]["accuracy"]
        row = {"dataset": name, "body": args.body, "epochs": args.epochs, "lr": args.lr, "n_train": len(train), **base, "llmkit_full_ft": acc, "llmkit_full_ft_int8": acc8,
               "minutes": round(minutes, 1)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"| dataset | train | TF-IDF+LR | frozen {args.body}+LR | llmkit full FT (fp32) | same, int8 engine | minutes |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['dataset']} | {r['n_train']} | {r['tfidf_lr']:.3f} | {r['frozen_body_lr']:.3f} | "
              f"{r['llmkit_full_ft']:.3f} | {r['llmkit_full_ft_int8']:.3f} | {r['minutes']} |")


def _train_llmkit(args, queue) -> None:
    import torch

    torch.set_num_threads(args.threads)
    from llmkit.train.config import TrainConfig
    from llmkit.train.runner import load_body
    from llmkit.train.task_data import prepare_task
    from llmkit.train.loop import Trainer, seed_everything

    train, test = _data("fine_food_reviews", args.limit)
    data = prepare_task("default", train, test)
    cfg = TrainConfig(epochs=args.epochs, lr=5e-5, head_lr=5e-5, batch_size=16, max_length=args.max_length,
                      warmup=0.0, weight_decay=0.0, seed=7, threads=args.threads)
    seed_everything(cfg.seed)
    net, tok, _ = load_body("all-minilm-l6-v2", [data.spec])
    trainer = Trainer(net, tok, [data], cfg, progress=False)
    trainer.eval_ids = {}  # time training alone; score once at the end, like the Trainer side
    start = time.perf_counter()
    trainer.fit()
    seconds = time.perf_counter() - start
    from llmkit.train.evaluate import encode, predict_logits

    logits = predict_logits(net, encode(tok, data.eval.texts, cfg.max_length), "default", trainer.pad_id)
    acc = float((logits.argmax(-1) == data.eval.targets).mean())
    queue.put({"system": "llmkit", "samples_per_s": len(train) * args.epochs / seconds, "accuracy": acc,
               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "seconds": seconds})


def _train_hf(args, queue) -> None:
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from _hf import mean_pooled_classifier_class
    from transformers import AutoTokenizer, DataCollatorWithPadding, Trainer, TrainingArguments, set_seed

    from llmkit import resolve

    train, test = _data("fine_food_reviews", args.limit)
    labels = sorted({r["label"] for r in train})
    path = str(resolve("all-minilm-l6-v2").path)
    tok = AutoTokenizer.from_pretrained(path)
    set_seed(7)
    model = mean_pooled_classifier_class().from_pretrained(path, num_labels=len(labels))

    def enc(rows):
        out = tok([r["text"] for r in rows], truncation=True, max_length=args.max_length)
        return [{"input_ids": i, "attention_mask": m, "labels": labels.index(r["label"])}
                for i, m, r in zip(out["input_ids"], out["attention_mask"], rows)]

    with tempfile.TemporaryDirectory() as tmp:
        targs = TrainingArguments(output_dir=tmp, per_device_train_batch_size=16, num_train_epochs=args.epochs,
                                  learning_rate=5e-5, weight_decay=0.0, warmup_steps=0, lr_scheduler_type="linear",
                                  max_grad_norm=1.0, seed=7, save_strategy="no", logging_strategy="no",
                                  report_to=[], use_cpu=True, dataloader_num_workers=0, disable_tqdm=True)
        trainer = Trainer(model=model, args=targs, train_dataset=enc(train), data_collator=DataCollatorWithPadding(tok))
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
        pred = trainer.predict(enc(test))
    acc = float((np.argmax(pred.predictions, -1) == pred.label_ids).mean())
    queue.put({"system": "transformers Trainer", "samples_per_s": len(train) * args.epochs / seconds,
               "accuracy": acc, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               "seconds": seconds})


def _run_in_child(fn, args, preload: str | None) -> dict:
    """One system in its own spawned process (own peak RSS), optionally under an LD_PRELOADed allocator."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    saved = os.environ.get("LD_PRELOAD")
    if preload:
        os.environ["LD_PRELOAD"] = preload
    try:
        p = ctx.Process(target=fn, args=(args, q))
        p.start()
    finally:
        if saved is None:
            os.environ.pop("LD_PRELOAD", None)
        else:
            os.environ["LD_PRELOAD"] = saved
    row = q.get()
    p.join()
    row["allocator"] = "tcmalloc" if preload else "glibc"
    print(json.dumps(row), flush=True)
    return row


def speed(args) -> None:
    from llmkit.allocator import find_tcmalloc

    # llmkit runs as `llmkit finetune` runs it: under tcmalloc when the library is installed (llmkit/allocator.py).
    tcmalloc = None if args.llmkit_glibc else find_tcmalloc()
    hf = _run_in_child(_train_hf, args, None)
    lk = _run_in_child(_train_llmkit, args, tcmalloc)
    print(f"llmkit / Trainer: {lk['samples_per_s'] / hf['samples_per_s']:.2f}x samples/s, peak RSS "
          f"{lk['peak_rss_mb']:.0f} vs {hf['peak_rss_mb']:.0f} MB, accuracy {lk['accuracy']:.4f} vs {hf['accuracy']:.4f}")
    if args.trainer_tcmalloc and tcmalloc:  # context: what the Trainer gets from the same allocator
        hf_tc = _run_in_child(_train_hf, args, tcmalloc)
        print(f"Trainer under tcmalloc: {hf_tc['samples_per_s']:.2f} samples/s, peak RSS {hf_tc['peak_rss_mb']:.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["quality", "speed"])
    ap.add_argument("--datasets", default="fine_food_reviews,fortune_topics,austen_novels")
    ap.add_argument("--epochs", type=float, default=3)
    ap.add_argument("--lr", type=float, default=8e-5)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--body", default="all-minilm-l6-v2", help="quality: the catalog encoder to fine-tune")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--llmkit-glibc", action="store_true", help="speed: run llmkit on glibc malloc, not tcmalloc")
    ap.add_argument("--trainer-tcmalloc", action="store_true", help="speed: also run the Trainer under tcmalloc")
    args = ap.parse_args()
    if args.mode == "speed" and args.limit is None:
        args.limit = 512
    (quality if args.mode == "quality" else speed)(args)


if __name__ == "__main__":
    main()
