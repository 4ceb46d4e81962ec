"""The OpenAI side of ``RemoteEngine``: the official ``openai`` SDK, Chat Completions, streamed.

Also any OpenAI-compatible server (``openai:MODEL@BASE_URL``). Options map one to one except ``top_k`` and
``repetition_penalty``, which the API does not have (they are not sent). Stop strings: the first 4 go to the
provider (its limit); all of them are also applied locally by the pipeline.
"""
from __future__ import annotations

from typing import Any, Iterator

from .. import providers


def client(settings: dict[str, Any]) -> Any:
    import openai

    return openai.OpenAI(**settings)


def stream(client: Any, model: str, messages: list[dict[str, str]], opts: Any, max_new_tokens: int) -> Iterator:
    """Events: ("text", str, [(token, logprob)]) ... then ("end", (prompt_tokens, completion_tokens), finish)."""
    kw: dict[str, Any] = {"model": model, "messages": messages, "stream": True,
                          "stream_options": {"include_usage": True}, "temperature": opts.temperature,
                          "top_p": opts.top_p}
    # OpenAI's own endpoint wants max_completion_tokens (reasoning models refuse max_tokens); compatible servers
    # (vLLM, Ollama, llama.cpp) know max_tokens.
    kw["max_completion_tokens" if client.base_url.host == "api.openai.com" else "max_tokens"] = max_new_tokens
    if opts.seed is not None:
        kw["seed"] = opts.seed
    if opts.stop:
        kw["stop"] = list(opts.stop[:4])
    if opts.logprobs:
        kw["logprobs"] = True
    usage, finish = (0, 0), None
    with client.chat.completions.create(**kw) as chunks:
        for chunk in chunks:
            if chunk.usage is not None:
                usage = (chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
            for choice in chunk.choices[:1]:
                content = choice.logprobs.content if choice.logprobs and choice.logprobs.content else []
                lps = [(t.token, t.logprob) for t in content]
                if (choice.delta and choice.delta.content) or lps:
                    yield "text", (choice.delta.content if choice.delta else "") or "", lps
                finish = choice.finish_reason or finish
    yield "end", usage, "length" if finish == "length" else "stop"


def translate(e: Exception, spec: providers.RemoteSpec, settings: dict[str, Any]) -> Exception:
    from .remote import error_line

    key_env = spec.api_key_env or (providers.ENDPOINT_KEY_ENV if spec.base_url else providers.KEY_ENV["openai"])
    return error_line(e, spec, settings, key_env)
