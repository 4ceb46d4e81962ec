"""Anthropic's Messages API on ``llmkit serve``: a real uvicorn on 127.0.0.1, real SmolLM2 weights, the official
``anthropic`` SDK as the client (httpx for what the SDK will not send: a Bearer key, a malformed body)."""
from __future__ import annotations

import json

import httpx
import pytest

anthropic = pytest.importorskip("anthropic")
pytest.importorskip("fastapi")

from serve_helpers import real_server  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.real_home]

KEY = "sk-test-anthropic"
CHAT = "smollm2-135m-instruct"
GREEDY = {"extra_body": {"temperature": 0}}  # the newest SDKs have no temperature argument: see sampling()
HI = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]


@pytest.fixture(scope="module")
def server():
    with real_server(api_keys=[KEY], max_tokens=400, default_max_tokens=24, n_ctx=2048) as url:
        yield url


@pytest.fixture
def client(server):
    return anthropic.Anthropic(base_url=server, api_key=KEY, max_retries=0, timeout=120)


def sampling(**fields) -> dict:
    """temperature, top_p and top_k as the API takes them: the newest SDKs no longer have them as arguments
    (hosted models fix them), older ones and other clients still send them."""
    return {"extra_body": fields}


def test_a_message_has_anthropics_shape_and_usage(client):
    m = client.messages.create(model=CHAT, max_tokens=40, **GREEDY, messages=HI)
    assert m.type == "message" and m.role == "assistant" and m.id.startswith("msg_") and m.model == CHAT
    assert [b.type for b in m.content] == ["text"] and "Paris" in m.content[0].text
    assert m.stop_reason in ("end_turn", "max_tokens") and m.stop_sequence is None
    assert m.usage.input_tokens > 5 and 0 < m.usage.output_tokens <= 40


def test_system_as_text_or_blocks_and_content_as_blocks_are_the_same_prompt(client):
    plain = client.messages.create(model=CHAT, max_tokens=20, system="You answer in French.", messages=HI,
                                   **GREEDY)
    blocks = client.messages.create(
        model=CHAT, max_tokens=20, system=[{"type": "text", "text": "You answer in French."}],
        messages=[{"role": "user", "content": [{"type": "text", "text": HI[0]["content"]}]}], **GREEDY)
    assert plain.content[0].text == blocks.content[0].text
    assert plain.usage.input_tokens == blocks.usage.input_tokens
    bare = client.messages.create(model=CHAT, max_tokens=20, **GREEDY, messages=HI)
    assert bare.usage.input_tokens != plain.usage.input_tokens  # the system prompt did reach the model


def test_streaming_sends_the_event_sequence_and_the_same_text(server, client):
    whole = client.messages.create(model=CHAT, max_tokens=30, **GREEDY, messages=HI)
    with client.messages.stream(model=CHAT, max_tokens=30, **GREEDY, messages=HI) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == whole.content[0].text == final.content[0].text
    assert final.stop_reason == whole.stop_reason and final.usage.output_tokens == whole.usage.output_tokens

    # the raw wire (the SDK drops pings): every event named, its data's type the same name, in order
    body = {"model": CHAT, "max_tokens": 30, "messages": HI, "stream": True, "temperature": 0}
    with httpx.stream("POST", server + "/v1/messages", json=body, headers={"x-api-key": KEY}, timeout=120) as r:
        lines = [line for line in r.iter_lines() if line]
    names = [line[len("event: "):] for line in lines[0::2]]
    assert [json.loads(line[len("data: "):])["type"] for line in lines[1::2]] == names
    deltas = names.count("content_block_delta")
    assert names == ["message_start", "content_block_start", "ping", *["content_block_delta"] * deltas,
                     "content_block_stop", "message_delta", "message_stop"] and deltas > 0


def test_stop_sequences_report_which_one_stopped(client):
    text = client.messages.create(model=CHAT, max_tokens=30, messages=HI, **GREEDY).content[0].text
    cut = text.split()[2]
    m = client.messages.create(model=CHAT, max_tokens=30, **GREEDY, messages=HI,
                               stop_sequences=["zzz-never", cut])
    assert m.stop_reason == "stop_sequence" and m.stop_sequence == cut
    assert m.content[0].text == text[:text.index(cut)]


def test_max_tokens_stop_reason(client):
    m = client.messages.create(model=CHAT, max_tokens=3, **GREEDY, messages=HI)
    assert m.stop_reason == "max_tokens" and m.usage.output_tokens == 3


def test_top_k_and_top_p_are_accepted(client):
    m = client.messages.create(model=CHAT, max_tokens=8, **sampling(temperature=0.7, top_p=0.5, top_k=1), messages=HI)
    greedy = client.messages.create(model=CHAT, max_tokens=8, **GREEDY, messages=HI)
    assert m.content[0].text == greedy.content[0].text  # top_k 1 is greedy whatever the temperature


def test_count_tokens_matches_the_prompt_a_message_used(client):
    kwargs = {"model": CHAT, "system": "Be brief.", "messages": HI}
    counted = client.messages.count_tokens(**kwargs)
    used = client.messages.create(max_tokens=5, **kwargs)
    assert counted.input_tokens == used.usage.input_tokens > 5


def test_errors_are_anthropics_typed_errors(server, client):
    bad = anthropic.Anthropic(base_url=server, api_key="sk-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as e:
        bad.messages.create(model=CHAT, max_tokens=5, messages=HI)
    assert e.value.body["error"]["type"] == "authentication_error"
    with pytest.raises(anthropic.NotFoundError) as e:
        client.messages.create(model="no-such-model", max_tokens=5, messages=HI)
    assert e.value.body["type"] == "error" and e.value.body["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.BadRequestError) as e:
        client.messages.create(model=CHAT, max_tokens=5, messages=[{"role": "system", "content": "x"}])
    assert "messages.0.role" in e.value.body["error"]["message"]
    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(model=CHAT, max_tokens=5, messages=[*HI, {"role": "assistant", "content": "The"}])
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    with pytest.raises(anthropic.BadRequestError) as e:
        client.messages.create(model=CHAT, max_tokens=5, messages=[{"role": "user", "content": [image]}])
    assert "image blocks are not supported" in e.value.body["error"]["message"]
    with pytest.raises(anthropic.BadRequestError) as e:
        client.messages.create(model=CHAT, max_tokens=5000, messages=HI)
    assert "--max-tokens" in e.value.body["error"]["message"]


def test_bearer_keys_work_and_a_missing_max_tokens_is_a_400(server):
    body = {"model": CHAT, "max_tokens": 5, "messages": HI}
    ok = httpx.post(server + "/v1/messages", json=body, headers={"Authorization": f"Bearer {KEY}",
                                                                 "anthropic-version": "2023-06-01"}, timeout=120)
    assert ok.status_code == 200 and ok.json()["type"] == "message"
    missing = httpx.post(server + "/v1/messages", json={k: v for k, v in body.items() if k != "max_tokens"},
                         headers={"x-api-key": KEY}, timeout=120)
    assert missing.status_code == 400, missing.text
    assert missing.json() == {"type": "error", "error": {"type": "invalid_request_error",
                                                         "message": missing.json()["error"]["message"]}}
    assert "max_tokens" in missing.json()["error"]["message"]
    nokey = httpx.post(server + "/v1/messages", json=body, timeout=120)
    assert nokey.status_code == 401 and "x-api-key" in nokey.json()["error"]["message"]
