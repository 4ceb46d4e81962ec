"""Fast speech-to-text tests without a model: audio decoding, writers, options, repetition cutting."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from llmkit.audio import SAMPLE_RATE, load_audio
from llmkit.errors import InputError
from llmkit.tasks.transcribe import Segment, TranscribeOptions, Transcription, Word, collapse_repeats
from llmkit.writers import render, timestamp, write
from speech_fixtures import have_tools, synthesize

pytestmark = pytest.mark.skipif(not have_tools(), reason="needs espeak-ng and sox (make setup installs them)")

TS_SRT = r"(\d\d):(\d\d):(\d\d),(\d\d\d)"
TS_VTT = r"(\d\d):(\d\d):(\d\d)\.(\d\d\d)"


def _secs(m: tuple[str, ...]) -> float:
    h, mi, s, ms = map(int, m)
    assert mi < 60 and s < 60
    return h * 3600 + mi * 60 + s + ms / 1000


def parse_srt(text: str) -> list[tuple[float, float, str]]:
    """A strict SRT parser: numbered from 1, well-formed times, start < end, monotonic, non-empty text."""
    cues, last_end = [], 0.0
    blocks = text.strip("\n").split("\n\n") if text.strip() else []
    for n, block in enumerate(blocks, 1):
        lines = block.split("\n")
        assert lines[0] == str(n), f"cue {n} is numbered {lines[0]!r}"
        m = re.fullmatch(TS_SRT + " --> " + TS_SRT, lines[1])
        assert m, f"bad timing line {lines[1]!r}"
        start, end = _secs(m.groups()[:4]), _secs(m.groups()[4:])
        assert start < end and start >= last_end, (start, end, last_end)
        assert len(lines) >= 3 and all(line.strip() for line in lines[2:])
        cues.append((start, end, " ".join(lines[2:])))
        last_end = end
    assert text.endswith("\n") or not text
    return cues


def parse_vtt(text: str) -> list[tuple[float, float, str]]:
    assert text.startswith("WEBVTT\n\n")
    cues, last_end = [], 0.0
    body = text[len("WEBVTT\n\n"):].strip("\n")
    for block in body.split("\n\n") if body else []:
        lines = block.split("\n")
        m = re.fullmatch(TS_VTT + " --> " + TS_VTT, lines[0])
        assert m, f"bad timing line {lines[0]!r}"
        start, end = _secs(m.groups()[:4]), _secs(m.groups()[4:])
        assert start < end and start >= last_end
        assert len(lines) >= 2 and all(line.strip() for line in lines[1:]) and "-->" not in " ".join(lines[1:])
        cues.append((start, end, " ".join(lines[1:])))
        last_end = end
    return cues


def parse_tsv(text: str) -> list[tuple[float, float, str]]:
    lines = text.rstrip("\n").split("\n")
    assert lines[0] == "start\tend\ttext"
    rows, last = [], 0
    for line in lines[1:]:
        start, end, body = line.split("\t")
        assert int(start) < int(end) and int(start) >= last and body.strip()
        rows.append((int(start) / 1000, int(end) / 1000, body))
        last = int(end)
    return rows


def _result(segments) -> Transcription:
    segs = tuple(Segment(i, s, e, t, -0.2, 0.01, 1.2, (Word(s, e, (t.split() or [''])[0], 0.9),)) for i, (s, e, t) in
                 enumerate(segments, 1))
    return Transcription(" ".join(t for _, _, t in segments), segs, "en", 1.0, 3725.0, "whisper-tiny.en")


# ---------------------------------------------------------------------------------------------- writers

def test_timestamps_format():
    assert timestamp(0) == "00:00:00.000"
    assert timestamp(3661.5) == "01:01:01.500"
    assert timestamp(59.9996, decimal=",") == "00:01:00,000"


def test_writers_pass_strict_parsers_even_with_overlapping_input(tmp_path):
    # Overlaps, a zero-length cue, an empty cue and "-->" in text: the writers must still emit valid files.
    result = _result([(0.0, 2.5, "Hello there."), (2.0, 2.0, "Overlap --> here."), (3.0, 4.0, " "),
                      (3725.0, 3726.25, "An hour later.")])
    srt = parse_srt(render(result, "srt"))
    vtt = parse_vtt(render(result, "vtt"))
    tsv = parse_tsv(render(result, "tsv"))
    assert [c[2] for c in srt] == ["Hello there.", "Overlap -> here.", "An hour later."]
    assert len(vtt) == len(tsv) == 3 and srt[2][0] == 3725.0
    assert render(result, "txt") == "Hello there.\nOverlap -> here.\nAn hour later.\n"
    data = json.loads(render(result, "json"))
    assert {"text", "language", "duration", "segments"} <= set(data)
    assert data["segments"][0]["words"][0]["word"] == "Hello"
    out = write(result, "srt", tmp_path / "sub" / "x.srt")
    assert out.read_text() == render(result, "srt") and not list(tmp_path.glob("sub/*.tmp"))


def test_writers_empty_result():
    empty = Transcription("", (), "en", 1.0, 5.0)
    assert parse_srt(render(empty, "srt")) == [] and parse_vtt(render(empty, "vtt")) == []
    assert render(empty, "txt") == "" and parse_tsv(render(empty, "tsv")) == []
    with pytest.raises(InputError, match="--format"):
        render(empty, "docx")


# ---------------------------------------------------------------------------------------------- options

@pytest.mark.parametrize("kwargs, flag", [
    ({"beam_size": 0}, "--beam-size"), ({"batch_size": 1000}, "--batch-size"), ({"task": "summarise"}, "--task"),
    ({"language": "english!"}, "--language"), ({"max_duration": -1}, "--max-duration"),
    ({"beam_size": 2.5}, "--beam-size"), ({"compute_type": "int3"}, "compute_type"),
    ({"no_speech_certain_threshold": 1.5}, "no_speech_certain_threshold"),
])
def test_options_are_validated_in_one_place(kwargs, flag):
    with pytest.raises(InputError, match=flag):
        TranscribeOptions(**kwargs)


def test_options_normalise_language_and_reject_unknown_overrides():
    assert TranscribeOptions(language="AUTO").language is None
    assert TranscribeOptions(language=" EN ").language == "en"
    with pytest.raises(InputError, match="unknown transcription option"):
        TranscribeOptions().replace(beam=3)


def test_collapse_repeats():
    assert collapse_repeats("Thank you. Thank you. Thank you. Thank you. Thank you.") == "Thank you."
    assert collapse_repeats("I said no, no, no, no, no, no more") == "I said no, more"
    assert collapse_repeats("We will go, we will go.") == "We will go, we will go."  # two is speech


# ---------------------------------------------------------------------------------------------- audio

@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return synthesize("Testing one two three.", tmp_path_factory.mktemp("audio") / "clip.wav", rate=22050)


def _encode(src: np.ndarray, path: Path, codec: str, container: str | None) -> Path:
    """Encode with PyAV (FFmpeg's libraries), for formats sox cannot write here (mp3, m4a, webm)."""
    import av

    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=48000 if codec == "libopus" else SAMPLE_RATE)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(src[None, :], format="flt", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout="mono", rate=stream.rate)
        for f in resampler.resample(frame) + resampler.resample(None):
            out.mux(stream.encode(f))
        out.mux(stream.encode(None))
    return path


def test_every_format_rate_and_channel_count_decodes_to_the_same_signal(clip, tmp_path):
    ref = load_audio(clip)
    assert ref.dtype == np.float32 and ref.ndim == 1 and abs(len(ref) / SAMPLE_RATE - 1.6) < 1.2
    variants = []
    for name, args in [("a.flac", []), ("b.ogg", []), ("c.wav", ["-r", "8000"]), ("d.wav", ["-r", "44100", "-c", "2"]),
                       ("e.wav", ["-r", "48000", "-b", "32", "-e", "floating-point"])]:
        subprocess.run(["sox", str(clip), *args, str(tmp_path / name)], check=True)
        variants.append(tmp_path / name)
    for name, codec, container in [("f.mp3", "libmp3lame", None), ("g.m4a", "aac", "mp4"),
                                   ("h.webm", "libopus", "webm")]:
        variants.append(_encode(ref, tmp_path / name, codec, container))
    for path in variants:
        x = load_audio(path)
        assert abs(len(x) - len(ref)) < 0.1 * SAMPLE_RATE, path  # codecs pad (AAC: ~85 ms)
        assert _envelope_similarity(ref, x) > 0.95, path
    assert np.allclose(load_audio(clip.read_bytes()), ref)


def _envelope_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of 10 ms loudness envelopes at the best lag within 150 ms (codecs add a delay: AAC ~64 ms)."""
    def env(x):
        n = len(x) // 160 * 160
        return np.sqrt((x[:n].reshape(-1, 160) ** 2).mean(axis=1))
    ea, eb = env(a), env(b)
    best = -1.0
    for lag in range(0, 16):
        n = min(len(ea), len(eb) - lag)
        best = max(best, float(np.corrcoef(ea[:n], eb[lag:lag + n])[0, 1]))
    return best


def test_arrays_and_tuples(clip):
    ref = load_audio(clip)
    assert load_audio(ref) is not None and np.allclose(load_audio(ref), ref)
    stereo = np.stack([ref, ref], axis=1)
    assert np.allclose(load_audio((stereo, SAMPLE_RATE)), ref, atol=1e-6)
    ints = (ref * 32767).astype(np.int16)
    assert np.allclose(load_audio((ints, SAMPLE_RATE)), ref, atol=1e-3)
    up = load_audio((ref, 8000))  # declared 8 kHz: resampled to twice as many samples
    assert abs(len(up) - 2 * len(ref)) < 100
    with pytest.raises(InputError, match="NaN"):
        load_audio(np.array([0.0, np.nan], np.float32))
    with pytest.raises(InputError, match="no samples"):
        load_audio(np.zeros(0, np.float32))


def test_bad_files_give_one_clear_line(clip, tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "notes.wav").write_text("these are my meeting notes, not audio\n" * 20)
    (tmp_path / "cut.wav").write_bytes(clip.read_bytes()[:4000])
    subprocess.run(["sox", str(clip), str(tmp_path / "full.flac")], check=True)
    (tmp_path / "cut.flac").write_bytes((tmp_path / "full.flac").read_bytes()[:-3000])
    cases = {"missing.wav": "no such file", "empty.wav": "empty", "notes.wav": "not an audio file",
             "cut.wav": "truncated", "cut.flac": "truncated"}
    for name, message in cases.items():
        with pytest.raises(InputError, match=message) as e:
            load_audio(tmp_path / name)
        assert "\n" not in str(e.value) and name in str(e.value)
    with pytest.raises(InputError, match="--max-duration"):
        load_audio(clip, max_duration=0.5)
    with pytest.raises(InputError, match="empty"):
        load_audio(b"")
