"""Speech-to-text benchmark: one run, same audio, same weights, anchors and llmkit side by side.

    .venv/bin/python bench/asr.py                     # ~3 min multi-voice espeak-ng clip, whisper-tiny.en, 2 threads
    .venv/bin/python bench/asr.py --seconds 60 --repeat 2
    .venv/bin/python bench/asr.py --hf-model DIR      # adds the transformers pipeline anchor (HF-format weights)

Prints real-time factor (processing seconds / audio seconds; lower is faster) and WER per system, and the
ratios to faster-whisper's BatchedInferencePipeline, the fastest anchor. Real read speech cannot be fetched
offline, so the audio is synthesised with espeak-ng (tests/speech_fixtures.py); espeak's formant voices are
harder for Whisper than people are, so WERs here are higher than on real speech.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from speech_fixtures import long_form, wer  # noqa: E402


def _timed(fn, repeat: int) -> tuple[float, str]:
    best, text = float("inf"), ""
    for _ in range(repeat):
        t = time.perf_counter()
        text = fn()
        best = min(best, time.perf_counter() - t)
    return best, text


def systems(audio, model_path: Path, threads: int, hf_model: str | None):
    """(name, callable -> text). All get the decoded 16 kHz array, so decoding is not timed for anyone."""
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    from llmkit import pipeline

    fw = WhisperModel(str(model_path), device="cpu", compute_type="int8", cpu_threads=threads)
    batched = BatchedInferencePipeline(fw)
    list(fw.transcribe(audio[: 5 * 16000])[0])  # warm-up: page the weights in before anything is timed

    def fw_text(segments_info):
        return " ".join(s.text for s in segments_info[0])

    out = []
    if hf_model:
        out.append(("transformers pipeline fp32, chunked (anchor)", _hf(hf_model, audio, threads)))
    out += [
        ("faster-whisper sequential, defaults (beam 5)", lambda: fw_text(fw.transcribe(audio))),
        ("faster-whisper batched, defaults (bs 8, beam 5)", lambda: fw_text(batched.transcribe(audio, batch_size=8))),
        ("faster-whisper batched, bs 8, beam 1", lambda: fw_text(batched.transcribe(audio, batch_size=8, beam_size=1))),
    ]
    asr = pipeline("automatic-speech-recognition", model=str(model_path), cpu_threads=threads)
    out += [
        ("llmkit default (bs 8, beam 1)", lambda: asr(audio).text),
        ("llmkit with timestamps (what --format srt uses)", lambda: asr(audio, timestamps=True).text),
        ("llmkit --beam-size 5", lambda: asr(audio, beam_size=5).text),
        ("llmkit bs 16, beam 1", lambda: asr(audio, batch_size=16).text),
        ("llmkit sequential (bs 1, beam 1)", lambda: asr(audio, batch_size=1).text),
    ]
    return out


def _hf(model_dir: str, audio, threads: int):
    import torch
    from transformers import pipeline as hf_pipeline

    torch.set_num_threads(threads)
    pipe = hf_pipeline("automatic-speech-recognition", model=model_dir, device="cpu", dtype=torch.float32)
    return lambda: pipe({"raw": audio, "sampling_rate": 16000}, chunk_length_s=30, batch_size=1)["text"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="whisper-tiny.en")
    p.add_argument("--seconds", type=float, default=180.0, help="length of the synthesised clip")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=1, help="best of N runs per system")
    p.add_argument("--hf-model", help="a transformers-format folder of the same weights, for the HF anchor")
    args = p.parse_args()

    from llmkit.audio import duration_of, load_audio
    from llmkit.hub import resolve

    ref = resolve(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        path, reference = long_form(Path(tmp) / "long.wav", args.seconds)
        audio = load_audio(path)
    duration = duration_of(audio)
    print(f"audio: {duration:.1f} s of espeak-ng speech, {len(reference.split())} words, 5 voices; model "
          f"{ref.name} (int8 CTranslate2); {args.threads} threads; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores visible; best of {args.repeat}")
    rows = []
    for name, fn in systems(audio, ref.path, args.threads, args.hf_model):
        fn() if args.repeat > 1 else None  # warm-up only when repeating (first call pays page-in costs)
        seconds, text = _timed(fn, args.repeat)
        rows.append((name, seconds / duration, wer(reference, text)))
        print(f"  {name:50s} RTF {rows[-1][1]:.3f}  WER {rows[-1][2]:.3f}", flush=True)
    anchor = next(r for r in rows if r[0].startswith("faster-whisper batched, defaults"))
    print(f"\nratio to faster-whisper batched (defaults): RTF x, WER")
    for name, rtf, w in rows:
        print(f"  {name:50s} {rtf / anchor[1]:.2f}x  {w:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
