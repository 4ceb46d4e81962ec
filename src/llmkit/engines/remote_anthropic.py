"""The Anthropic side of ``RemoteEngine``: the official ``anthropic`` SDK, the Messages API, streamed.

System messages become the ``system`` parameter; stop strings are ``stop_sequences``. The Messages API of the
current SDK (anthropic 2.x) takes no sampling parameters (no temperature, top_p, top_k), no seed and gives no
log-probs, so those options are not sent (docs/remote.md says so). ``count`` asks the provider's
``count_tokens`` about the same request (what ``llmkit serve``'s count route answers for such a model).

Tools (OpenAI function specs) go as Anthropic tools (``input_schema``), ``tool_choice`` as auto/any/tool, and
earlier calls and results as ``tool_use``/``tool_result`` blocks. The API has no ``response_format``: a
``json_schema`` becomes one tool whose input is that schema, forced, and the tool's input JSON is the answer
(Anthropic's own recipe for JSON output), streamed as it arrives.
"""
from __future__ import annotations

import json
from typing import Any, Iterator

from .. import providers
from ..errors import InputError

STOP = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "stop"}
ANSWER_TOOL = "json_answer"  # the forced tool that carries a json_schema answer


def client(settings: dict[str, Any]) -> Any:
    import anthropic

    return anthropic.Anthropic(**settings)


def stream(client: Any, model: str, messages: list[dict[str, Any]], opts: Any, max_new_tokens: int,
           tools: list[dict[str, Any]] | None = None, tool_choice: Any = None) -> Iterator:
    """Events: ("text", str, []) and ("call", name, arguments) ... then ("end", (input_tokens, output_tokens),
    finish); EOFError when the stream closes before its stop_reason."""
    answer_tool = opts.json_schema is not None
    if answer_tool and tools:
        raise InputError("an anthropic model takes a json_schema (response_format) or tools, not both: send one.")
    kw = {**_request(model, messages, tools, tool_choice), "max_tokens": max_new_tokens, "stream": True}
    if opts.stop:
        kw["stop_sequences"] = list(opts.stop)
    if answer_tool:
        kw["tools"] = [{"name": ANSWER_TOOL, "description": "Give the answer as this JSON.",
                        "input_schema": json.loads(opts.json_schema)}]
        kw["tool_choice"] = {"type": "tool", "name": ANSWER_TOOL}
    prompt_tokens, completion_tokens, finish = 0, 0, None
    block: list[str] | None = None  # the tool_use block being streamed: [name, input JSON so far]
    with client.messages.create(**kw) as events:
        for ev in events:
            if ev.type == "message_start":
                prompt_tokens = ev.message.usage.input_tokens
            elif ev.type == "content_block_start" and ev.content_block.type == "tool_use":
                block = [ev.content_block.name, ""]
            elif ev.type == "content_block_delta" and getattr(ev.delta, "type", "") == "text_delta":
                yield "text", ev.delta.text, []
            elif ev.type == "content_block_delta" and getattr(ev.delta, "type", "") == "input_json_delta":
                if answer_tool:
                    yield "text", ev.delta.partial_json, []
                elif block is not None:
                    block[1] += ev.delta.partial_json
            elif ev.type == "content_block_stop" and block is not None:
                if not answer_tool:
                    yield "call", block[0], json.loads(block[1] or "{}")
                block = None
            elif ev.type == "message_delta":
                completion_tokens = ev.usage.output_tokens
                finish = STOP.get(ev.delta.stop_reason or "", "stop")
    if finish is None:  # no message_delta: the stream closed before the answer was done
        raise EOFError("no stop_reason")
    yield "end", (prompt_tokens, completion_tokens), finish


def count(client: Any, model: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None,
          tool_choice: Any = None) -> int:
    """The provider's count of the input tokens of exactly what ``stream`` would send (Messages API's
    ``count_tokens``)."""
    return client.messages.count_tokens(**_request(model, messages, tools, tool_choice)).input_tokens


def _request(model: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
             tool_choice: Any) -> dict[str, Any]:
    """What a call and a count both send: the model, the system prompt, the turns, the tools."""
    kw: dict[str, Any] = {"model": model, "messages": _turns(messages)}
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    if system:
        kw["system"] = system
    if tools:
        kw["tools"] = [{"name": t["function"]["name"], "description": t["function"].get("description") or "",
                        "input_schema": t["function"].get("parameters") or {"type": "object"}} for t in tools]
        if tool_choice is not None:
            kw["tool_choice"] = _choice(tool_choice)
    return kw


def _choice(choice: Any) -> dict[str, Any]:
    """OpenAI's tool_choice as Anthropic's."""
    if isinstance(choice, dict):
        return {"type": "tool", "name": choice["function"]["name"]}
    return {"type": {"required": "any", "none": "none"}.get(choice, "auto")}


def _turns(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chat messages as Anthropic's turns: an assistant's tool calls become tool_use blocks, "tool" messages
    tool_result blocks of one user turn."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m["role"] == "system":
            continue
        if m["role"] == "tool":
            result = {"type": "tool_result", "tool_use_id": m.get("tool_call_id") or "", "content": m["content"]}
            if out and out[-1]["role"] == "user" and isinstance(out[-1]["content"], list):
                out[-1]["content"].append(result)
            else:
                out.append({"role": "user", "content": [result]})
        elif m.get("tool_calls"):
            blocks: list[dict[str, Any]] = [{"type": "text", "text": m["content"]}] if m["content"] else []
            blocks += [{"type": "tool_use", "id": c.get("id") or f"toolu_{i}", "name": c["function"]["name"],
                        "input": _obj(c["function"]["arguments"])} for i, c in enumerate(m["tool_calls"])]
            out.append({"role": "assistant", "content": blocks})
        else:
            out.append({"role": m["role"], "content": m["content"]})
    return out


def _obj(arguments: Any) -> Any:
    return json.loads(arguments) if isinstance(arguments, str) else arguments


def translate(e: Exception, spec: providers.RemoteSpec, settings: dict[str, Any]) -> Exception:
    from .remote import error_line

    key_env = spec.api_key_env or (providers.ENDPOINT_KEY_ENV if spec.base_url else providers.KEY_ENV["anthropic"])
    return error_line(e, spec, settings, key_env)
