"""A remote model behind ``llmkit serve`` under a local name, and response_format / tools passed through to the
providers. Every wire is real HTTP on 127.0.0.1: the provider is a real ``llmkit serve`` (``serve_url``: the chat
model, Qwen for tools and JSON) or, where what arrives must be inspected, the recording server; the proxy is
another ``llmkit serve`` (in this process) with its own LLMKIT_HOME (its audit log); clients are the official
``openai`` and ``anthropic`` SDKs."""
from __future__ import annotations

import json
from contextlib import contextmanager

import httpx
import pytest

openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")
pytest.importorskip("fastapi")
pytest.importorskip("presidio_analyzer")
jsonschema = pytest.importorskip("jsonschema")

from llmkit import pipeline  # noqa: E402
from llmkit.serve import ServeSettings  # noqa: E402
from llmkit.serve.background import running  # noqa: E402
from llmkit.tasks.tools import parse_calls  # noqa: E402
from remote_helpers import CHAT, HI, KEY, Recorder, keyed, serve_url  # noqa: E402, F401 (fixtures)

pytestmark = pytest.mark.slow

QWEN = "qwen2.5-coder-0.5b-instruct"  # its chat template renders tools (SmolLM2's does not)
EMAIL, CARD = "ann.lee@example.com", "4111 1111 1111 1111"
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "The weather in a city now",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                           "required": ["city"]}}}
A_WEATHER = {"name": "get_weather", "description": "The weather in a city now",
             "input_schema": WEATHER["function"]["parameters"]}
ASK = [{"role": "user", "content": "What is the weather in Paris right now? Use the tool."}]
RESULT = "Sunny, 21 degrees C"
PERSON = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
          "required": ["name", "age"], "additionalProperties": False}


@contextmanager
def proxy(*models: str, **settings):
    """``llmkit serve --allow-remote --model NAME=REF ...`` in this process, under the test's LLMKIT_HOME."""
    with running(ServeSettings(port=0, models=list(models), allow_remote=True, **settings)) as url:
        yield url


def audit_lines(home) -> list[dict]:
    return [json.loads(line) for line in (home / "audit" / "remote.jsonl").read_text().splitlines()]


# ---------------------------------------------------------------------------------------------- the proxy

def test_remote_model_served_under_its_local_name(serve_url, keyed):
    with proxy(f"fast=openai:{CHAT}@{serve_url}/v1") as url:
        listed = httpx.get(url + "/v1/models").json()["data"]
        fast = [m for m in listed if m["id"] == "fast"]
        assert fast and fast[0]["task"] == "text-generation" and serve_url not in json.dumps(listed)
        client = openai.OpenAI(base_url=url + "/v1", api_key="unused")
        r = client.chat.completions.create(model="fast", messages=HI, temperature=0, max_tokens=24)
        assert r.model == "fast" and "Paris" in r.choices[0].message.content
        assert r.usage.prompt_tokens > 5 and 0 < r.usage.completion_tokens <= 24
        chunks = list(client.chat.completions.create(model="fast", messages=HI, temperature=0, max_tokens=24,
                                                     stream=True, stream_options={"include_usage": True}))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == r.choices[0].message.content and chunks[-1].usage.completion_tokens > 0
        claude = anthropic.Anthropic(base_url=url, api_key="unused")
        m = claude.messages.create(model="fast", max_tokens=24, messages=HI)
        assert m.model == "fast" and m.content[0].text.strip() and m.usage.input_tokens > 5
    lines = audit_lines(keyed)  # the proxy's audit log: one line per call, no content
    assert len(lines) == 3 and {e["model"] for e in lines} == {CHAT}
    assert all(e["status"] in ("stop", "length") for e in lines)
    assert "Paris" not in (keyed / "audit" / "remote.jsonl").read_text()


def test_what_leaves_the_proxy_is_redacted_and_the_answer_restored(keyed):
    recorder = Recorder()
    try:
        with proxy(f"o=openai:m@{recorder.url}/v1", f"a=anthropic:m@{recorder.url}") as url:
            said = f"Mail {EMAIL}, card {CARD}"
            r = openai.OpenAI(base_url=url + "/v1", api_key="x").chat.completions.create(
                model="o", messages=[{"role": "user", "content": said}])
            assert r.choices[0].message.content == f"You said: {said}"
            m = anthropic.Anthropic(base_url=url, api_key="x").messages.create(
                model="a", max_tokens=64, messages=[{"role": "user", "content": said}])
            assert m.content[0].text == f"You said: {said}"
            counted = anthropic.Anthropic(base_url=url, api_key="x").messages.count_tokens(
                model="a", messages=[{"role": "user", "content": said}])
            assert counted.input_tokens == 7  # the recorder's count
        sent = json.dumps(recorder.bodies)
        assert len(recorder.bodies) == 3 and EMAIL not in sent and CARD not in sent and "<EMAIL_1>" in sent
        assert recorder.bodies[2]["messages"] == recorder.bodies[1]["messages"]  # counted as it would be sent
        assert all(e["redacted"] for e in audit_lines(keyed))
    finally:
        recorder.shutdown()


def test_count_tokens_is_the_providers_count_of_what_would_be_sent(serve_url, keyed):
    """``/v1/messages/count_tokens`` on an anthropic remote asks the provider (here a real llmkit serve) to count
    the request as it would leave: redacted, tools included; an OpenAI-compatible remote cannot count and says so
    in Anthropic's error shape."""
    link = "https://intranet.example.org/projects/alpha/plan?version=12345&lang=en"  # many tokens, <URL_1> few
    said = [{"role": "user", "content": f"Please mail {EMAIL} the plan at {link}."}]
    sent = [{"role": "user", "content": "Please mail <EMAIL_1> the plan at <URL_1>."}]
    direct = anthropic.Anthropic(base_url=serve_url, api_key=KEY)
    with proxy(f"a=anthropic:{QWEN}@{serve_url}", f"o=openai:{QWEN}@{serve_url}/v1") as url:
        claude = anthropic.Anthropic(base_url=url, api_key="x")
        counted = claude.messages.count_tokens(model="a", system="Be brief.", messages=said).input_tokens
        assert counted == direct.messages.count_tokens(model=QWEN, system="Be brief.", messages=sent).input_tokens
        assert counted != direct.messages.count_tokens(model=QWEN, system="Be brief.", messages=said).input_tokens
        with_tools = claude.messages.count_tokens(model="a", messages=ASK, tools=[A_WEATHER]).input_tokens
        assert with_tools == direct.messages.count_tokens(model=QWEN, messages=ASK, tools=[A_WEATHER]).input_tokens
        assert with_tools > claude.messages.count_tokens(model="a", messages=ASK).input_tokens
        with pytest.raises(anthropic.BadRequestError, match="not available for this model.*OpenAI API") as e:
            claude.messages.count_tokens(model="o", messages=said)
        assert e.value.body["error"]["type"] == "invalid_request_error" and serve_url not in str(e.value.body)
    counts = [e for e in audit_lines(keyed) if e["call"] == "count_tokens"]
    assert len(counts) == 3 and counts[0]["prompt_tokens"] == counted and counts[0]["redacted"]  # "o": nothing left
    assert all(e["status"] == "counted" for e in counts)
    assert EMAIL not in (keyed / "audit" / "remote.jsonl").read_text()


def test_clients_cannot_name_other_remote_models(keyed):
    """Even with --allow-any-model a client may not make the server send text (with its keys) to a URL of its
    choosing: only the remote models given with --model are served."""
    recorder = Recorder()
    try:
        with proxy(f"o=openai:m@{recorder.url}/v1", allow_any_model=True) as url:
            for model in (f"openai:other@{recorder.url}/v1", "anthropic:claude-x", "openai:"):
                r = httpx.post(url + "/v1/chat/completions", json={"model": model, "messages": HI})
                assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found", r.text
        assert recorder.bodies == []
    finally:
        recorder.shutdown()


def test_provider_errors_are_a_502_before_any_stream(keyed):
    recorder = Recorder()
    recorder.status = (401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}})
    try:
        with proxy(f"o=openai:m@{recorder.url}/v1") as url:
            body = {"model": "o", "messages": HI}
            for stream in (False, True):
                r = httpx.post(url + "/v1/chat/completions", json={**body, "stream": stream})
                err = r.json()["error"]
                assert r.status_code == 502 and err["code"] == "upstream_error", r.text
                assert "refused the API key (401)" in err["message"] and "\n" not in err["message"]
    finally:
        recorder.shutdown()


def test_a_provider_cut_mid_stream_is_never_a_finished_answer(keyed):
    """The provider closes its stream mid-answer: a non-streamed request gets the 502, a streamed one the API's
    error event after the pieces that came (both SDKs raise), never a finish_reason / message_stop."""
    recorder = Recorder()
    recorder.cut = 4
    try:
        with proxy(f"o=openai:m@{recorder.url}/v1", f"a=anthropic:m@{recorder.url}") as url:
            body = {"model": "o", "messages": [{"role": "user", "content": "hello there, how are you today?"}]}
            r = httpx.post(url + "/v1/chat/completions", json=body)
            assert r.status_code == 502 and "before the answer was complete" in r.json()["error"]["message"]
            client = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
            with pytest.raises(openai.APIError, match="before the answer was complete"):
                for chunk in client.chat.completions.create(**body, stream=True):
                    assert not chunk.choices or chunk.choices[0].finish_reason is None
            claude = anthropic.Anthropic(base_url=url, api_key="x", max_retries=0)
            with pytest.raises(anthropic.APIError, match="before the answer was complete"):
                with claude.messages.stream(model="a", max_tokens=64, messages=body["messages"]) as stream:
                    for event in stream:
                        assert event.type != "message_stop"
    finally:
        recorder.shutdown()


def test_serve_refuses_a_remote_model_without_opt_in_or_with_a_catalog_name(keyed, monkeypatch):
    from cli_helpers import llmkit

    monkeypatch.delenv("LLMKIT_ALLOW_REMOTE", raising=False)
    r = llmkit("serve", "--port", "0", "--model", "fast=openai:m@http://127.0.0.1:9/v1")
    err = r.stderr.decode().strip()
    assert r.returncode == 2 and "--allow-remote" in err and len(err.splitlines()) == 1, err
    r = llmkit("serve", "--port", "0", "--allow-remote", "--model", f"{CHAT}=openai:m@http://127.0.0.1:9/v1")
    err = r.stderr.decode().strip()
    assert r.returncode == 2 and "cannot be its local name" in err and len(err.splitlines()) == 1, err


# ---------------------------------------------------------------------------------------------- pass-through

def test_json_schema_and_tools_go_to_the_provider_in_its_shape(keyed):
    recorder = Recorder()
    try:
        for provider, base in (("openai", f"{recorder.url}/v1"), ("anthropic", recorder.url)):
            gen = pipeline("text-generation", model=f"{provider}:m@{base}", allow_remote=True)
            gen.generate("Give a person", json_schema=PERSON, max_new_tokens=8)
            gen.generate("Give any object", json_schema={"type": "object"}, max_new_tokens=8)
            gen.generate(ASK, tools=[WEATHER], tool_choice="required", max_new_tokens=8)
            gen.generate(ASK, tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "get_weather"}},
                         max_new_tokens=8)
        o_schema, o_object, o_required, o_named, a_schema, a_object, a_required, a_named = recorder.bodies
        assert o_schema["response_format"] == {"type": "json_schema", "json_schema": {"name": "answer",
                                                                                       "schema": PERSON}}
        assert o_object["response_format"] == {"type": "json_object"}
        assert o_required["tools"] == [WEATHER] and o_required["tool_choice"] == "required"
        assert o_named["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
        assert a_schema["tools"][0]["input_schema"] == PERSON and a_schema["tool_choice"]["type"] == "tool"
        assert a_object["tools"][0]["input_schema"] == {"type": "object"}
        assert a_required["tools"] == [A_WEATHER] and a_required["tool_choice"] == {"type": "any"}
        assert a_named["tool_choice"] == {"type": "tool", "name": "get_weather"}
    finally:
        recorder.shutdown()


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_json_schema_answer_validates(serve_url, keyed, provider):
    """The provider (here llmkit, which enforces it with a grammar) gets the schema and the answer follows it;
    on Anthropic's API the schema travels as a forced tool's input."""
    base = f"{serve_url}/v1" if provider == "openai" else serve_url
    gen = pipeline("text-generation", model=f"{provider}:{QWEN}@{base}", allow_remote=True)
    pieces = list(gen.stream([{"role": "user", "content": "Invent a person."}], json_schema=PERSON,
                             temperature=0, max_new_tokens=48))
    jsonschema.validate(json.loads("".join(pieces)), PERSON)


def test_openai_sdk_two_step_tool_loop_through_the_proxy(serve_url, keyed):
    with proxy(f"q=openai:{QWEN}@{serve_url}/v1") as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="x")
        first = client.chat.completions.create(model="q", messages=ASK, tools=[WEATHER], tool_choice="required",
                                               temperature=0, max_tokens=48)
        call = first.choices[0].message.tool_calls[0]
        assert first.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather"
        jsonschema.validate(json.loads(call.function.arguments), WEATHER["function"]["parameters"])
        messages = [*ASK, first.choices[0].message.model_dump(exclude_none=True),
                    {"role": "tool", "tool_call_id": call.id, "content": RESULT}]
        final = client.chat.completions.create(model="q", messages=messages, tools=[WEATHER], tool_choice="none",
                                               temperature=0, max_tokens=48)
        assert final.choices[0].finish_reason in ("stop", "length") and final.choices[0].message.content
        assert not final.choices[0].message.tool_calls
        chunks = list(client.chat.completions.create(model="q", messages=ASK, tools=[WEATHER], stream=True,
                                                     tool_choice="required", temperature=0, max_tokens=48))
        deltas = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
        assert deltas and deltas[0].function.name == "get_weather"


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_anthropic_sdk_two_step_tool_loop_through_the_proxy(serve_url, keyed, provider):
    base = f"{serve_url}/v1" if provider == "openai" else serve_url
    with proxy(f"q={provider}:{QWEN}@{base}") as url:
        claude = anthropic.Anthropic(base_url=url, api_key="x")
        first = claude.messages.create(model="q", max_tokens=48, messages=ASK, tools=[A_WEATHER],
                                       tool_choice={"type": "any"})
        use = [b for b in first.content if b.type == "tool_use"][0]
        assert first.stop_reason == "tool_use" and use.name == "get_weather" and use.input.get("city")
        messages = [*ASK, {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": RESULT}]}]
        final = claude.messages.create(model="q", max_tokens=48, messages=messages, tools=[A_WEATHER],
                                       tool_choice={"type": "none"})
        assert final.stop_reason in ("end_turn", "max_tokens") and final.content[0].type == "text"
        with claude.messages.stream(model="q", max_tokens=48, messages=ASK, tools=[A_WEATHER],
                                    tool_choice={"type": "tool", "name": "get_weather"}) as stream:
            blocks = stream.get_final_message().content
        assert [b.name for b in blocks if b.type == "tool_use"] == ["get_weather"]


@pytest.mark.parametrize("where", ["remote", "local"])
def test_pipeline_tool_call_comes_back_as_a_parsable_line(serve_url, keyed, monkeypatch, where):
    """``generate(tools=, tool_choice=)`` is one call for both: a remote provider's call arrives as a JSON line, a
    local model's forced call is constrained to the call's schema; ``parse_calls`` reads either."""
    if where == "local":
        from conftest import REAL_HOME

        monkeypatch.setenv("LLMKIT_HOME", REAL_HOME)
    gen = pipeline("text-generation", model=QWEN if where == "local" else f"openai:{QWEN}@{serve_url}/v1",
                   allow_remote=True)
    with pytest.raises(Exception, match="tool_choice must be"):
        gen.generate(ASK, tools=[WEATHER], tool_choice="sometimes")
    result = gen.generate(ASK, tools=[WEATHER], tool_choice="required", temperature=0, max_new_tokens=48)
    text, calls = parse_calls(result.text, {"get_weather"})
    assert [c.name for c in calls] == ["get_weather"] and calls[0].arguments.get("city") and not text
