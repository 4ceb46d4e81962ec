"""The model side of tool calling (``llmkit.tasks.tools``): reading calls from an answer, the schema of a call."""
from __future__ import annotations

import pytest

from llmkit.errors import InputError
from llmkit.tasks.tools import ToolCall, call_schema, check_tools, parse_calls, template_has_tools

W = {"type": "function", "function": {"name": "w", "parameters": {"type": "object",
                                                                     "properties": {"c": {"type": "string"}}}}}


def test_tagged_bare_and_forced_calls_are_read_and_other_text_stays_text():
    assert parse_calls('Sure.\n<tool_call>\n{"name": "w", "arguments": {"c": "x"}}\n</tool_call>', {"w"}) == \
        ("Sure.", [ToolCall("w", {"c": "x"})])
    two = '{"name": "w", "arguments": {"c": "a"}}\n{"name": "w", "arguments": "{\\"c\\": \\"b\\"}"}'
    assert parse_calls(two, {"w"})[1] == [ToolCall("w", {"c": "a"}), ToolCall("w", {"c": "b"})]
    assert parse_calls('{"name": "other", "arguments": {}}', {"w"}) == ('{"name": "other", "arguments": {}}', [])
    assert parse_calls("no call here", {"w"}) == ("no call here", [])
    assert parse_calls('{"name": "w", "arguments": {}}', {"w"}, whole_json=True) == ("", [ToolCall("w", {})])


def test_call_schema_names_the_tool_and_its_parameters():
    s = call_schema(check_tools([W]))
    assert s["properties"]["name"] == {"const": "w"} and s["properties"]["arguments"]["properties"]["c"]
    with pytest.raises(InputError, match="not among the tools"):
        call_schema(check_tools([W]), "nope")


def test_bad_tools_and_templates_without_tools():
    with pytest.raises(InputError, match="tools.0"):
        check_tools([{"type": "function", "function": {}}])
    with pytest.raises(InputError, match="twice"):
        check_tools([W, W])
    assert not template_has_tools(None) and template_has_tools("{% if tools %}{{ tools }}{% endif %}")
