"""The Compare tab (the playground): two models answer the same prompt, streaming side by side; the user votes
with the names hidden, then sees them; the votes (SQLite under LLMKIT_HOME) make the leaderboard.

Which model is "A" is decided by a coin for each prompt, and the names stay in a server-side ``gr.State`` until
the vote: the page holds nothing that gives them away.

Either side may be a remote model (``openai:gpt-4o-mini``, a configured alias; ``llmkit ui --allow-remote``,
docs/remote.md): a badge under its picker says that the prompt leaves the machine (it does not say which of A and
B it is), and votes and the leaderboard name it without any credentials of its base URL.
"""
from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr  # this module is only imported by the app, which needs gradio anyway

from ..compare.ratings import leaderboard, markdown_table
from ..compare.votes import VoteStore
from ..errors import InputError
from ..providers import configured_names, parse
from .chat import remote_badge
from .common import UiContext, error_html

TASK = "text-generation"
VOTES = {"a": "A is better", "b": "B is better", "tie": "Tie", "both_bad": "Both are bad"}


def board(store: VoteStore) -> str:
    return markdown_table(leaderboard(store.votes()))


def battle(ctx: UiContext, first: str, second: str, prompt: str, max_new: int,
           coin: random.Random) -> Iterator[tuple[list[str], list[str], dict[str, Any] | None]]:
    """Yield ([answer A, answer B], [stats A, stats B], state) while both stream; the state (with the names, in
    shown order) is set once both are done. Pieces are taken in turn, one from each model, so both move on
    screen at once and neither gets the cores to itself; each side's speed counts only its own turns."""
    if not prompt or not prompt.strip():
        raise InputError("the prompt is empty: type a question for both models.")
    names = [ctx.model(first), ctx.model(second)]
    if names[0] == names[1]:
        raise InputError("choose two different models.")
    coin.shuffle(names)
    yield ["", ""], ["loading…", "loading…"], None
    pipes = [ctx.pipeline(TASK, n) for n in names]
    messages = [{"role": "user", "content": prompt}]
    streams = [p.stream(messages, max_new_tokens=int(max_new)) for p in pipes]
    texts, spent, live = ["", ""], [0.0, 0.0], [True, True]
    try:
        while any(live):
            for i in (0, 1):
                if not live[i]:
                    continue
                t0 = time.perf_counter()
                try:
                    texts[i] += next(streams[i])
                except StopIteration:
                    live[i] = False
                spent[i] += time.perf_counter() - t0
            yield list(texts), ["generating…" if on else "done" for on in live], None
    finally:
        for s in streams:
            s.close()
    stats = []
    for s, secs in zip(streams, spent):
        n = s.result.usage.completion_tokens if s.result else 0
        stats.append(f"{n} tokens · {n / max(secs, 1e-9):.1f} tok/s · finish: {s.result.finish_reason if s.result else ''}")
    yield texts, stats, {"models": [shown_name(n) for n in names], "prompt": prompt, "answers": texts}


def shown_name(model: str) -> str:
    """How a model is named in votes and on the leaderboard: a remote one without user:password@ or query."""
    try:
        spec = parse(model)
    except InputError:
        return model
    return spec.name if spec is not None else model


def build(ctx: UiContext, store: VoteStore | None = None) -> None:
    store = store or VoteStore()
    coin = random.Random()
    gr.Markdown("Two models answer the same prompt. Which one is A and which is B is random and hidden until "
                "you vote.")
    first, second, max_new = _pickers([*ctx.models_for(TASK), *configured_names()])  # + remote config aliases
    prompt = gr.Textbox(label="Prompt", placeholder="Ask both models something…", elem_id="cmp-prompt")
    ask = gr.Button("Ask both", variant="primary", elem_id="cmp-ask")
    with gr.Row():
        with gr.Column():
            gr.Markdown("### Model A")
            answer_a = gr.Markdown(elem_id="cmp-answer-a")
            stats_a = gr.Markdown(elem_id="cmp-stats-a")
        with gr.Column():
            gr.Markdown("### Model B")
            answer_b = gr.Markdown(elem_id="cmp-answer-b")
            stats_b = gr.Markdown(elem_id="cmp-stats-b")
    with gr.Row():
        buttons = {k: gr.Button(label, interactive=False, elem_id=f"cmp-vote-{k.replace('_', '-')}")
                   for k, label in VOTES.items()}
    reveal = gr.Markdown(elem_id="cmp-reveal")
    error = gr.HTML(elem_id="cmp-error")
    table = _leaderboard(store)
    state = gr.State(None)
    vote_buttons = list(buttons.values())

    def on_ask(m1, m2, text, mx):
        off = [gr.update(interactive=False)] * len(vote_buttons)
        try:
            for answers, stats, done in battle(ctx, m1, m2, text, mx, coin):
                on = [gr.update(interactive=done is not None)] * len(vote_buttons)
                yield (*answers, *stats, "", "", done, *on)
        except Exception as e:
            yield ("", "", "", "", "", error_html(e), None, *off)

    def on_vote(outcome: str):
        def vote(current):
            if not current:
                return (gr.update(), error_html("ask both models first; each answer pair takes one vote."),
                        gr.update(), None, *[gr.update(interactive=False)] * len(vote_buttons))
            a, b = current["models"]
            store.add(a, b, outcome, prompt=current["prompt"], answer_a=current["answers"][0],
                      answer_b=current["answers"][1])
            shown = f"Model A was **{a}**, model B was **{b}**. Your vote: {VOTES[outcome]}."
            return (shown, "", board(store), None, *[gr.update(interactive=False)] * len(vote_buttons))
        return vote

    ask.click(on_ask, [first, second, prompt, max_new],
              [answer_a, answer_b, stats_a, stats_b, reveal, error, state, *vote_buttons])
    for key, button in buttons.items():
        button.click(on_vote(key), state, [reveal, error, table, state, *vote_buttons])


def _pickers(models: list[str]):
    """The two model pickers, each with the badge that says whether its prompt leaves the machine, and the cap."""
    with gr.Row():
        first = gr.Dropdown(models, value=models[0] if models else None, label="One model",
                            allow_custom_value=True, elem_id="cmp-model-1")
        second = gr.Dropdown(models, value=models[1] if len(models) > 1 else None, label="The other model",
                             allow_custom_value=True, elem_id="cmp-model-2")
        max_new = gr.Slider(1, 1024, value=128, step=1, label="Max new tokens", elem_id="cmp-max-new")
    with gr.Row():
        for i, picker in enumerate((first, second), 1):
            badge = gr.HTML(remote_badge(picker.value), elem_id=f"cmp-remote-badge-{i}")
            picker.change(remote_badge, picker, badge)
    return first, second, max_new


def _leaderboard(store: VoteStore) -> gr.Markdown:
    """The ratings table (read again on every page load) and the CSV export of the votes under it."""
    gr.Markdown("### Leaderboard\nBradley-Terry ratings on the Elo scale, with 95% bootstrap intervals; a tie and "
                "\"both bad\" count as half a win each.")
    table = gr.Markdown(lambda: board(store), elem_id="cmp-leaderboard")
    with gr.Row():
        export = gr.Button("Export votes as CSV", elem_id="cmp-export")
        export_file = gr.File(label="votes.csv", interactive=False, elem_id="cmp-export-file")

    def on_export():
        return str(store.export_csv(Path(tempfile.mkdtemp(prefix="llmkit-ui-votes-")) / "votes.csv"))  # Gradio wants str

    export.click(on_export, None, export_file)
    return table
