"""The OpenAI side of ``RemoteEngine``: the official ``openai`` SDK, Chat Completions, streamed.

Also any OpenAI-compatible server (``openai:MODEL@BASE_URL``). Options map one to one except ``top_k`` and
``repetition_penalty``, which the API does not have (they are not sent). Stop strings: the first 4 go to the
provider (its limit); all of them are also applied locally by the pipeline. ``json_schema`` goes as
``response_format`` (``json_object`` for any object, else ``json_schema``); ``tools``/``tool_choice`` go as they
are, and the calls that come back (streamed as argument fragments) are events of their own.
"""
from __future__ import annotations

import json
from typing import Any, Iterator

from .. import providers
from .grammar import ANY_OBJECT


def client(settings: dict[str, Any]) -> Any:
    import openai

    return openai.OpenAI(**settings)


def stream(client: Any, model: str, messages: list[dict[str, Any]], opts: Any, max_new_tokens: int,
           tools: list[dict[str, Any]] | None = None, tool_choice: Any = None) -> Iterator:
    """Events: ("text", str, [(token, logprob, alternatives)]) and ("call", name, arguments) ... then ("end",
    (prompt_tokens, completion_tokens), finish); EOFError when the stream closes before its finish_reason."""
    kw: dict[str, Any] = {"model": model, "messages": [_wire(m) for m in messages], "stream": True,
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
        if opts.top_logprobs:
            kw["top_logprobs"] = opts.top_logprobs
    if opts.json_schema is not None:
        schema = json.loads(opts.json_schema)
        kw["response_format"] = {"type": "json_object"} if schema == ANY_OBJECT else {
            "type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
    if tools:
        kw["tools"] = tools
        if tool_choice is not None:
            kw["tool_choice"] = tool_choice
    usage, finish = (0, 0), None
    calls: dict[int, list[str]] = {}  # index -> [name, argument text so far]
    with client.chat.completions.create(**kw) as chunks:
        for chunk in chunks:
            if chunk.usage is not None:
                usage = (chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
            for choice in chunk.choices[:1]:
                content = choice.logprobs.content if choice.logprobs and choice.logprobs.content else []
                lps = [(t.token, t.logprob, tuple((a.token, a.logprob) for a in t.top_logprobs or ()))
                       for t in content]
                if (choice.delta and choice.delta.content) or lps:
                    yield "text", (choice.delta.content if choice.delta else "") or "", lps
                for tc in (choice.delta.tool_calls or []) if choice.delta else []:
                    call = calls.setdefault(tc.index, ["", ""])
                    call[0] += (tc.function.name or "") if tc.function else ""
                    call[1] += (tc.function.arguments or "") if tc.function else ""
                finish = choice.finish_reason or finish
    if finish is None:  # the stream closed before the provider said the answer was done: not a complete answer
        raise EOFError("no finish_reason")
    for name, args in (calls[i] for i in sorted(calls)):
        yield "call", name, json.loads(args or "{}")
    yield "end", usage, "length" if finish == "length" else "stop"


def _wire(m: dict[str, Any]) -> dict[str, Any]:
    """A chat message as the API takes it: earlier tool calls' arguments as JSON text (chat templates read them
    as objects), a tool result with the id of its call."""
    out: dict[str, Any] = {"role": m["role"], "content": m["content"]}
    if m.get("tool_calls"):
        out["tool_calls"] = [{"id": c.get("id") or f"call_{i}", "type": "function",
                              "function": {"name": c["function"]["name"],
                                           "arguments": _text(c["function"]["arguments"])}}
                             for i, c in enumerate(m["tool_calls"])]
    if m["role"] == "tool" and m.get("tool_call_id"):
        out["tool_call_id"] = m["tool_call_id"]
    return out


def _text(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)


def translate(e: Exception, spec: providers.RemoteSpec, settings: dict[str, Any]) -> Exception:
    from .remote import error_line

    key_env = spec.api_key_env or (providers.ENDPOINT_KEY_ENV if spec.base_url else providers.KEY_ENV["openai"])
    return error_line(e, spec, settings, key_env)
