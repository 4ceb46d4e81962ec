"""Tool calling on ``llmkit serve``: a real uvicorn on 127.0.0.1 running Qwen2.5-Coder-0.5B (its chat template
renders tools), driven by the official ``openai`` and ``anthropic`` SDKs through a whole tool loop."""
from __future__ import annotations

import json

import pytest

openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")
pytest.importorskip("fastapi")

from serve_helpers import real_server  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.real_home]

KEY = "sk-test-tools"
QWEN = "qwen2.5-coder-0.5b-instruct"  # a real Qwen chat model, twice the default 1.5B's speed (make test pulls it)
SMOL = "smollm2-135m-instruct"  # its template has no tools
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "The city"}},
                   "required": ["city"]}}}
TIME = {"type": "function", "function": {
    "name": "get_time", "description": "Get the current time in a time zone.",
    "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]}}}
ASK = "What is the weather in Paris right now? Use the tool."
RESULT = "Sunny, 23 degrees Celsius"


@pytest.fixture(scope="module")
def server():
    with real_server(api_keys=[KEY], max_tokens=400, default_max_tokens=96, n_ctx=4096) as url:
        yield url


@pytest.fixture
def oai(server):
    return openai.OpenAI(base_url=server + "/v1", api_key=KEY, max_retries=0, timeout=300)


@pytest.fixture
def claude(server):
    return anthropic.Anthropic(base_url=server, api_key=KEY, max_retries=0, timeout=300)


def test_openai_two_step_tool_loop(oai):
    messages = [{"role": "user", "content": ASK}]
    first = oai.chat.completions.create(model=QWEN, messages=messages, tools=[WEATHER], temperature=0,
                                        max_tokens=96)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls", choice.message
    [call] = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_") and call.function.name == "get_weather"
    assert "paris" in json.loads(call.function.arguments)["city"].lower()

    messages += [choice.message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": RESULT}]
    # tool_choice "none" asks for the answer (the 0.5B model left on auto tends to call the tool again)
    final = oai.chat.completions.create(model=QWEN, messages=messages, tools=[WEATHER], temperature=0,
                                        max_tokens=96, tool_choice="none")
    assert final.choices[0].finish_reason == "stop" and not final.choices[0].message.tool_calls
    assert "23" in final.choices[0].message.content or "sunny" in final.choices[0].message.content.lower()


def test_openai_named_tool_choice_forces_a_call_that_follows_the_schema(oai):
    msg = [{"role": "user", "content": "Hello! How are you today?"}]  # nothing asks for a tool
    r = oai.chat.completions.create(model=QWEN, messages=msg, tools=[WEATHER, TIME], temperature=0, max_tokens=64,
                                    tool_choice={"type": "function", "function": {"name": "get_time"}})
    [call] = r.choices[0].message.tool_calls
    assert r.choices[0].finish_reason == "tool_calls" and call.function.name == "get_time"
    assert isinstance(json.loads(call.function.arguments)["zone"], str)


def test_openai_streamed_tool_call_arrives_as_deltas(oai):
    stream = oai.chat.completions.create(model=QWEN, messages=[{"role": "user", "content": ASK}], stream=True,
                                         tools=[WEATHER], tool_choice="required", temperature=0, max_tokens=64)
    deltas, finish = [], None
    for chunk in stream:
        for c in chunk.choices:
            deltas += c.delta.tool_calls or []
            finish = c.finish_reason or finish
    assert finish == "tool_calls" and deltas[0].function.name == "get_weather" and deltas[0].id
    assert "city" in json.loads("".join(d.function.arguments or "" for d in deltas))


def test_a_model_whose_template_has_no_tools_is_a_400_naming_it(oai):
    with pytest.raises(openai.BadRequestError) as e:
        oai.chat.completions.create(model=SMOL, messages=[{"role": "user", "content": ASK}], tools=[WEATHER],
                                    max_tokens=16)
    assert SMOL in str(e.value) and "template has no tools" in str(e.value)
    # tool_choice "none" renders no tools: the same model answers
    r = oai.chat.completions.create(model=SMOL, messages=[{"role": "user", "content": "Hi"}], tools=[WEATHER],
                                    tool_choice="none", max_tokens=8)
    assert r.choices[0].message.content and not r.choices[0].message.tool_calls


def test_openai_unknown_named_tool_is_a_400(oai):
    with pytest.raises(openai.BadRequestError, match="not among the tools"):
        oai.chat.completions.create(model=QWEN, messages=[{"role": "user", "content": ASK}], tools=[WEATHER],
                                    tool_choice={"type": "function", "function": {"name": "nope"}}, max_tokens=8)


A_WEATHER = {"name": "get_weather", "description": WEATHER["function"]["description"],
             "input_schema": WEATHER["function"]["parameters"]}
A_TIME = {"name": "get_time", "description": TIME["function"]["description"],
          "input_schema": TIME["function"]["parameters"]}


def test_anthropic_two_step_tool_loop(claude):
    messages = [{"role": "user", "content": ASK}]
    first = claude.messages.create(model=QWEN, max_tokens=96, messages=messages, tools=[A_WEATHER],
                                   extra_body={"temperature": 0})
    assert first.stop_reason == "tool_use", first.content
    [use] = [b for b in first.content if b.type == "tool_use"]
    assert use.name == "get_weather" and use.id.startswith("toolu_") and "paris" in use.input["city"].lower()

    messages += [{"role": "assistant", "content": [b.model_dump() for b in first.content]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": RESULT}]}]
    final = claude.messages.create(model=QWEN, max_tokens=96, messages=messages, tools=[A_WEATHER],
                                   tool_choice={"type": "none"}, extra_body={"temperature": 0})
    assert final.stop_reason == "end_turn" and [b.type for b in final.content] == ["text"]
    assert "23" in final.content[0].text or "sunny" in final.content[0].text.lower()


def test_anthropic_tool_choice_tool_forces_that_tool_and_streams(claude):
    kw = dict(model=QWEN, max_tokens=64, messages=[{"role": "user", "content": "Hello!"}], tools=[A_WEATHER, A_TIME],
              tool_choice={"type": "tool", "name": "get_time"}, extra_body={"temperature": 0})
    m = claude.messages.create(**kw)
    assert m.stop_reason == "tool_use" and [b.name for b in m.content if b.type == "tool_use"] == ["get_time"]
    with claude.messages.stream(**kw) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    [use] = [b for b in final.content if b.type == "tool_use"]
    assert use.name == "get_time" and isinstance(use.input["zone"], str)


def test_anthropic_template_without_tools_is_a_400(claude):
    with pytest.raises(anthropic.BadRequestError, match="template has no tools"):
        claude.messages.create(model=SMOL, max_tokens=16, messages=[{"role": "user", "content": ASK}],
                               tools=[A_WEATHER])
