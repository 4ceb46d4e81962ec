"""Batches split across CTranslate2 workers (issue 17 §3): on CPU each batch of VAD chunks is encoded and
beam-searched as two groups at once, on two one-thread workers. The words and times must be those of
faster-whisper's own ``BatchedInferencePipeline`` on the same model and settings (scores within rounding)."""
from __future__ import annotations

import dataclasses

import pytest

from llmkit import pipeline
from llmkit.audio import load_audio
from llmkit.engines import ctranslate2_whisper as ct2w
from llmkit.hub import resolve
from llmkit.tasks.transcribe import TranscribeOptions
from speech_fixtures import SPEECH_MARKS, speech, wer  # noqa: F401 (speech: a fixture)


def on_speech(test):
    """The real-weights tests: slow, and skipped without espeak-ng/sox or whisper-tiny.en (SPEECH_MARKS)."""
    for mark in SPEECH_MARKS:
        test = mark(test)
    return test


def approx_floats(value):
    """``value`` with every float wrapped in ``pytest.approx`` (1e-3 relative, 0.02 s absolute: one frame)."""
    if isinstance(value, dict):
        return {k: approx_floats(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(approx_floats(v) for v in value)
    return pytest.approx(value, rel=1e-3, abs=0.02) if isinstance(value, float) else value


def test_groups_balance_work_and_keep_every_chunk_once():
    # seven chunks as VAD packs a 3-minute clip: six nearly full, one short
    durations = [29.1, 27.5, 28.0, 26.2, 29.8, 24.9, 6.0]
    groups = ct2w.balanced_groups(durations, 2)
    assert sorted(i for g in groups for i in g) == list(range(7))
    assert all(g == sorted(g) for g in groups)
    assert sorted(len(g) for g in groups) == [3, 4]
    assert 6 in max(groups, key=len)  # the short chunk goes with the larger group
    assert ct2w.balanced_groups([10.0], 2) == [[0]]  # one chunk: nothing to split
    assert ct2w.balanced_groups([], 2) == []


def test_worker_split():
    assert ct2w.worker_split("cpu", 2) == (2, 1)
    assert ct2w.worker_split("cpu", 8) == (2, 4)
    assert ct2w.worker_split("cpu", 1) == (1, 1)  # one thread: nothing to split
    assert ct2w.worker_split("cuda", 8) == (1, 8)  # a GPU runs the whole batch at once
    workers, threads = ct2w.worker_split("cpu", 0)  # CTranslate2's default of 4 threads, split
    assert workers * threads <= 4 and threads >= 1


@on_speech
@pytest.mark.parametrize("word_timestamps", [False, True], ids=["text", "words"])
def test_split_batches_give_faster_whispers_segments(speech, word_timestamps):
    """The long clip (several 30 s chunks, so the batch is split) through llmkit's split pipeline and through
    faster-whisper's ``BatchedInferencePipeline``, on the same two-worker model: identical segments."""
    from faster_whisper import BatchedInferencePipeline

    model = ct2w.load(resolve("whisper-tiny.en").path, cpu_threads=1, workers=2)
    audio = load_audio(speech["long"])
    options = TranscribeOptions(word_timestamps=word_timestamps)
    _, ours = ct2w.transcribe(model, audio, options)
    ours = list(ours)
    theirs, _ = BatchedInferencePipeline(model).transcribe(
        audio, batch_size=8, beam_size=5, best_of=5, word_timestamps=word_timestamps, language="en",
        temperature=[0.0], no_speech_threshold=0.6, log_prob_threshold=-1.0, compression_ratio_threshold=2.4)
    theirs = list(theirs)
    assert len(ours) >= 4  # the clip filled more than two chunks: both workers had work
    # Same words and times; floats (scores, probabilities) within a tolerance: CTranslate2's fp32 parts may round
    # differently for a batch of 4 than of 7 on another CPU (AVX2 vs AVX-512), which is not what is promised here.
    assert [approx_floats(dataclasses.asdict(s)) for s in ours] == [dataclasses.asdict(s) for s in theirs]
    if word_timestamps:
        assert all(s.words for s in ours)


@on_speech
def test_pipeline_runs_two_workers_batched_and_sequential(speech):
    asr = pipeline("automatic-speech-recognition", cpu_threads=2)
    assert asr.backend.model.model.num_workers == 2
    path, reference = speech["short"][0]
    batched, sequential = asr(path), asr(path, batch_size=1, vad=False)
    assert wer(reference, batched.text) <= 0.2 and wer(reference, sequential.text) <= 0.2
