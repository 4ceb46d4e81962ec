"""The Anthropic side of ``RemoteEngine``: the official ``anthropic`` SDK, the Messages API, streamed.

System messages become the ``system`` parameter; stop strings are ``stop_sequences``. The Messages API of the
current SDK (anthropic 2.x) takes no sampling parameters (no temperature, top_p, top_k), no seed and gives no
log-probs, so those options are not sent (docs/remote.md says so).
"""
from __future__ import annotations

from typing import Any, Iterator

from .. import providers

STOP = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}


def client(settings: dict[str, Any]) -> Any:
    import anthropic

    return anthropic.Anthropic(**settings)


def stream(client: Any, model: str, messages: list[dict[str, str]], opts: Any, max_new_tokens: int) -> Iterator:
    """Events: ("text", str, []) ... then ("end", (input_tokens, output_tokens), finish)."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    turns = [{"role": m["role"], "content": m["content"]} for m in messages if m["role"] != "system"]
    kw: dict[str, Any] = {"model": model, "messages": turns, "max_tokens": max_new_tokens, "stream": True}
    if system:
        kw["system"] = system
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
