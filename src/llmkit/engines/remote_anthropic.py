"""The Anthropic side of ``RemoteEngine``: the official ``anthropic`` SDK, the Messages API, streamed.

System messages become the ``system`` parameter. Anthropic's temperature range is [0, 1] (higher values are
sent as 1); ``top_p`` and ``top_k`` are sent only when changed from llmkit's defaults (recent Claude models
refuse temperature and top_p together); there is no seed and no log-probs.
"""
from __future__ import annotations

from typing import Any, Iterator

from .. import providers

# GenerationOptions' defaults (an engine does not import the task layer; tests/test_remote.py checks they agree)
DEFAULT_TOP_P, DEFAULT_TOP_K = 0.9, 50
STOP = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}


def client(settings: dict[str, Any]) -> Any:
    import anthropic

    return anthropic.Anthropic(**settings)


def stream(client: Any, model: str, messages: list[dict[str, str]], opts: Any, max_new_tokens: int) -> Iterator:
    """Events: ("text", str, []) ... then ("end", (input_tokens, output_tokens), finish)."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    turns = [{"role": m["role"], "content": m["content"]} for m in messages if m["role"] != "system"]
    kw: dict[str, Any] = {"model": model, "messages": turns, "max_tokens": max_new_tokens, "stream": True,
                          "temperature": min(opts.temperature, 1.0)}
    if system:
        kw["system"] = system
    if opts.top_p != DEFAULT_TOP_P:
        kw["top_p"] = opts.top_p
    if opts.top_k != DEFAULT_TOP_K and opts.top_k > 0:
        kw["top_k"] = opts.top_k
    if opts.stop:
        kw["stop_sequences"] = list(opts.stop)
    prompt_tokens, completion_tokens, finish = 0, 0, "stop"
    with client.messages.create(**kw) as events:
        for ev in events:
            if ev.type == "message_start":
                prompt_tokens = ev.message.usage.input_tokens
            elif ev.type == "content_block_delta" and getattr(ev.delta, "type", "") == "text_delta":
                yield "text", ev.delta.text, []
            elif ev.type == "message_delta":
                completion_tokens = ev.usage.output_tokens
                finish = STOP.get(ev.delta.stop_reason or "", "stop")
    yield "end", (prompt_tokens, completion_tokens), finish


def translate(e: Exception, spec: providers.RemoteSpec, settings: dict[str, Any]) -> Exception:
    from .remote import error_line

    key_env = spec.api_key_env or (providers.ENDPOINT_KEY_ENV if spec.base_url else providers.KEY_ENV["anthropic"])
    return error_line(e, spec, settings, key_env)
