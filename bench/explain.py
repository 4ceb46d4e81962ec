"""Faithfulness of word attributions (issue 19): does deleting the words integrated gradients ranks highest lower the
predicted label's probability more than deleting as many random words?

For each fine-food test review (held out from the default model's training) the default sentiment model predicts a
label with probability p0; we delete the k words with the highest attribution towards that label (k = 1..5), and
separately k random words (averaged over --random-draws draws), and re-score. The curves are the mean drop
p0 - p_k; AOPC (area over the perturbation curve, Samek et al. 2017, https://arxiv.org/abs/1509.06321) is the
mean drop over k = 1..5. Target: the top-k drop at k = 3 is at least 2x the random drop.

    python bench/explain.py --limit 80 --max-words 40 --steps 16   # BENCHMARKS.md's figures, ~12 min on 2 busy cores
    python bench/explain.py --limit 5 --steps 8    # smoke test
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
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from llmkit import pipeline
    from llmkit.tasks.explain import Explainer
    from llmkit.train.data import load_dataset

    rng = random.Random(args.seed)
    rows = load_dataset(args.data)
    texts = [r["text"] for r in rows if args.max_k + 1 <= len(r["text"].split()) <= args.max_words][: args.limit]
    clf = pipeline("text-classification", model=args.model, engine="torch")
    clf._explainer = Explainer(clf, n_steps=args.steps)
    K = range(1, args.max_k + 1)
    top_drop, rand_drop, deltas, complete = np.zeros((len(texts), len(K))), np.zeros((len(texts), len(K))), [], 0
    start = time.perf_counter()
    for n, text in enumerate(texts):
        e = clf.explain(text)[0]
        deltas.append(abs(e.delta))
        complete += e.complete
        words = [a["word"] for a in e.attributions]  # the words the model saw (past max_length: not deletable)
        rest = text.split()[len(words):]
        order = sorted(range(len(words)), key=lambda i: -e.attributions[i]["score"])
        variants = []
        for k in K:
            variants.append(set(order[:k]))
            variants += [set(rng.sample(range(len(words)), k)) for _ in range(args.random_draws)]
        edited = [" ".join([w for i, w in enumerate(words) if i not in drop] + rest) for drop in variants]
        probs = [next(r["score"] for r in ranked if r["label"] == e.label) for ranked in clf(edited, top_k=None)]
        step = 1 + args.random_draws
        for j, _ in enumerate(K):
            top_drop[n, j] = e.score - probs[j * step]
            rand_drop[n, j] = e.score - float(np.mean(probs[j * step + 1:(j + 1) * step]))
        if (n + 1) % 10 == 0:
            t3, r3 = top_drop[: n + 1, 2].mean(), rand_drop[: n + 1, 2].mean()
            print(f"  {n + 1}/{len(texts)} reviews, {time.perf_counter() - start:.0f} s: drop at k=3 top {t3:.3f} "
                  f"random {r3:.3f}", flush=True)
    top, rnd = top_drop.mean(0), rand_drop.mean(0)
    k3 = list(K).index(3) if 3 in K else len(K) - 1
    result = {"model": args.model, "data": args.data, "reviews": len(texts), "ig_steps": args.steps,
              "random_draws": args.random_draws, "top_k_drop": [round(float(x), 4) for x in top],
              "random_drop": [round(float(x), 4) for x in rnd], "aopc_top": round(float(top.mean()), 4),
              "aopc_random": round(float(rnd.mean()), 4), "ratio_at_k3": round(float(top[k3] / max(rnd[k3], 1e-9)), 2),
              "complete_share": round(complete / max(len(texts), 1), 3),
              "mean_abs_delta": float(f"{np.mean(deltas):.2e}"), "seconds": round(time.perf_counter() - start, 1)}
    if args.json:
        print(json.dumps(result))
        return
    print(f"{len(texts)} reviews of {args.data}, {args.model}, IG {args.steps} steps")
    print("k            " + "  ".join(f"{k:>6}" for k in K))
    print("top-k drop   " + "  ".join(f"{x:6.3f}" for x in top))
    print("random drop  " + "  ".join(f"{x:6.3f}" for x in rnd))
    print(f"AOPC top {result['aopc_top']:.3f}  random {result['aopc_random']:.3f}; at k=3 top/random = "
          f"{result['ratio_at_k3']:.2f}x (target >= 2x); complete {result['complete_share']:.1%}, "
          f"mean |delta| {result['mean_abs_delta']:.1e}; {result['seconds']:.0f} s")


if __name__ == "__main__":
    main()
