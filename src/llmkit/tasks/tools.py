"""Tool calling over any chat model whose own chat template renders tools (Qwen2.5's does; SmolLM2's does not).

Tools are OpenAI's function specs (``{"type": "function", "function": {"name", "description", "parameters"}}``);
the template gets them as ``tools=``, and a model answers with ``<tool_call>{"name": ..., "arguments": {...}}
</tool_call>`` (Hermes/Qwen style). ``call_schema`` is the JSON schema of one such call, so a call that must happen
(``tool_choice`` "required" or a named function) is constrained by the same grammar as structured output, and its
arguments follow the tool's parameters schema. ``parse_calls`` reads calls back from free text.

>>> parse_calls('<tool_call>\\n{"name": "f", "arguments": {"x": 1}}\\n</tool_call>', {"f"})
('', [ToolCall(name='f', arguments={'x': 1})])
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ..errors import InputError

_CALL = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]


def template_has_tools(template: str | None) -> bool:
    """Whether a chat template renders ``tools`` (a template that never reads them would drop them silently)."""
    return bool(template) and "tools" in template


def check_tools(tools: Any) -> list[dict[str, Any]]:
    """OpenAI function specs, checked: each a function with a name and, if given, an object parameters schema."""
    from .structured import check_schema

    if not isinstance(tools, list) or not tools:
        raise InputError("tools must be a non-empty list of {'type': 'function', 'function': {...}} specs.")
    out, names = [], set()
    for i, t in enumerate(tools):
        fn = t.get("function") if isinstance(t, dict) and t.get("type", "function") == "function" else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise InputError(f"tools.{i} must be {{'type': 'function', 'function': {{'name': ..., 'parameters': "
                             "{...}}}}.")
        if fn["name"] in names:
            raise InputError(f"tools.{i}: the name {fn['name']!r} is given twice; tool names must differ.")
        names.add(fn["name"])
        params = fn.get("parameters") or {"type": "object", "properties": {}}
        if not isinstance(params, dict):
            raise InputError(f"tools.{i}.function.parameters must be a JSON schema object.")
        check_schema(params)
        out.append({"type": "function", "function": {**fn, "parameters": params}})
    return out


def call_schema(tools: list[dict[str, Any]], only: str | None = None) -> dict[str, Any]:
    """The JSON schema of one call ``{"name": ..., "arguments": {...}}`` to any of ``tools`` (or to ``only``)."""
    fns = [t["function"] for t in tools if only is None or t["function"]["name"] == only]
    if not fns:
        raise InputError(f"tool_choice names the function {only!r}, which is not among the tools; "
                         f"give one of: {', '.join(t['function']['name'] for t in tools)}.")
    options = [{"type": "object", "properties": {"name": {"const": f["name"]}, "arguments": f["parameters"]},
                "required": ["name", "arguments"], "additionalProperties": False} for f in fns]
    return options[0] if len(options) == 1 else {"anyOf": options}


def parse_calls(text: str, names: set[str], *, whole_json: bool = False) -> tuple[str, list[ToolCall]]:
    """(the text outside the calls, the calls) from a model's answer. ``whole_json``: the answer is one call's
    JSON (constrained decoding). Text that does not parse as a call to a known tool stays text."""
    if whole_json:
        call = _call(text, names)
        if call:
            return "", [call]  # else read it as any answer: a remote provider's calls arrive one a line
    calls, rest, pos = [], [], 0
    for m in _CALL.finditer(text):
        call = _call(m.group(1), names)
        if call is None:
            continue
        rest.append(text[pos:m.start()])
        pos = m.end()
        calls.append(call)
    rest.append(text[pos:])
    if not calls:
        return _bare_calls(text, names)
    return "".join(rest).strip(), calls


def _bare_calls(text: str, names: set[str]) -> tuple[str, list[ToolCall]]:
    """Calls written as bare JSON objects, each starting a line: Qwen's ``<tool_call>`` tags are special tokens,
    which llama.cpp does not turn back into text, so often only the JSON arrives."""
    decoder, calls, keep, pos = json.JSONDecoder(), [], [], 0
    for m in re.finditer(r"^[ \t]*\{", text, re.MULTILINE):
        start = m.end() - 1
        if start < pos:
            continue
        try:
            data, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            continue
        call = _call(json.dumps(data), names)
        if call is not None:
            keep.append(text[pos:m.start()])
            calls.append(call)
            pos = end
    keep.append(text[pos:])
    return ("".join(keep).strip(), calls) if calls else (text, [])


def _call(text: str, names: set[str]) -> ToolCall | None:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.get("name") not in names:
        return None
    args = data.get("arguments", data.get("parameters", {}))
    if isinstance(args, str):  # some models write the arguments as JSON text, as OpenAI's wire does
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            return None
    return ToolCall(data["name"], args) if isinstance(args, dict) else None
