"""The inputs that the docs' command lines name (tests/test_docs_commands.py runs the lines): small text, CSV,
JSONL and YAML files, speech in every format the docs show (espeak-ng + sox, PyAV for mp3, m4a and webm), and links
to prepared models."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

from speech_fixtures import synthesize

TALK = "Good morning. Thank you all for coming to the meeting today."
_TEXTS = ["I love this tea", "Stale and bitter", "Great value, will buy again", "The box arrived crushed",
          "Lovely flavour", "Tastes like cardboard", "Perfect with milk", "Never again"]


def _rows(n: int = 24) -> list[tuple[str, int]]:
    return [(f"{_TEXTS[i % len(_TEXTS)]} ({i})", i % 2) for i in range(n)]


def _csv(header: str, rows: list[str]) -> str:
    return "\n".join([header, *rows]) + "\n"


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


_TASKS_YAML = """\
model: all-minilm-l6-v2
epochs: 1
max_length: 32
tasks:
  - {name: sentiment, train: data.jsonl, eval: data.jsonl}
  - {name: topic, train: data.csv, eval: data.csv, text_column: body, label_column: topic}
"""
_RUN_YAML = "model: all-minilm-l6-v2\ntrain: data.jsonl\neval_split: 0.25\noutput: runs/from-config\nepochs: 1\n"

# The inputs the docs name: file name -> its text, or ("audio", format) for speech made with espeak-ng + sox,
# or ("link", target) for a model the docs point at. Folders end in "/".
INPUTS: dict[str, object] = {
    "reviews.csv": _csv("text,stars", [f'"{t}",{1 + 4 * y}' for t, y in _rows(6)]),
    "ratings.csv": _csv("text,stars", [f'"{t}",{1 + 4 * y}' for t, y in _rows()]),
    "data.csv": _csv("body,topic", [f'"{t}",{"food" if y else "post"}' for t, y in _rows()]),
    "dev.csv": _csv("body,topic", [f'"{t}",{"food" if y else "post"}' for t, y in _rows()]),
    "test.csv": _csv("body,topic", [f'"{t}",{"food" if y else "post"}' for t, y in _rows()]),
    "data.jsonl": _jsonl([{"text": t, "label": ["NEGATIVE", "POSITIVE"][y]} for t, y in _rows()]),
    "tags.jsonl": _jsonl([{"text": t, "tags": ["tea", "gift"][: 1 + y]} for t, y in _rows()]),
    "tasks.yaml": _TASKS_YAML,
    "prompts.txt": "What is the capital of France?\nName a colour.\n",
    "run.yaml": _RUN_YAML,
    "notes.txt": "Notes for the meeting. Bring the report.\n",
    "talk.wav": ("audio", "wav"), "talk.mp3": ("audio", "mp3"), "talk.flac": ("audio", "flac"),
    "meeting.wav": ("audio", "wav"), "meeting.flac": ("audio", "flac"),
    "a.wav": ("audio", "wav"), "b.flac": ("audio", "flac"), "c.m4a": ("audio", "m4a"),
    "interview.ogg": ("audio", "ogg"), "rede.webm": ("audio", "webm"),
    "long.wav": ("audio", "wav"), "short.wav": ("audio", "wav"), "huge.wav": ("audio", "wav"),
    "lecture.mp3": ("audio", "mp3"),
    "recordings/one.wav": ("audio", "wav"), "recordings/two.flac": ("audio", "flac"),
    "calls/monday.wav": ("audio", "wav"), "calls/broken.wav": "not audio\n",  # the docs' own error example
    "clips/x.wav": ("audio", "wav"), "clips/x.txt": TALK + "\n",  # docs/evals.md: the asr suite's layout
    "my-model.gguf": ("link", "smollm2-135m-instruct"),
    "runs/my-classifier": ("link", "minilm-sentiment"),
}


def _encode(wav: Path, out: Path) -> None:
    """Any format the docs name: sox writes wav/flac/ogg; PyAV (faster-whisper's decoder) writes the rest."""
    if out.suffix in (".wav", ".flac", ".ogg"):
        subprocess.run(["sox", str(wav), str(out)], check=True, capture_output=True)
        return
    import av
    import soundfile as sf

    samples, rate = sf.read(str(wav), dtype="float32")
    codec = {".mp3": "libmp3lame", ".m4a": "aac", ".webm": "libopus"}[out.suffix]
    rate_out = 48000 if codec == "libopus" else rate
    with av.open(str(out), "w", format={".m4a": "mp4"}.get(out.suffix)) as container:
        stream = container.add_stream(codec, rate=rate_out)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = rate
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=rate_out)
        for f in resampler.resample(frame) + resampler.resample(None):
            for packet in stream.encode(f):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def _model_path(name: str) -> Path:
    from llmkit.hub import resolve

    return resolve(name).path


def make_inputs(src: Path) -> Path:
    """Write every input of INPUTS under ``src``; return it."""
    spoken = synthesize(TALK, src / ".spoken.wav")
    for name, what in INPUTS.items():
        path = src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(what, str):
            path.write_text(what)
        elif what[0] == "audio":
            _encode(spoken, path)
        else:
            path.symlink_to(_model_path(what[1]))
    return src
