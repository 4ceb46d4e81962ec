"""CTC speech models (wav2vec2, HuBERT) on the ``ctc`` engine: tiny random models built from configs (no registry
package ships CTC weights), checking shapes, greedy decoding, frame timestamps, chunking, and the shared result."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("transformers")

from cli_helpers import llmkit  # noqa: E402
from tiny import CTC_VOCAB, make_tiny_ctc  # noqa: E402

from llmkit import pipeline  # noqa: E402
from llmkit.tasks.transcribe import Transcription  # noqa: E402
from llmkit.writers import render  # noqa: E402


@pytest.fixture(scope="module")
def ctc_folder(tmp_path_factory):
    return make_tiny_ctc(tmp_path_factory.mktemp("wav2vec2"))


@pytest.fixture(scope="module")
def hubert_folder(tmp_path_factory):
    return make_tiny_ctc(tmp_path_factory.mktemp("hubert"), "hubert")


@pytest.fixture(scope="module")
def engine(ctc_folder):
    return pipeline("automatic-speech-recognition", model=str(ctc_folder)).backend


def _ids(text_frames: list[str]) -> np.ndarray:
    """Frames named by token ('' = blank)."""
    index = {t: i for i, t in enumerate(CTC_VOCAB)}
    return np.array([index[t] if t else 0 for t in text_frames])


def test_greedy_decoding_collapses_repeats_and_drops_blanks(engine):
    frames = ["", "H", "H", "", "I", "|", "|"] + [""] * 40 + ["Y", "O", "", "O", "|"]  # "HI", a pause, "YOO"
    ids = _ids(frames)
    segs = engine.segments(ids, np.full(len(ids), -0.1), duration=len(ids) * engine.frame_s)
    assert [s.text for s in segs] == ["HI", "YOO"]  # a repeat split by a blank is two letters
    hi, yoo = segs[0].words[0], segs[1].words[0]
    assert hi.start == pytest.approx(1 * engine.frame_s) and hi.end == pytest.approx(5 * engine.frame_s)
    assert yoo.start == pytest.approx(47 * engine.frame_s)
    assert 0 < hi.probability <= 1 and segs[0].avg_logprob == pytest.approx(-0.1, abs=1e-6)


@pytest.mark.parametrize("arch", ["wav2vec2", "hubert"])
def test_pipeline_runs_a_ctc_folder_and_returns_a_transcription(arch, request):
    folder = request.getfixturevalue("ctc_folder" if arch == "wav2vec2" else "hubert_folder")
    asr = pipeline("automatic-speech-recognition", model=str(folder))
    assert asr.engine == "ctc"
    audio = (0.1 * np.random.default_rng(0).standard_normal(16000 * 3)).astype(np.float32)
    result = asr(audio, word_timestamps=True)
    assert isinstance(result, Transcription) and result.duration == pytest.approx(3.0)
    for seg in result.segments:
        assert 0 <= seg.start <= seg.end <= 3.0
        assert all(seg.start <= w.start <= w.end <= seg.end for w in seg.words)
    assert render(result, "srt") is not None and render(result, "json")


def test_long_audio_is_chunked_with_one_frame_per_stride(engine):
    """50 s in 20 s windows: the frames kept cover the audio exactly once (no gap, no overlap)."""
    audio = (0.1 * np.random.default_rng(1).standard_normal(16000 * 50)).astype(np.float32)
    ids, logprobs = engine.frames(audio)
    ratio = engine.model.config.inputs_to_logits_ratio
    assert abs(len(ids) - len(audio) / ratio) <= 3  # each window rounds up to whole frames
    assert len(ids) == len(logprobs) and np.all(logprobs <= 0)


def test_cli_transcribes_with_a_ctc_folder(ctc_folder, tmp_path):
    import soundfile as sf

    sf.write(tmp_path / "x.wav", np.zeros(16000, np.float32), 16000)
    r = llmkit("transcribe", str(tmp_path / "x.wav"), "--model", str(ctc_folder), "--format", "json")
    assert r.returncode == 0, r.stderr
    r = llmkit("transcribe", str(tmp_path / "x.wav"), "--model", str(ctc_folder), "--task", "translate")
    assert r.returncode == 2 and b"CTC models transcribe only" in r.stderr
