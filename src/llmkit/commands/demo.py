"""llmkit demo: the interactive tour that `make run` starts: classify a sentence, then chat."""
from __future__ import annotations

import sys

HELP = "Interactive demo: classify sentences, then stream a chat answer."
EXAMPLES = """\
  llmkit demo
  printf 'I love it\\n\\nWhat is the capital of France?\\n' | llmkit demo
"""


def add_arguments(p) -> None:
    p.add_argument("--no-chat", action="store_true", help="only the classification part")


def _ask(prompt: str) -> str | None:
    try:
        return input(prompt)
    except EOFError:
        return None


def run(args) -> int:
    from ..pipelines import pipeline

    clf = pipeline("text-classification")
    print(f"Sentiment ({clf.ref.name}, engine {clf.engine}). Type a sentence; an empty line moves on.")
    while (line := _ask("classify> ")) is not None and line.strip():
        r = clf(line)[0]
        print(f"  {r['label']}  {r['score']:.3f}")
    if args.no_chat:
        return 0
    gen = pipeline("text-generation")
    print(f"\nChat ({gen.model_name}, engine {gen.engine.name}). Ask anything; an empty line or Ctrl-D ends the demo.")
    conv = gen.chat(max_new_tokens=256)  # the history and the model's default system prompt, as `llmkit chat`
    while (line := _ask("you> ")) is not None and line.strip():
        sys.stdout.write("assistant> ")
        for piece in conv.stream(line):
            sys.stdout.write(piece)
            sys.stdout.flush()
        print()
    return 0
