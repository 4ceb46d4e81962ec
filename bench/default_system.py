"""How often SmolLM2-135M answers "What is the capital of France?" with Paris, per system prompt and engine.

    .venv/bin/python bench/default_system.py llamacpp
    PYTHONPATH=<llama-cpp-python build> .venv/bin/python bench/default_system.py llama-cpp-python

Greedy once, then 12 seeds at the default temperature (0.2), 24 new tokens each. Chose the catalog's
``default_system`` (BENCHMARKS.md, "Text generation").
"""
from __future__ import annotations

import sys

from llmkit import pipeline

PROMPTS = ["You are a helpful assistant.", "You are a helpful AI assistant."]
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def main() -> None:
    gen = pipeline("text-generation", engine=sys.argv[1] if len(sys.argv) > 1 else "auto", threads=2)
    for system in PROMPTS:
        messages = [{"role": "system", "content": system}, *QUESTION]
        greedy = "Paris" in gen.generate(messages, temperature=0, max_new_tokens=24).text
        hits = sum("Paris" in gen.generate(messages, seed=s, max_new_tokens=24).text for s in range(12))
        print(f"{gen.engine.name}: {system!r}: greedy Paris {greedy}; Paris in {hits}/12 seeds")


if __name__ == "__main__":
    main()
