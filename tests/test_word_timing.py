"""Word timestamps from the batched (fast) path, placed against speech with known silences, and the subtitle
layout options (--max-line-width, --max-line-count, --highlight-words) built on them."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from cli_helpers import llmkit
from speech_fixtures import SPEECH_MARKS, synthesize

from llmkit import pipeline
from llmkit.tasks.transcribe import Segment, Transcription, Word
from llmkit.writers import SubtitleLayout, render

pytestmark = SPEECH_MARKS

PHRASES = ["Good morning everyone.", "The train leaves at noon.", "Please bring the report.",
           "Thank you very much."]
GAPS = [0.7, 2.0, 1.2, 2.6, 1.0]  # seconds of silence before each phrase, and after the last


@pytest.fixture(scope="module")
def timed_clip(tmp_path_factory) -> tuple[Path, list[float]]:
    """Phrases put at known places in silence; returns the clip and where each phrase's speech begins."""
    base = tmp_path_factory.mktemp("timed")
    pieces, onsets, t = [], [], 0.0
    for i, phrase in enumerate(PHRASES):
        audio, _ = sf.read(synthesize(phrase, base / f"p{i}.wav", wpm=150), dtype="float32")
        loud = np.flatnonzero(np.abs(audio) > 0.02)
        audio = audio[loud[0]:loud[-1] + 1]  # trimmed: the phrase's speech starts exactly where it is put
        pieces += [np.zeros(int(GAPS[i] * 16000), np.float32), audio]
        t += GAPS[i]
        onsets.append(t)
        t += len(audio) / 16000
    pieces.append(np.zeros(int(GAPS[-1] * 16000), np.float32))
    path = base / "timed.wav"
    sf.write(path, np.concatenate(pieces), 16000)
    return path, onsets


def test_word_starts_fall_where_the_words_were_put(timed_clip):
    path, onsets = timed_clip
    asr = pipeline("automatic-speech-recognition", batch_size=8, vad=True)  # the batched pipeline
    result = asr(str(path), word_timestamps=True)
    words = result.words
    assert words and all(0 <= w.probability <= 1 for w in words)
    assert all(a.start <= b.start for a, b in zip(words, words[1:]))
    for phrase, onset in zip(PHRASES, onsets):
        first = phrase.split()[0].lower()
        match = [w for w in words if w.word.strip(" .,").lower() == first and abs(w.start - onset) < 1.5]
        assert match, f"{first!r} not heard near {onset:.2f} s: {[(w.word, w.start) for w in words]}"
        assert abs(match[0].start - onset) <= 0.3, (first, match[0].start, onset)


def _result() -> Transcription:
    words = "The quick brown fox jumps over the lazy dog and runs far away".split()
    ws = tuple(Word(i * 0.5, i * 0.5 + 0.4, (" " if i else "") + w, 0.9) for i, w in enumerate(words))
    seg = Segment(1, 0.0, ws[-1].end, " ".join(words), -0.1, 0.0, 1.0, ws)
    return Transcription(seg.text, (seg,), "en", 1.0, ws[-1].end)


def test_line_width_and_count_shape_the_cues():
    vtt = render(_result(), "vtt", SubtitleLayout(max_line_width=16, max_line_count=2))
    cues = [block.split("\n", 1)[1] for block in vtt.split("\n\n")[1:] if block.strip()]
    assert len(cues) >= 2
    for cue in cues:
        lines = cue.strip().split("\n")
        assert len(lines) <= 2 and all(len(line) <= 16 for line in lines), cues
    assert " ".join(" ".join(c.split()) for c in cues) == _result().text


def test_highlight_words_underlines_each_word_in_turn():
    srt = render(_result(), "srt", SubtitleLayout(highlight_words=True))
    underlined = re.findall(r"<u>(\w+)</u>", srt)
    assert underlined == _result().text.split()
    assert srt.count("-->") >= len(underlined)


def test_without_layout_subtitles_stay_per_segment():
    assert render(_result(), "srt").count("-->") == 1


def test_cli_subtitles_with_layout(timed_clip):
    path, _ = timed_clip
    r = llmkit("transcribe", str(path), "--format", "vtt", "--max-line-width", "20", "--highlight-words")
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert out.startswith("WEBVTT") and "<u>" in out
    r = llmkit("transcribe", str(path), "--max-line-width", "20")
    assert r.returncode == 2 and b"add --format srt or vtt" in r.stderr
    r = llmkit("transcribe", str(path), "--format", "srt", "--max-line-count", "0")
    assert r.returncode == 2 and b"--max-line-count must be >= 1" in r.stderr


def test_snap_moves_edges_off_silence_only():
    from llmkit.tasks.word_timing import silent_frames, snap

    audio = np.zeros(16000 * 2, np.float32)
    audio[16000:24000] = 0.5 * np.sin(np.arange(8000) / 5)  # a "word" from 1.0 s to 1.5 s
    silent = silent_frames(audio)
    assert snap(0.6, 1.9, silent) == (1.0, 1.5)       # both edges moved in, onto the sound
    assert snap(1.1, 1.4, silent) == (1.1, 1.4)       # already on sound: unchanged
    assert snap(0.2, 0.5, silent) == (0.2, 0.5)       # all silence: left alone rather than squeezed to nothing
    noisy = audio + 0.2 * np.random.default_rng(0).standard_normal(len(audio)).astype(np.float32)
    assert snap(0.6, 1.9, silent_frames(noisy)) == (0.6, 1.9)  # no silent frames in noise: nothing moves
