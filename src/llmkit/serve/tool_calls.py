"""Tool calling for both APIs: a request's tools and tool_choice -> what generation needs (the tools the chat
template renders, and for a call that must happen, the JSON schema that constrains it), and the answer's text ->
the calls. The OpenAI and Anthropic routes only translate shapes around this (``llmkit.tasks.tools`` does the
model side: templates, schemas, parsing).
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..tasks.structured import canonical_schema
from ..tasks.tools import ToolCall, call_schema, check_tools, parse_calls
from .errors import invalid


@dataclass(frozen=True)
class ToolPlan:
    tools: list[dict[str, Any]]  # OpenAI function specs, checked
    schema: str | None  # the call's JSON schema when a call must happen ("required" or a named function)
    choice: Any = None  # tool_choice as OpenAI writes it (a remote provider gets it as such)

    @property
    def names(self) -> set[str]:
        return {t["function"]["name"] for t in self.tools}

    def split(self, text: str) -> tuple[str, list[ToolCall]]:
        """(text, calls) of an answer; a forced call is the whole answer, as JSON; with "none", no calls."""
        if self.choice == "none":
            return text, []
        return parse_calls(text, self.names, whole_json=self.schema is not None)


def plan(tools: list[dict[str, Any]] | None, choice: Any, param: str = "tools", *,
         remote: bool = False) -> ToolPlan | None:
    """OpenAI's ``tools`` + ``tool_choice`` ("auto", "none", "required", or ``{"type": "function", "function":
    {"name": ...}}``) -> a ``ToolPlan``, or None when no tools are in play ("none" renders no tools at all, so a
    model without tool support still answers). A ``remote`` model's provider gets "none" with the tools (Anthropic
    refuses earlier tool_use blocks in a request without tools)."""
    if not tools or (choice == "none" and not remote):
        return None
    try:
        checked = check_tools(tools)
        if choice == "none":
            return ToolPlan(checked, None, "none")
        if choice in (None, "auto"):
            return ToolPlan(checked, None, "auto")
        if choice == "required":
            return ToolPlan(checked, canonical_schema(call_schema(checked)), choice)
        name = choice.get("function", {}).get("name") if isinstance(choice, dict) else None
        if not isinstance(name, str):
            raise InputError(f"tool_choice must be \"auto\", \"none\", \"required\" or {{\"type\": \"function\", "
                             f"\"function\": {{\"name\": ...}}}} (got {choice!r}).")
        return ToolPlan(checked, canonical_schema(call_schema(checked, name)), choice)
    except InputError as e:
        raise invalid(str(e), param=param, code="invalid_tools") from None


def call_id(prefix: str = "call_") -> str:
    return prefix + uuid.uuid4().hex[:24]


def openai_calls(calls: list[ToolCall]) -> list[dict[str, Any]]:
    return [{"id": call_id(), "type": "function",
             "function": {"name": c.name, "arguments": json.dumps(c.arguments, ensure_ascii=False)}} for c in calls]


def history_calls(tool_calls: list[Any]) -> list[dict[str, Any]]:
    """An assistant's earlier calls (OpenAI's shape, arguments as JSON text) as chat templates read them:
    arguments as an object (Qwen's template writes ``arguments | tojson``)."""
    out = []
    for c in tool_calls:
        try:
            args = json.loads(c.function.arguments or "{}")
        except json.JSONDecodeError:
            raise invalid(f"the tool call {c.id}'s arguments are not JSON text.", param="messages") from None
        out.append({"id": c.id, "type": "function", "function": {"name": c.function.name, "arguments": args}})
    return out
