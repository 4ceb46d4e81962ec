"""``POST /v1/audio/speech`` on a real server on 127.0.0.1, driven by the official ``openai`` SDK."""
from __future__ import annotations

import httpx
import pytest

openai = pytest.importorskip("openai")
pytest.importorskip("fastapi")
pytest.importorskip("piper")

from conftest import REAL_HOME  # noqa: E402
from speech_fixtures import wer  # noqa: E402

from llmkit.audio import load_audio  # noqa: E402
from llmkit.serve import ServeSettings  # noqa: E402
from llmkit.serve.background import running  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.real_home]
KEY = "sk-speech"
TEXT = "The library is open every day except Sunday. Please remember to send me the report."


@pytest.fixture(scope="module")
def server():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LLMKIT_HOME", REAL_HOME)
        with running(ServeSettings(port=0, api_keys=[KEY])) as url:
            yield url


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=server + "/v1", api_key=KEY, max_retries=0, timeout=120)


def test_sdk_speech_round_trips_through_transcription(client, tmp_path):
    audio = client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT, response_format="wav").content
    assert audio[:4] == b"RIFF"
    path = tmp_path / "speech.wav"
    path.write_bytes(audio)
    with open(path, "rb") as f:
        heard = client.audio.transcriptions.create(model="whisper-tiny.en", file=f).text
    assert wer(TEXT, heard) <= 0.10, heard


def test_default_format_is_mp3_and_speed_shortens(client):
    normal = client.audio.speech.create(model="piper-joe-medium", voice="joe", input=TEXT).content
    fast = client.audio.speech.create(model="piper-joe-medium", voice="joe", input=TEXT, speed=2.0).content
    assert normal[:3] == b"ID3" or normal[0] == 0xFF  # an MP3 tag or frame sync
    assert len(load_audio(fast)) < 0.7 * len(load_audio(normal))


def test_streamed_sentence_by_sentence(client):
    """Chunked transfer, one piece per sentence at least: the first arrives before the last is made."""
    with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="alloy", input="One. Two sentences. Three sentences now. Four, the last.",
            response_format="pcm") as response:
        assert "content-length" not in response.headers
        pieces = [p for p in response.iter_bytes() if p]
    assert len(pieces) >= 2
    assert len(b"".join(pieces)) / 2 / 24000 > 1.0  # pcm: 24 kHz, 16-bit


@pytest.mark.parametrize("body, status, param", [
    ({"model": "tts-1", "voice": "nobody", "input": "hi"}, 400, "voice"),
    ({"model": "tts-1", "voice": "alloy", "input": "   "}, 400, "input"),
    ({"model": "tts-1", "voice": "alloy", "input": "hi", "speed": 9}, 400, "speed"),
    ({"model": "tts-1", "voice": "alloy", "input": "hi", "response_format": "ogg"}, 400, "response_format"),
    ({"model": "tts-1", "voice": "alloy", "input": "x" * 4097}, 400, "input"),
    ({"model": "tts-1", "voice": "alloy", "input": "hi", "instructions": "cheerful"}, 400, "instructions"),
    ({"model": "whisper-tiny.en", "voice": "alloy", "input": "hi"}, 400, "model"),
    ({"model": "no-such-voice", "voice": "alloy", "input": "hi"}, 404, "model"),
])
def test_bad_requests_get_openai_errors(server, body, status, param):
    r = httpx.post(server + "/v1/audio/speech", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["message"] and (error["param"] or "").endswith(param), error


def test_needs_the_key(server):
    r = httpx.post(server + "/v1/audio/speech", json={"model": "tts-1", "voice": "alloy", "input": "hi"}, timeout=60)
    assert r.status_code == 401
