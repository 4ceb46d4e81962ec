"""Faithfulness of word attributions (issue 19): does deleting the words integrated gradients ranks highest lower the
predicted label's probability more than deleting as many random words?

For each fine-food test review (held out from the default model's training) the default sentiment model predicts a
label with probability p0; we delete the k words with the highest attribution towards that label (k = 1..5), and
separately k random words (averaged over --random-draws draws), and re-score. The curves are the mean drop
p0 - p_k; AOPC (area over the perturbation curve, Samek et al. 2017, https://arxiv.org/abs/1509.06321) is the
mean drop over k = 1..5. Target: the top-k drop at k = 3 is at least 2x the random drop.

    python bench/explain.py --limit 80 --max-words 40 --steps 16   # ~12 min on 2 busy cores
    python bench/explain.py --limit 5 --steps 8    # smoke test
    mkdir -p rows; for o in 0 50 100 150 200 250; do   # BENCHMARKS.md's 300 reviews: six processes, then the figures of all rows
      python bench/explain.py --limit 50 --offset $o --max-words 40 --steps 16 --rows rows/r$o.jsonl & done; wait
    python bench/explain.py --merge rows/r*.jsonl

Each review's curves can go to a --rows file as they are measured (one JSON line each; reviews already there are
skipped, so an interrupted run resumes). A long run splits across processes with --offset/--limit, each with its own
rows file; --merge FILE... prints the figures of all their rows. Each review's random deletions are seeded by its
own index, so the figures do not depend on the split.
"""
from __future__ import annotations

import argparse
import json
import random
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="minilm-sentiment")
    ap.add_argument("--data", default="fine_food_reviews:test")
    ap.add_argument("--limit", type=int, default=200, help="reviews (the first ones of 6 to --max-words words)")
    ap.add_argument("--max-words", type=int, default=80, help="longer reviews are skipped (IG cost grows with length)")
    ap.add_argument("--max-k", type=int, default=5)
    ap.add_argument("--random-draws", type=int, default=5)
    ap.add_argument("--steps", type=int, default=50, help="integrated-gradients steps")
    ap.add_argument("--offset", type=int, default=0, help="skip this many of the selected reviews (a chunk of a run)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rows", help="append each review's result to this JSONL file; reviews already in it are skipped")
    ap.add_argument("--merge", nargs="+", metavar="ROWS", help="only print the figures of these rows files")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.merge:
        rows = {r["i"]: r for f in args.merge for r in read_rows(f)}  # a review given twice counts once
        return report(sorted(rows.values(), key=lambda r: r["i"]), {**vars(args), "steps": None}, 0.0)

    from llmkit import pipeline
    from llmkit.tasks.explain import Explainer
    from llmkit.train.data import load_dataset

    rows = load_dataset(args.data)
    texts = [r["text"] for r in rows if args.max_k + 1 <= len(r["text"].split()) <= args.max_words]
    todo = range(args.offset, min(args.offset + args.limit, len(texts)))
    results = [r for r in read_rows(args.rows) if r["i"] in todo] if args.rows else []
    done = {r["i"] for r in results}
    clf = pipeline("text-classification", model=args.model, engine="torch")
    clf._explainer = Explainer(clf, n_steps=args.steps)
    K = range(1, args.max_k + 1)
    start = time.perf_counter()
    for i in todo:
        if i in done:
            continue
        results.append(one_review(clf, texts[i], random.Random(f"{args.seed}:{i}"), K, args.random_draws)
                       | {"i": i, "ig_steps": args.steps})
        if args.rows:
            with open(args.rows, "a") as f:
                f.write(json.dumps(results[-1]) + "\n")
        if len(results) % 10 == 0:
            top, rnd = np.mean([r["top"][2] for r in results]), np.mean([r["random"][2] for r in results])
            print(f"  {len(results)}/{len(todo)} reviews, {time.perf_counter() - start:.0f} s: drop at k=3 top "
                  f"{top:.3f} random {rnd:.3f}", flush=True)
    report(results, vars(args), time.perf_counter() - start)


def one_review(clf, text: str, rng: random.Random, K: range, draws: int) -> dict:
    """The drops of the predicted label's probability when the top-k / k random words are deleted, k in K."""
    e = clf.explain(text)[0]
    words = [a["word"] for a in e.attributions]  # the words the model saw (past max_length: not deletable)
    rest = text.split()[len(words):]
    order = sorted(range(len(words)), key=lambda i: -e.attributions[i]["score"])
    variants = []
    for k in K:
        variants.append(set(order[:k]))
        variants += [set(rng.sample(range(len(words)), k)) for _ in range(draws)]
    edited = [" ".join([w for i, w in enumerate(words) if i not in drop] + rest) for drop in variants]
    probs = [next(r["score"] for r in ranked if r["label"] == e.label) for ranked in clf(edited, top_k=None)]
    step = 1 + draws
    return {"top": [e.score - probs[j * step] for j in range(len(K))],
            "random": [e.score - float(np.mean(probs[j * step + 1:(j + 1) * step])) for j in range(len(K))],
            "delta": abs(e.delta), "complete": bool(e.complete)}


def read_rows(path: str) -> list[dict]:
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def report(results: list[dict], args: dict, seconds: float) -> None:
    top, rnd = np.mean([r["top"] for r in results], 0), np.mean([r["random"] for r in results], 0)
    K = range(1, len(top) + 1)
    k3 = list(K).index(3) if 3 in K else len(K) - 1
    steps = args["steps"] or results[0]["ig_steps"]
    result = {"model": args["model"], "data": args["data"], "reviews": len(results), "ig_steps": steps,
              "random_draws": args["random_draws"], "top_k_drop": [round(float(x), 4) for x in top],
              "random_drop": [round(float(x), 4) for x in rnd], "aopc_top": round(float(top.mean()), 4),
              "aopc_random": round(float(rnd.mean()), 4), "ratio_at_k3": round(float(top[k3] / max(rnd[k3], 1e-9)), 2),
              "complete_share": round(sum(r["complete"] for r in results) / max(len(results), 1), 3),
              "mean_abs_delta": float(f"{np.mean([r['delta'] for r in results]):.2e}"), "seconds": round(seconds, 1)}
    if args["json"]:
        print(json.dumps(result))
        return
    print(f"{len(results)} reviews of {args['data']}, {args['model']}, IG {steps} steps")
    print("k            " + "  ".join(f"{k:>6}" for k in K))
    print("top-k drop   " + "  ".join(f"{x:6.3f}" for x in top))
    print("random drop  " + "  ".join(f"{x:6.3f}" for x in rnd))
    print(f"AOPC top {result['aopc_top']:.3f}  random {result['aopc_random']:.3f}; at k=3 top/random = "
          f"{result['ratio_at_k3']:.2f}x (target >= 2x); complete {result['complete_share']:.1%}, "
          f"mean |delta| {result['mean_abs_delta']:.1e}; {result['seconds']:.0f} s")


if __name__ == "__main__":
    main()
