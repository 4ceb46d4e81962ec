"""The OpenAI-compatible server, end to end: a real uvicorn on 127.0.0.1, real weights, the official ``openai``
SDK as the client (httpx where the SDK has no method, e.g. /v1/classifications, or to send malformed requests)."""
from __future__ import annotations

import base64
import io
import os
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

openai = pytest.importorskip("openai")
pytest.importorskip("fastapi")

from conftest import REAL_HOME  # noqa: E402
from llmkit.serve import ServeSettings  # noqa: E402
from llmkit.serve.background import running  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.real_home]

KEY = "sk-test-key"
KEY_B, KEY_C = "sk-test-key-b", "sk-test-key-c"  # more clients: fairness is per key
CHAT = "smollm2-135m-instruct"
HI = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]


@pytest.fixture(scope="module")


def classifier(tmp_path_factory) -> Path:
    """A tiny fine-tuned sentiment folder (seconds to train), served through --model like a user's own."""
    from tiny import make_tiny_encoder, toy_sentiment

    from llmkit.train.config import TrainConfig
    from llmkit.train.finetune import finetune

    enc = make_tiny_encoder(tmp_path_factory.mktemp("enc"))
    out = tmp_path_factory.mktemp("runs") / "toy"
    finetune(str(enc), toy_sentiment(240), toy_sentiment(60, seed=9), output=out, task="sentiment",
             config=TrainConfig(epochs=6, lr=1e-3, batch_size=16, max_length=16, seed=1), progress=False)
    return out


@pytest.fixture(scope="module")


def server(classifier):
    settings = ServeSettings(port=0, api_keys=[KEY, KEY_B, KEY_C], models=[str(classifier)], max_tokens=2000,
                             default_max_tokens=24, max_prompt_tokens=200, max_body_bytes=1_500_000,
                             max_audio_seconds=12, max_inputs=16, max_n=3, max_generations=4, queue_size=2,
                             queue_per_client=1, n_ctx=2048)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LLMKIT_HOME", REAL_HOME)
        with running(settings) as url:
            yield url


@pytest.fixture


def client(server):
    return openai.OpenAI(base_url=server + "/v1", api_key=KEY, max_retries=0, timeout=120)


@pytest.fixture


def http(server):
    with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {KEY}"}, timeout=120) as c:
        yield c


@pytest.fixture(scope="module")


def clips(tmp_path_factory):
    from speech_fixtures import SENTENCES, have_tools, silence, synthesize

    if not have_tools():
        pytest.skip("espeak-ng and sox are needed to synthesise speech")
    base = tmp_path_factory.mktemp("clips")
    return {"speech": synthesize(SENTENCES[4], base / "train.wav", voice="en-us", wpm=150),
            "text": SENTENCES[4], "long": silence(base / "long.wav", 14.0)}


def error_of(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    assert body["error"]["message"]
    return body["error"]


def metric(http: httpx.Client, name: str) -> float:
    total = 0.0
    for line in http.get("/metrics").text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


# ---------------------------------------------------------------------------------------------- basics

def test_health_is_open_and_models_are_listed(server, client, classifier):
    r = httpx.get(server + "/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    ids = [m.id for m in client.models.list().data]
    assert CHAT in ids and "all-minilm-l6-v2" in ids and classifier.name in ids


def test_models_are_listed_by_name_never_by_path(server, client, http, classifier):
    """A --model folder is listed (and answers) as its folder's name; the server's paths stay private."""
    ids = [m.id for m in client.models.list().data]
    assert not [i for i in ids if "/" in i or str(classifier.parent) in i], ids
    r = http.post("/v1/classifications", json={"model": classifier.name, "input": "great tasty coffee"})
    assert r.status_code == 200, r.text
    assert r.json()["model"] == classifier.name and r.json()["data"][0]["label"] == "POSITIVE"
    assert str(classifier) not in httpx.get(server + "/health").text


def test_api_docs_need_the_key_unless_opened(server):
    for path in ("/docs", "/redoc", "/openapi.json"):
        r = httpx.get(server + path)
        assert r.status_code == 401 and error_of(r)["code"] == "invalid_api_key", path
        assert httpx.get(server + path, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200, path
    assert "/v1/chat/completions" in httpx.get(server + "/openapi.json",
                                               headers={"Authorization": f"Bearer {KEY}"}).json()["paths"]
    with running(ServeSettings(port=0, api_keys=[KEY], open_docs=True)) as url:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert httpx.get(url + path).status_code == 200, path
        assert httpx.get(url + "/v1/models").status_code == 401  # only the docs are opened


def test_auth_refusals(server):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}):
        for path in ("/v1/models", "/metrics"):
            r = httpx.get(server + path, headers=headers)
            assert r.status_code == 401, (path, headers)
            assert error_of(r)["code"] == "invalid_api_key"
    bad = openai.OpenAI(base_url=server + "/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.embeddings.create(model="all-minilm-l6-v2", input="hi")


# ---------------------------------------------------------------------------------------------- text generation

def test_chat_not_streamed(client):
    a = client.chat.completions.create(model=CHAT, messages=HI, max_tokens=12, temperature=0, n=2, logprobs=True)
    assert len(a.choices) == 2 and a.object == "chat.completion"
    assert a.choices[0].message.role == "assistant" and a.choices[0].message.content.strip()
    assert a.choices[0].message.content == a.choices[1].message.content  # greedy: both choices agree
    assert a.choices[0].finish_reason in ("stop", "length")
    assert a.usage.prompt_tokens > 5 and a.usage.completion_tokens <= 24
    assert a.usage.total_tokens == a.usage.prompt_tokens + a.usage.completion_tokens
    lp = a.choices[0].logprobs.content
    assert lp and all(t.logprob <= 0 for t in lp)
    seeded = [client.chat.completions.create(model=CHAT, messages=HI, max_tokens=8, temperature=0.9, seed=7)
              .choices[0].message.content for _ in range(2)]
    assert seeded[0] == seeded[1]


def test_chat_streamed_matches_and_reports_usage(client):
    whole = client.chat.completions.create(model=CHAT, messages=HI, max_tokens=16, temperature=0)
    stream = client.chat.completions.create(model=CHAT, messages=HI, max_tokens=16, temperature=0, stream=True,
                                            stream_options={"include_usage": True})
    pieces, finish, usage = [], None, None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for c in chunk.choices:
            pieces.append(c.delta.content or "")
            finish = c.finish_reason or finish
    assert "".join(pieces) == whole.choices[0].message.content
    assert finish == whole.choices[0].finish_reason
    assert usage.completion_tokens == whole.usage.completion_tokens


def test_sse_wire_format_ends_with_done(http):
    body = {"model": CHAT, "messages": HI, "max_tokens": 4, "stream": True}
    with http.stream("POST", "/v1/chat/completions", json=body) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"


def test_stop_strings(client):
    full = client.chat.completions.create(model=CHAT, messages=HI, max_tokens=24, temperature=0)
    text = full.choices[0].message.content
    cut = text[len(text) // 2:][:3]
    assert cut.strip(), text
    stopped = client.chat.completions.create(model=CHAT, messages=HI, max_tokens=24, temperature=0, stop=[cut])
    assert stopped.choices[0].message.content == text[:text.index(cut)]
    assert stopped.choices[0].finish_reason == "stop"


def test_completions_plain_echo_and_streamed(client):
    prompt = "The three primary colours are"
    r = client.completions.create(model=CHAT, prompt=prompt, max_tokens=6, temperature=0, echo=True, logprobs=1)
    text = r.choices[0].text
    assert text.startswith(prompt) and len(text) > len(prompt)
    assert len(r.choices[0].logprobs.tokens) == r.usage.completion_tokens or r.choices[0].finish_reason == "stop"
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model=CHAT, prompt=prompt, max_tokens=6, temperature=0, stream=True) if c.choices)
    assert prompt + streamed == text
    two = client.completions.create(model=CHAT, prompt=[prompt, "Water is made of"], max_tokens=3, temperature=0)
    assert [c.index for c in two.choices] == [0, 1]


def test_client_dropping_a_stream_stops_generation(server, http):
    before = metric(http, "llmkit_generations_cancelled_total")
    tokens_before = metric(http, "llmkit_tokens_generated_total")
    body = {"model": CHAT, "prompt": "Here is a very long story about a dragon.", "max_tokens": 48,
            "temperature": 1.0, "seed": 3, "stream": True}
    with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {KEY}"}, timeout=60) as c:
        with c.stream("POST", "/v1/completions", json=body) as r:
            lines = r.iter_lines()
            got = [next(lines) for _ in range(3)]
            assert got[0].startswith("data: ")
        # leaving the block closes the connection mid-stream
    deadline = time.monotonic() + 30
    while metric(http, "llmkit_generations_cancelled_total") == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert metric(http, "llmkit_generations_cancelled_total") == before + 1
    assert metric(http, "llmkit_tokens_generated_total") - tokens_before < 48


# ---------------------------------------------------------------------------------------------- encoders

def test_embeddings(client):
    r = client.embeddings.create(model="all-minilm-l6-v2", input=["a cat", "a kitten", "the stock market fell"])
    v = np.array([d.embedding for d in r.data])
    assert v.shape == (3, 384) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2]
    assert r.usage.prompt_tokens > 6
    raw = client.embeddings.with_raw_response.create(model="all-minilm-l6-v2", input="a cat",
                                                     encoding_format="base64").http_response.json()
    decoded = np.frombuffer(base64.b64decode(raw["data"][0]["embedding"]), dtype=np.float32)
    # the int8 engine quantises activations per row, so a text's vector is the same alone and in a batch
    assert decoded.shape == (384,) and decoded @ v[0] >= 0.9999


def test_classifications(http, client, classifier):
    r = http.post("/v1/classifications", json={"model": str(classifier), "input": ["great tasty coffee",
                                                                                  "awful stale tea"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [d["label"] for d in body["data"]] == ["POSITIVE", "NEGATIVE"] and body["task"] == "sentiment"
    all_labels = http.post("/v1/classifications", json={"model": str(classifier), "input": "good snack",
                                                        "top_k": None}).json()["data"][0]["labels"]
    assert {x["label"] for x in all_labels} == {"POSITIVE", "NEGATIVE"}
    assert abs(sum(x["score"] for x in all_labels) - 1) < 1e-5
    via_sdk = client.post("/classifications", body={"model": str(classifier), "input": ["love it"]},
                          cast_to=httpx.Response).json()  # the SDK's generic post, as docs/server.md shows
    assert via_sdk["data"][0]["label"] == "POSITIVE"
    wrong = http.post("/v1/classifications", json={"model": str(classifier), "input": "x", "task": "nope"})
    assert wrong.status_code == 400 and error_of(wrong)["param"] == "task"


def test_concurrent_classifications_are_batched_and_correct(http, server, classifier):
    texts = [f"{w} coffee" for w in ["good", "bad", "great", "awful", "tasty", "stale", "fresh", "bitter"]] * 3
    single = {t: http.post("/v1/classifications", json={"model": str(classifier), "input": t}).json()["data"][0]
              for t in set(texts)}
    batches_before = metric(http, "llmkit_batch_size_count")
    results: dict[int, dict] = {}

    def one(i: int) -> None:
        with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {KEY}"}, timeout=60) as c:
            results[i] = c.post("/v1/classifications", json={"model": str(classifier), "input": texts[i]}).json()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, t in enumerate(texts):
        assert results[i]["data"][0]["label"] == single[t]["label"]
        # per-row int8 activations: a text's score does not depend on its batch-mates
        assert abs(results[i]["data"][0]["score"] - single[t]["score"]) < 1e-4
    batches = metric(http, "llmkit_batch_size_count") - batches_before
    assert batches < len(texts), "concurrent requests should share batches"


@pytest.mark.skipif(not (Path(REAL_HOME) / "models" / "minilm-sentiment").exists(),
                    reason="the built-in sentiment model is not built yet (llmkit models pull minilm-sentiment)")
def test_default_sentiment_model(http):
    r = http.post("/v1/classifications", json={"input": ["I love this coffee", "Stale and bitter, awful"]})
    assert [d["label"] for d in r.json()["data"]] == ["POSITIVE", "NEGATIVE"]


# ---------------------------------------------------------------------------------------------- speech

def test_transcription_in_every_format(client, clips):
    from speech_fixtures import wer

    with open(clips["speech"], "rb") as f:
        data = f.read()
    plain = client.audio.transcriptions.create(model="whisper-tiny.en", file=("a.wav", data))
    assert wer(clips["text"], plain.text) < 0.35, plain.text
    text = client.audio.transcriptions.create(model="whisper-tiny.en", file=("a.wav", data), response_format="text")
    assert isinstance(text, str) and text.strip() == plain.text.strip()
    srt = client.audio.transcriptions.create(model="whisper-tiny.en", file=("a.wav", data), response_format="srt")
    assert srt.startswith("1\n00:00:") and " --> " in srt
    vtt = client.audio.transcriptions.create(model="whisper-tiny.en", file=("a.wav", data), response_format="vtt")
    assert vtt.startswith("WEBVTT") and " --> " in vtt
    verbose = client.audio.transcriptions.create(
        model="whisper-tiny.en", file=("a.wav", data), response_format="verbose_json", language="en",
        prompt="Trains and platforms.", timestamp_granularities=["word", "segment"])
    assert verbose.language == "english" and 2 < verbose.duration < 10
    assert verbose.segments and verbose.segments[0].end > verbose.segments[0].start
    words = verbose.words
    assert len(words) >= 5 and all(w.end >= w.start for w in words)


def silent_opus_webm(seconds: int) -> bytes:
    """A decompression bomb: Opus silence in a live WebM, ~600 bytes per second of audio, with no duration in
    its header (as browsers' MediaRecorder writes it), so only decoding can tell how long it is."""
    import av

    rate, frame = 48_000, 960
    buf = io.BytesIO()
    with av.open(buf, "w", format="webm", options={"live": "1"}) as out:
        stream = out.add_stream("libopus", rate=rate, layout="mono")
        stream.bit_rate = 6000
        second = av.AudioFrame.from_ndarray(np.zeros((1, rate), np.float32), format="flt", layout="mono")
        second.sample_rate, second.pts = rate, 0
        packets = list(stream.encode(second))
        one = packets[len(packets) // 2]  # a steady-state 20 ms packet of silence, repeated (encoding is slow)
        for i in range(seconds * rate // frame):
            p = av.Packet(bytes(one))
            p.stream, p.pts, p.dts, p.time_base = stream, i * frame, i * frame, one.time_base
            out.mux(p)
    return buf.getvalue()


def peak_rss_since_reset() -> int:
    """This process's peak resident memory (bytes) since the last ``reset_peak_rss()`` (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/self/status")


def reset_peak_rss() -> int:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
    return peak_rss_since_reset()


def test_a_decompression_bomb_is_stopped_while_decoding(http, clips):
    """1000 s of audio in 0.6 MB decodes to 64 MB of samples (and twice that while joining them); the server
    (in this process: memory measured here) stops decoding at its 12 s limit instead."""
    bomb = silent_opus_webm(1000)
    assert len(bomb) < 1_000_000
    with open(clips["long"], "rb") as f:  # loads the speech model first, so its memory is not counted below
        assert http.post("/v1/audio/transcriptions", files={"file": ("long.wav", f.read())}).status_code == 400
    before = reset_peak_rss()
    r = http.post("/v1/audio/transcriptions", files={"file": ("bomb.webm", bomb)})
    grown = peak_rss_since_reset() - before
    assert grown < 32 * 2**20, f"the server's peak memory grew by {grown / 2**20:.0f} MB"
    assert r.status_code == 400 and error_of(r)["code"] == "audio_too_long", r.text
    assert "over 12 s long" in error_of(r)["message"] and "--max-audio-seconds" in error_of(r)["message"]


def test_translation_needs_a_multilingual_model(http, clips):
    with open(clips["speech"], "rb") as f:
        data = f.read()
    r = http.post("/v1/audio/translations", files={"file": ("a.wav", data)}, data={"model": "whisper-tiny.en"})
    assert r.status_code == 400 and "multilingual" in error_of(r)["message"]
    if (Path(REAL_HOME) / "models" / "whisper-base").exists():
        r = http.post("/v1/audio/translations", files={"file": ("a.wav", data)}, data={"model": "whisper-base"})
        assert r.status_code == 200 and "train" in r.json()["text"].lower()


# ---------------------------------------------------------------------------------------------- limits

def test_limits_each_have_their_error(http, clips):
    big = http.post("/v1/embeddings", content=b'{"input": "' + b"a" * 2_000_000 + b'"}',
                    headers={"content-type": "application/json"})
    assert big.status_code == 413 and error_of(big)["code"] == "request_too_large"
    with open(clips["long"], "rb") as f:
        r = http.post("/v1/audio/transcriptions", files={"file": ("long.wav", f.read())})
    assert r.status_code == 400 and error_of(r)["code"] == "audio_too_long"
    long_prompt = [{"role": "user", "content": "word " * 400}]
    r = http.post("/v1/chat/completions", json={"model": CHAT, "messages": long_prompt})
    assert r.status_code == 400 and error_of(r)["code"] == "context_length_exceeded"
    r = http.post("/v1/chat/completions", json={"model": CHAT, "messages": HI, "max_tokens": 2001})
    assert r.status_code == 400 and error_of(r)["param"] == "max_tokens"
    r = http.post("/v1/chat/completions", json={"model": CHAT, "messages": HI, "n": 4})
    assert r.status_code == 400 and error_of(r)["param"] == "n"
    r = http.post("/v1/embeddings", json={"input": ["x"] * 17})
    assert r.status_code == 400 and error_of(r)["param"] == "input"


def test_generations_per_request_are_bounded(http, client):
    """prompts x n is bounded by --max-generations (4 here), each factor within its own limit."""
    r = http.post("/v1/completions", json={"model": CHAT, "prompt": ["a", "b", "c"], "n": 2, "max_tokens": 1})
    assert r.status_code == 400 and error_of(r)["code"] == "too_many_generations"
    assert "6 generations" in error_of(r)["message"] and "--max-generations" in error_of(r)["message"]
    ok = client.completions.create(model=CHAT, prompt=["a", "b"], n=2, max_tokens=1)
    assert len(ok.choices) == 4


def chunked(*parts: bytes, pause: float = 0.0):
    """A request body without Content-Length (chunked transfer encoding), optionally sent slowly."""
    for part in parts:
        time.sleep(pause)
        yield part


def test_an_oversized_chunked_body_is_refused_as_it_streams(http):
    big = chunked(b'{"input": "', *[b"a" * 100_000] * 20, b'"}')
    r = http.post("/v1/embeddings", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and error_of(r)["code"] == "request_too_large", r.text
    head = b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
    upload = chunked(head, *[b"\0" * 100_000] * 20, b"\r\n--xyz--\r\n")
    r = http.post("/v1/audio/transcriptions", content=upload,
                  headers={"content-type": "multipart/form-data; boundary=xyz"})
    assert r.status_code == 413 and error_of(r)["code"] == "request_too_large", r.text
    small = http.post("/v1/embeddings", content=chunked(b'{"input": ', b'"a cat"}'),
                      headers={"content-type": "application/json"})
    assert small.status_code == 200, small.text


def test_sdk_sees_limit_errors_as_bad_requests(client):
    with pytest.raises(openai.BadRequestError, match="max_tokens"):
        client.chat.completions.create(model=CHAT, messages=HI, max_tokens=5000)


def test_full_queue_answers_429_then_503_with_retry_after(server, http):
    """queue_size=2, queue_per_client=1: one job runs, key A queues one (a second is 429, whatever its `user`),
    key B queues one, key C finds the queue full (503). Fairness is per API key: the `user` field is the
    client's own word and must not buy it more room."""
    def body(user, n=1, choices=1):  # counting: the model keeps going, so the first job runs for a while
        return {"model": CHAT, "prompt": "1, 2, 3, 4, 5, 6, 7,", "max_tokens": n, "user": user, "stream": True,
                "temperature": 0, "n": choices}

    def as_key(key):
        return {"Authorization": f"Bearer {key}"}

    def depth() -> float:
        return sum(float(line.rsplit(" ", 1)[1]) for line in http.get("/metrics").text.splitlines()
                   if line.startswith("llmkit_queue_depth") and f'model="{CHAT}"' in line)

    with httpx.Client(base_url=server, headers=as_key(KEY), timeout=120) as c:
        with c.stream("POST", "/v1/completions", json=body("a", 2000, 3)) as running_stream:
            holder = running_stream.iter_lines()
            next(holder)  # generating now: the worker is busy
            queued = []
            for key, user in ((KEY, "a"), (KEY_B, "b")):
                t = threading.Thread(target=lambda k=key, u=user: queued.append(
                    httpx.post(server + "/v1/completions", json=body(u), timeout=120, headers=as_key(k)).status_code))
                t.start()
                deadline = time.monotonic() + 10
                while depth() < (1 if key == KEY else 2) and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert depth() == (1 if key == KEY else 2), f"the queue did not fill: {queued} {[next(holder) for _ in range(6)]}"
                if key == KEY:
                    for other_user in ("a", "someone-else", None):  # one key, one share, whatever `user` says
                        r = http.post("/v1/completions", json=body(other_user), timeout=20)
                        assert r.status_code == 429 and error_of(r)["code"] == "rate_limit_exceeded", other_user
                        assert r.headers["retry-after"] == "1"
            r = httpx.post(server + "/v1/completions", json=body("c"), headers=as_key(KEY_C), timeout=120)
            assert r.status_code == 503 and r.headers["retry-after"] == "1"
        deadline = time.monotonic() + 60
        while len(queued) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    assert queued == [200, 200]


# ---------------------------------------------------------------------------------------------- malformed

@pytest.mark.parametrize("path,kwargs,status,param", [
    ("/v1/chat/completions", {"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, None),
    ("/v1/chat/completions", {"json": {"model": CHAT}}, 400, "messages"),
    ("/v1/chat/completions", {"json": {"model": CHAT, "messages": [{"role": "wizard", "content": "x"}]}}, 400,
     "messages.0.role"),
    ("/v1/chat/completions", {"json": {"model": CHAT, "messages": HI, "temperature": 3}}, 400, "temperature"),
    ("/v1/chat/completions", {"json": {"model": CHAT, "messages": [{"role": "user", "content": " "}]}}, 400, None),
    ("/v1/chat/completions", {"json": {"model": "gpt-4o", "messages": HI}}, 404, "model"),
    ("/v1/chat/completions", {"json": {"model": "all-minilm-l6-v2", "messages": HI}}, 400, "model"),
    ("/v1/completions", {"json": {"model": CHAT, "prompt": [1, 2, 3]}}, 400, "prompt"),
    ("/v1/completions", {"json": {"model": CHAT, "prompt": ""}}, 400, "prompt"),
    ("/v1/embeddings", {"json": {"input": ["fine", ""]}}, 400, "input"),
    ("/v1/embeddings", {"json": {"input": "x", "dimensions": 5}}, 400, "dimensions"),
    ("/v1/embeddings", {"json": {"input": "x", "encoding_format": "int8"}}, 400, "encoding_format"),
    ("/v1/classifications", {"json": {"input": []}}, 400, "input"),
    ("/v1/classifications", {"json": {"input": "x", "top_k": 0}}, 400, "top_k"),
    ("/v1/audio/transcriptions", {"files": {"file": ("a.wav", b"RIFF....not audio at all")}}, 400, "file"),
    ("/v1/audio/transcriptions", {"data": {"model": "whisper-tiny.en"}}, 400, "file"),
    ("/v1/audio/transcriptions", {"files": {"file": ("a.wav", b"x")}, "data": {"response_format": "docx"}}, 400,
     "response_format"),
])


def test_malformed_requests(http, path, kwargs, status, param):
    r = http.post(path, **kwargs)
    assert r.status_code == status, r.text
    err = error_of(r)
    if param:
        assert err["param"] == param, err


def test_unknown_route_and_method(http):
    assert error_of(http.get("/v1/nothing"))["code"] == "not_found"
    r = http.get("/v1/chat/completions")
    assert r.status_code == 405 and error_of(r)["code"] == "method_not_allowed"


def test_metrics_are_prometheus_text(http):
    text = http.get("/metrics").text
    assert "# TYPE llmkit_request_duration_seconds histogram" in text
    assert 'llmkit_requests_total{method="POST",route="/v1/chat/completions",status="200"}' in text
    assert "llmkit_tokens_generated_total" in text and "llmkit_queue_depth" in text
    assert 'le="+Inf"' in text


def test_metric_labels_are_resolved_model_names(http, client):
    """Whitespace and case variants of a name are one model, so one series; unknown names make none."""
    for variant in (f" {CHAT}", f"{CHAT.upper()}\t", "SmolLM2-135M-Instruct"):
        r = http.post("/v1/completions", json={"model": variant, "prompt": "Hi", "max_tokens": 1})
        assert r.status_code == 200 and r.json()["model"] == CHAT, r.text
    for unknown in ("nope", " NOPE ", "x" * 500):
        assert http.post("/v1/completions", json={"model": unknown, "prompt": "Hi"}).status_code == 404
    models = {line.split('model="', 1)[1].split('"', 1)[0] for line in http.get("/metrics").text.splitlines()
              if 'model="' in line and not line.startswith("#")}
    listed = {m["id"] for m in http.get("/v1/models").json()["data"]}
    assert CHAT in models and {m.split(":")[0] for m in models} <= listed, models  # name or name:head


STORY = [{"role": "user", "content": "Write a long story about a dragon who learns to bake bread."}]


def test_generation_slots_stream_concurrently_from_one_model():
    """With --generation-slots 2 on llama.cpp, two streams decode together (one model, two slots): the second
    stream's first token arrives before the first stream has finished. With one slot it would queue behind it."""
    settings = ServeSettings(port=0, generation_slots=2, n_ctx=1024, threads=2)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LLMKIT_HOME", REAL_HOME)
        with running(settings) as url:
            sdk = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0, timeout=120)
            sdk.chat.completions.create(model=CHAT, messages=HI, max_tokens=2)  # load the model first
            events: list[tuple[float, int, str]] = []
            lock = threading.Lock()

            def stream(i: int) -> None:
                chunks = sdk.chat.completions.create(model=CHAT, messages=STORY, max_tokens=64, temperature=0.9,
                                                     seed=i, stream=True, user=f"user-{i}")
                for chunk in chunks:
                    if chunk.choices and chunk.choices[0].delta.content:
                        with lock:
                            events.append((time.monotonic(), i, chunk.choices[0].delta.content))

            threads = [threading.Thread(target=stream, args=(i,)) for i in range(2)]
            for t in threads:
                t.start()
                time.sleep(0.05)
            for t in threads:
                t.join(120)
    first_of = {i: min(t for t, j, _ in events if j == i) for i in (0, 1)}
    last_of = {i: max(t for t, j, _ in events if j == i) for i in (0, 1)}
    assert first_of[1] < last_of[0] and first_of[0] < last_of[1]  # they overlapped
    assert all("".join(c for _, j, c in events if j == i).strip() for i in (0, 1))


def test_a_concurrent_engine_is_loaded_once_other_engines_once_per_worker():
    from types import SimpleNamespace

    from llmkit.serve.models import shared_when_concurrent

    for slots, expected_loads in ((2, 1), (1, 2)):
        loads: list[object] = []

        def load(slots=slots, loads=loads):
            pipe = SimpleNamespace(engine=SimpleNamespace(slots=slots))
            loads.append(pipe)
            return pipe

        worker_load = shared_when_concurrent(load, workers=2)
        first, second = worker_load(), worker_load()
        assert len(loads) == expected_loads and (first is second) == (expected_loads == 1)


