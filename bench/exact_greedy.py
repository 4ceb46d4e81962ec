"""Greedy text with and without speculative decoding, with llama.cpp's repacked weights on or off (issue 20).

    python bench/exact_greedy.py --speculative ngram                 # the 0.5B, n-gram drafts, repacking on (default)
    python bench/exact_greedy.py --speculative ngram --no-repack     # the same with repacking off
    python bench/exact_greedy.py --model qwen2.5-coder-1.5b-instruct --speculative draft --no-repack
    python bench/exact_greedy.py --speed --model qwen2.5-coder-1.5b-instruct --no-repack   # CPU seconds per token

Prompts: the 20 of tests/test_speculative.py, 24 greedy tokens each. --speed times decode (96 tokens) and a
~1,100-token prompt in CPU seconds on one thread (robust to a busy machine); run it once per setting, in its own
process, alternating.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def identity(args) -> None:
    from llmkit import pipeline
    from test_speculative import PROMPTS

    greedy = {"temperature": 0, "max_new_tokens": args.tokens}
    common = {"model": args.model, "threads": 2, "repack": args.repack}
    plain = pipeline("text-generation", speculative="off", **common)
    spec = pipeline("text-generation", speculative=args.speculative, **common)
    same = 0
    for i, prompt in enumerate(PROMPTS, 1):
        chat = [{"role": "user", "content": prompt}]
        a, b = plain.generate(chat, **greedy), spec.generate(chat, **greedy)
        same += a.text == b.text
        print(i, "same" if a.text == b.text else f"DIFF\n  plain: {a.text!r}\n  spec:  {b.text!r}",
              f"drafted {b.usage.draft_tokens} accepted {b.usage.accepted_tokens}", flush=True)
    print(f"{args.model} --speculative {args.speculative} {'--repack' if args.repack else '--no-repack'}: "
          f"{same}/{len(PROMPTS)} identical to greedy text without speculation")


def speed(args) -> None:
    from llmkit import pipeline

    gen = pipeline("text-generation", model=args.model, threads=1, speculative="off", prompt_cache_mib=0,
                   repack=args.repack)
    long = "Summarise this text. " + " ".join(f"Sentence {i} says that the value of item {i} is {i * 7}."
                                             for i in range(60))
    gen.generate([{"role": "user", "content": "Hi"}], max_new_tokens=4, temperature=0)  # warm-up
    t = time.process_time()
    out = gen.generate([{"role": "user", "content": "Write a long story about a dragon."}], max_new_tokens=96,
                       temperature=0)
    decode = time.process_time() - t
    t = time.process_time()
    read = gen.generate([{"role": "user", "content": long}], max_new_tokens=1, temperature=0)
    prompt = time.process_time() - t
    print(f"{args.model} {'--repack' if args.repack else '--no-repack'}: decode "
          f"{out.usage.completion_tokens / decode:.1f} tokens per CPU-second, prompt "
          f"{read.usage.prompt_tokens / prompt:.1f} ({read.usage.prompt_tokens} tokens)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--speculative", default="ngram", choices=["ngram", "draft"])
    ap.add_argument("--repack", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--tokens", type=int, default=24)
    ap.add_argument("--speed", action="store_true", help="time decode and prompt reading instead")
    args = ap.parse_args()
    speed(args) if args.speed else identity(args)


if __name__ == "__main__":
    main()
