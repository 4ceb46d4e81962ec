"""``llmkit chat``: an interactive, multi-turn chat in the terminal; one message a line when stdin is piped."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Iterator

from ._io import read_stdin_lines
from .generate import add_generation_arguments, load_pipeline, options_from_args, result_json

HELP = "Chat with a model, multi-turn (/reset clears the history, /exit quits); reads stdin lines when piped."
EXAMPLES = """\
  llmkit chat
  llmkit chat --system "You are a pirate." --temperature 0.7
  printf 'Hi, I am Ann.\\nWhat is my name?\\n' | llmkit chat --seed 0   # one message a line
  printf 'Name a fruit\\n/reset\\nName a colour\\n' | llmkit chat --json  # one JSON object a reply
"""
BANNER = "Chatting with {model} ({engine}). /reset clears the history, /exit quits."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_generation_arguments(parser)


def user_lines() -> Iterator[str]:
    """Lines typed at a prompt, with line editing and history."""
    try:
        import readline  # noqa: F401  (arrow keys and history in input())
    except ImportError:
        pass
    while True:
        try:
            yield input(">>> ")
        except EOFError:
            print(file=sys.stderr)
            return


def run(args: argparse.Namespace) -> int:
    options = options_from_args(args)
    interactive = sys.stdin.isatty()
    # Piped input is read and checked (UTF-8) before the model loads: a bad file fails at once.
    lines = user_lines() if interactive else iter(read_stdin_lines())
    pipe = load_pipeline(args, options)
    conv = pipe.chat(system=args.system)
    if interactive:
        spec = getattr(pipe.engine, "speculation", None)
        engine = pipe.engine.name + (f", speculative {spec.mode}" + (f" with {spec.draft.name}" if spec.draft else "")
                                     if spec is not None and spec.mode != "off" else "")
        print(BANNER.format(model=pipe.model_name, engine=engine), file=sys.stderr)
    for line in lines:
        text = line.strip()
        if not text:
            continue
        if text in ("/exit", "/quit", "/bye"):
            break
        if text == "/reset":
            conv.reset()
            if interactive:
                print("(history cleared)", file=sys.stderr)
            continue
        reply(conv, text, as_json=args.json, interactive=interactive)
    return 0


def reply(conv, text: str, *, as_json: bool, interactive: bool) -> None:
    """Stream one answer; Ctrl-C stops the answer (not the chat) when interactive."""
    pieces = conv.stream(text)
    try:
        for piece in pieces:
            if not as_json:
                sys.stdout.write(piece)
                sys.stdout.flush()
    except KeyboardInterrupt:
        if not interactive:
            raise
        pieces.close()
        print(" [stopped]", end="")
    if as_json:
        print(json.dumps(result_json(conv.last, conv.pipe), ensure_ascii=False))
    else:
        print()
