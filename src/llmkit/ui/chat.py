"""The Chat tab: streaming answers over ``TextGenerationPipeline.stream``, a Stop button that really stops the
generation (the stream is closed, which stops the engine), sampling settings, a system prompt, clear/regenerate;
voice chat (record -> transcribe -> answer -> speak) and a button that speaks the last answer (``voice.py``)."""
from __future__ import annotations

import html
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import gradio as gr  # this module is only imported by the app, which needs gradio anyway

from ..errors import InputError
from ..options import defaults
from ..tasks.generate_options import GenerationOptions
from . import voice
from .common import UiContext, error_html

TASK = "text-generation"
# The controls start at GenerationOptions' defaults, so the app samples as the CLI, the API and the server do.
DEFAULTS = defaults(GenerationOptions)


def text_of(content: Any) -> str:
    """Chatbot message content as plain text (Gradio may hand back a list of content blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(text_of(c) for c in content)
    if isinstance(content, dict):
        return str(content.get("text") or content.get("content") or "")
    return str(content or "")


def to_messages(history: list[dict[str, Any]], system: str) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system.strip()}] if system and system.strip() else []
    return messages + [{"role": m["role"], "content": text_of(m["content"])} for m in history
                       if m.get("role") in ("user", "assistant")]


class ChatSessions:
    """One stop flag per browser session: Stop sets it, the streaming loop sees it at the next piece and closes
    the stream (closing a generator from another thread is not allowed, so the loop does it itself)."""

    def __init__(self) -> None:
        self._stops: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def start(self, session: str) -> threading.Event:
        with self._lock:
            self._stops[session] = threading.Event()
            return self._stops[session]

    def stop(self, session: str) -> None:
        with self._lock:
            if session in self._stops:
                self._stops[session].set()


def respond(ctx: UiContext, stop: threading.Event, model: str, history: list[dict[str, Any]], system: str,
            options: dict[str, Any], results: list | None = None) -> Iterator[tuple[list[dict[str, Any]], str, str]]:
    """Yield (history, stats, error) as the answer grows; the finished ``GenerationResult`` goes into ``results``."""
    history = list(history or [])
    try:
        if not history or history[-1]["role"] != "user" or not text_of(history[-1]["content"]).strip():
            raise InputError("the message is empty: type some text.")
        options = dict(options)
        spec = options.pop("speculative", DEFAULTS["speculative"])  # chosen at load: a copy per mode, auto shared
        pipe = ctx.pipeline(TASK, model, **({"speculative": spec} if spec != DEFAULTS["speculative"] else {}))
        stream = pipe.stream(to_messages(history, system), **options)
    except Exception as e:
        yield history, "", error_html(e)
        return
    history.append({"role": "assistant", "content": ""})
    t0, text, stopped = time.perf_counter(), "", False
    try:
        for piece in stream:
            text += piece
            history[-1] = {"role": "assistant", "content": text}
            yield history, "generating…", ""
            if stop.is_set():
                stopped = True
                break
    finally:
        stream.close()  # stops the engine itself, not just our reading
    r = stream.result
    if results is not None and r is not None:
        results.append(r)
    secs = time.perf_counter() - t0
    n = r.usage.completion_tokens if r else 0
    why = "stopped by you" if stopped else (r.finish_reason if r else "")
    rate = r.usage.acceptance_rate if r else None
    drafts = f" · drafts accepted {rate:.0%}" if rate is not None else ""
    yield history, (f"{n} tokens in {secs:.1f} s ({n / max(secs, 1e-9):.1f} tok/s) · finish: {why} · "
                    f"seed {r.seed if r else ''}{drafts}"), ""


def remote_badge(model: str | None) -> str:
    """The visible mark of a remote model (``openai:...``, docs/remote.md): where messages go, whether redacted."""
    import html

    from ..providers import HOSTS, parse, redact_default

    try:
        spec = parse((model or "").strip())
    except InputError:
        return ""
    if spec is None:
        return ""
    where = html.escape(spec.base_url or HOSTS[spec.provider])
    redacted = "emails, phones, cards, IBANs, IPs, URLs redacted" if redact_default() else "NOT redacted"
    return (f'<div style="background:#b45309;color:#fff;padding:4px 8px;border-radius:6px;font-weight:600">'
            f"Remote model: your messages leave this machine for {where} ({redacted})</div>")


def remote_status() -> str:
    """The app-wide line under the title when remote models may be used (``llmkit ui --allow-remote``): whether
    PII redaction is on, or off (``--no-redact``, LLMKIT_REDACT=0, the config); nothing when they may not."""
    from ..providers import remote_allowed, redact_default

    if not remote_allowed():
        return ""
    if redact_default():
        return ('<div style="background:#065f46;color:#fff;padding:4px 8px;border-radius:6px">Remote models allowed '
                "· PII redaction on: emails, phone numbers, card numbers, IBANs, IP addresses and URLs are replaced "
                "with placeholders before text leaves (names are not)</div>")
    return ('<div style="background:#b91c1c;color:#fff;padding:4px 8px;border-radius:6px;font-weight:600">Remote '
            "models allowed · PII redaction OFF: text is sent to them exactly as typed (--no-redact, "
            "LLMKIT_REDACT=0 or redact = false in the config)</div>")


def token_html(logprobs: list[Any]) -> str:
    """The answer's tokens, each coloured by its probability (green: sure, yellow, red: unsure), its likeliest
    alternatives on hover."""
    if not logprobs:
        return ""
    spans = []
    for t in logprobs:
        p = math.exp(t.logprob)
        kind, rgb = ("sure", "22, 163, 74") if p >= 0.8 else (("maybe", "234, 179, 8") if p >= 0.4 else
                                                              ("unsure", "220, 38, 38"))
        tip = "; ".join(f"{a!r} {math.exp(lp):.2f}" for a, lp in t.top) or f"{p:.2f}"
        spans.append(f'<span class="llmkit-token llmkit-token-{kind}" title="{html.escape(tip)}" '
                     f'style="background: rgba({rgb}, 0.35); white-space: pre-wrap">{html.escape(t.token)}</span>')
    return ('<div class="llmkit-explained">Token probabilities of the last answer (green: sure, yellow, red: '
            'unsure; hover for the alternatives):</div><div class="llmkit-tokens">' + "".join(spans) + "</div>")


def sampling(temp, tp, tk, rep, mx, sd) -> dict[str, Any]:
    """The sampling controls' values as GenerationOptions keywords."""
    return {"temperature": float(temp), "top_p": float(tp), "top_k": int(tk), "repetition_penalty": float(rep),
            "max_new_tokens": int(mx), "seed": int(sd) if sd not in (None, "") else None}


def _controls(models: list[str]) -> tuple:
    """The right-hand column: model picker (with the remote badge), system prompt, sampling controls starting at
    GenerationOptions' defaults, seed, the token-probability toggle."""
    import gradio as gr

    model = gr.Dropdown(models, value=models[0] if models else None, label="Model", allow_custom_value=True,
                        elem_id="chat-model")
    badge = gr.HTML(remote_badge(models[0] if models else None), elem_id="chat-remote-badge")
    system = gr.Textbox(label="System prompt", lines=3, placeholder="You are a helpful AI assistant.")
    temperature = gr.Slider(0, 2, value=DEFAULTS["temperature"], step=0.05, label="Temperature (0 = greedy)",
                            elem_id="chat-temperature")
    top_p = gr.Slider(0.05, 1, value=DEFAULTS["top_p"], step=0.05, label="Top-p", elem_id="chat-top-p")
    top_k = gr.Slider(0, 200, value=DEFAULTS["top_k"], step=1, label="Top-k (0 = off)", elem_id="chat-top-k")
    repetition = gr.Slider(0.8, 2, value=DEFAULTS["repetition_penalty"], step=0.05,
                           label="Repetition penalty", elem_id="chat-repetition-penalty")
    max_new = gr.Slider(1, 2048, value=DEFAULTS["max_new_tokens"], step=1, label="Max new tokens",
                        elem_id="chat-max-new")
    seed = gr.Number(label="Seed (empty = random)", precision=0)
    show_probs = gr.Checkbox(False, label="Show token probabilities", elem_id="chat-show-logprobs")
    speculative = gr.Dropdown(["auto", "draft", "ngram", "off"], value=DEFAULTS["speculative"],
                              label="Speculative decoding (llama.cpp)", elem_id="chat-speculative")
    return model, badge, system, [temperature, top_p, top_k, repetition, max_new], seed, (show_probs, speculative)


def build(ctx: UiContext) -> None:
    sessions = ChatSessions()
    models = ctx.models_for(TASK)
    with gr.Row():
        with gr.Column(scale=3):
            chatbot = gr.Chatbot(label="Chat", height=420, elem_id="chat-box")
            message = gr.Textbox(label="Message", placeholder="Ask something…", elem_id="chat-message")
            with gr.Row():
                send = gr.Button("Send", variant="primary", elem_id="chat-send")
                stop_btn = gr.Button("Stop", variant="stop", elem_id="chat-stop")
                regen = gr.Button("Regenerate", elem_id="chat-regenerate")
                clear = gr.Button("Clear", elem_id="chat-clear")
            stats = gr.Markdown(elem_id="chat-stats")
            error = gr.HTML(elem_id="chat-error")
            tokens = gr.HTML(elem_id="chat-logprobs")
            voice_box = gr.Column()  # filled by voice.build once the settings exist
        with gr.Column(scale=1):
            model, badge, system, sliders, seed, (show_probs, speculative) = _controls(models)

    settings = [model, chatbot, system, *sliders, seed]

    def add_user(text: str, history: list):
        if not text or not text.strip():
            return text, history
        return "", [*(history or []), {"role": "user", "content": text}]

    def run(m, history, sys_prompt, temp, tp, tk, rep, mx, sd, probs, spec, request: gr.Request):
        flag = sessions.start(request.session_hash or "")
        opts = {**sampling(temp, tp, tk, rep, mx, sd), "speculative": spec}
        if probs:
            opts.update(logprobs=True, top_logprobs=5)
        results: list = []
        for hist, st, err in respond(ctx, flag, m, history, sys_prompt, opts, results):
            yield hist, st, err, ""
        if probs and results:
            yield hist, st, err, token_html(results[-1].logprobs or [])

    def on_stop(request: gr.Request):
        sessions.stop(request.session_hash or "")

    def drop_answer(history: list):
        history = list(history or [])
        while history and history[-1]["role"] == "assistant":
            history.pop()
        return history

    outputs = [chatbot, stats, error, tokens]
    inputs = [*settings, show_probs, speculative]
    model.change(remote_badge, model, badge)
    send.click(add_user, [message, chatbot], [message, chatbot]).then(run, inputs, outputs)
    message.submit(add_user, [message, chatbot], [message, chatbot]).then(run, inputs, outputs)
    stop_btn.click(on_stop, None, None, queue=False)
    regen.click(drop_answer, chatbot, chatbot).then(run, inputs, outputs)
    clear.click(lambda: ([], "", "", ""), None, outputs)
    with voice_box:
        voice.build(ctx, sessions, settings, chatbot, stats, error)
