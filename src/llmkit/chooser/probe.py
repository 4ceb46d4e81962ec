"""One bench, in its own process: ``python -m llmkit.chooser.probe NAME OUT.json [--prepare]``.

Its own process so that the peak memory measured (VmHWM, the kernel's high-water mark of resident memory) is this
model's alone: the interpreter, the engine's libraries and the weights, and nothing that the caller (a CLI, the web
app with other models loaded) holds. ``bench.py`` starts it and caches what it writes.
"""
from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

# Fixed work, so that figures are comparable between models and runs.
CHAT = [{"role": "user", "content": "Explain in a few sentences why the sky is blue."}]
# The warm-up's prompt shares no prefix with CHAT: llama.cpp reuses a cached prompt prefix, which would hide the
# prefill from first_token_s.
WARM_UP = [{"role": "user", "content": "Hi!"}]
MAX_NEW_TOKENS = 64
SENTENCES = ["The coffee was stale and bitter.", "Great snack, my kids love it!", "Arrived on time, well packed.",
             "Not worth the price at all, the box was half empty and the taste was flat."] * 16
SPEECH = ("Good morning. Thank you all for coming to the meeting today. The train to London leaves from platform "
          "two in ten minutes. Please remember to send me the report before the end of the week.")
MIN_SECONDS = 3.0  # encoders: repeat the batch until this much time is measured (a single batch is too noisy)
PIPELINE_TASK = {"text-generation": "text-generation", "text-classification": "text-classification",
                 "sentence-embeddings": "sentence-embeddings", "feature-extraction": "sentence-embeddings",
                 "automatic-speech-recognition": "automatic-speech-recognition"}


def peak_rss_bytes() -> int:
    """This process's peak resident memory (VmHWM on Linux; ru_maxrss elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss if sys.platform == "darwin" else maxrss * 1024  # macOS reports bytes, Linux kB


def measure(name: str, prepare: bool = False) -> dict[str, Any]:
    """The figures for ``name``; with ``prepare``, only load it (one-time exports happen then), measure nothing."""
    from ..allocator import active
    from ..hub import resolve
    from ..pipelines import pipeline

    ref = resolve(name, build=False)
    task = PIPELINE_TASK.get(ref.task)
    if task is None:
        raise SystemExit(f"llmkit: no bench for task {ref.task!r}")
    baseline = peak_rss_bytes()
    t0 = time.perf_counter()
    pipe = pipeline(task, model=ref)
    if prepare:
        return {"prepared": True}
    out: dict[str, Any] = {"task": ref.task, "load_s": time.perf_counter() - t0, "baseline_rss_bytes": baseline}
    if task == "text-generation":
        out.update(_generation(pipe))
    elif task == "automatic-speech-recognition":
        out.update(_speech(pipe))
    else:
        out.update(_encoder(pipe))
    out["engine"] = _engine_name(pipe)
    out["peak_rss_bytes"] = peak_rss_bytes()
    out["allocator"] = active()
    return out


def _engine_name(pipe: Any) -> str:
    engine = getattr(pipe, "engine", "")
    return engine if isinstance(engine, str) else getattr(engine, "name", type(engine).__name__)


def _generation(pipe: Any) -> dict[str, Any]:
    from ..errors import LlmkitError

    prompt: Any = CHAT
    try:
        pipe.generate(WARM_UP, max_new_tokens=4, temperature=0, seed=0)  # warm-up: pages the weights in
    except (LlmkitError, ValueError):  # a base model without a chat template (e.g. Gemma 3 270M): completions
        prompt = "Explain in a few sentences why the sky is blue. The sky is blue because"
        pipe.generate("Hi!", max_new_tokens=4, temperature=0, seed=0)
    t0 = time.perf_counter()
    stream = pipe.stream(prompt, max_new_tokens=MAX_NEW_TOKENS, temperature=0, seed=0)
    first = None
    for _ in stream:
        if first is None:
            first = time.perf_counter()
    end = time.perf_counter()
    usage = stream.result.usage
    first = first or end
    n = usage.completion_tokens
    # Decode speed after the first token (prefill is in first_token_s), as llama.cpp's own bench reports it.
    tps = (n - 1) / (end - first) if n > 1 and end > first else n / max(end - t0, 1e-9)
    return {"tokens_per_s": tps, "first_token_s": first - t0, "completion_tokens": n,
            "prompt_tokens": usage.prompt_tokens, "total_s": end - t0}


def _encoder(pipe: Any) -> dict[str, Any]:
    pipe(SENTENCES[:4])  # warm-up
    done, t0 = 0, time.perf_counter()
    while True:
        pipe(SENTENCES)
        done += len(SENTENCES)
        elapsed = time.perf_counter() - t0
        if elapsed >= MIN_SECONDS or done >= 20 * len(SENTENCES):
            return {"texts_per_s": done / elapsed, "texts": done, "total_s": elapsed}


def _speech(pipe: Any) -> dict[str, Any]:
    from ..audio import SAMPLE_RATE, load_audio

    audio, source = _speech_clip()
    seconds = len(audio) / SAMPLE_RATE
    pipe(load_audio(audio[: SAMPLE_RATE * 2]), vad=False, max_duration=None)  # warm-up
    t0 = time.perf_counter()
    result = pipe(audio, max_duration=None)
    elapsed = time.perf_counter() - t0
    # RTF: seconds of work per second of audio (lower is faster; 0.1 = ten times real time).
    return {"rtf": elapsed / seconds, "audio_s": seconds, "clip": source, "total_s": elapsed,
            "text": result.text[:200]}


def _speech_clip() -> tuple[np.ndarray, str]:
    """Real (synthetic) speech when espeak-ng is installed (`make` installs it), else a warbling tone: decoding
    cost without words, marked as such in the record."""
    from ..audio import SAMPLE_RATE, load_audio

    if shutil.which("espeak-ng"):
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "speech.wav"
            done = subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(wav), SPEECH],
                                  capture_output=True)
            if done.returncode == 0 and wav.exists():
                return load_audio(str(wav)), "espeak-ng"
    t = np.arange(SAMPLE_RATE * 12) / SAMPLE_RATE
    tone = 0.3 * np.sin(2 * np.pi * (300 + 100 * np.sin(2 * np.pi * 0.5 * t)) * t)
    return tone.astype(np.float32), "tone"


def main(argv: list[str]) -> int:
    from ..errors import LlmkitError

    name, out_path, *flags = argv
    try:
        record = measure(name, prepare="--prepare" in flags)
    except LlmkitError as e:
        print(f"llmkit: error: {e}", file=sys.stderr)
        return e.exit_code
    tmp = Path(out_path).with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2))
    os.replace(tmp, out_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
