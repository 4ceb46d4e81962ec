"""The Transcribe tab: upload or record audio; segments appear as Whisper produces them (the job runs in the
background and the page polls it); a timestamped table; the language; the words Whisper was unsure of marked
(probability under ``UNSURE``, its probability on hover); txt/srt/vtt/json to download."""
from __future__ import annotations

import html
import tempfile
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..tasks.transcribe import Transcription
from ..tasks.transcribe_options import DEFAULT_PRESET, PRESETS
from ..writers import timestamp, write
from .common import UiContext, error_html
from .jobs import Job
from .jobview import attach, status_line

TASK = "automatic-speech-recognition"
UNSURE = 0.5  # a word heard with less probability than this is marked
LANGUAGES = ["auto", "en", "de", "fr", "es", "it", "nl", "pt", "ru", "zh", "ja"]
# (label, preset name) for the Decoding dropdown, from the presets' one table.
DECODING = [(f"{name} (beam {opts['beam_size']})" if opts["beam_size"] > 1 else f"{name} (greedy)", name)
            for name, opts in PRESETS.items()]


def start_job(ctx: UiContext, audio: str | None, model: str, language: str, preset: str = DEFAULT_PRESET,
              mark_unsure: bool = True) -> Job:
    if not audio:
        raise InputError("no audio: upload a file or record from the microphone first.")
    if not model:
        raise InputError("no speech model is installed; get one with `llmkit models pull whisper-tiny.en`.")
    model = ctx.model(model)  # refused now, not in the job
    name = Path(audio).name

    def work(job: Job) -> dict[str, Any]:
        pipe = ctx.pipeline(TASK, model)
        # Timestamp tokens give subtitle-sized segments (see TranscribeOptions.timestamps).
        info, segments = pipe.start(audio, preset=preset or DEFAULT_PRESET, timestamps=True,
                                    word_timestamps=bool(mark_unsure),
                                    language=None if language == "auto" else language)
        job.emit({"event": "info", "language": info.language, "probability": info.language_probability,
                  "duration": info.duration})
        segs = []
        for seg in segments:
            segs.append(seg)
            job.emit({"event": "segment", "start": seg.start, "end": seg.end, "text": seg.text,
                      "words": [[w.word, w.probability] for w in seg.words]})
        result = Transcription.from_segments(info, segs)
        folder = Path(tempfile.mkdtemp(prefix="llmkit-ui-asr-"))
        stem = Path(name).stem or "transcript"
        return {"files": [str(write(result, fmt, folder / f"{stem}.{fmt}")) for fmt in ("txt", "srt", "vtt", "json")]}

    return ctx.jobs.submit("transcribe", work, title=f"Transcribing {name}")


def render(job: Job) -> list:
    status, events, result, error = job.snapshot()
    info = next((e for e in events if e["event"] == "info"), None)
    segs = [e for e in events if e["event"] == "segment"]
    language = f"{info['language']} ({info['probability']:.0%}), {info['duration']:.1f} s of audio" if info else ""
    table = [[timestamp(s["start"]), timestamp(s["end"]), s["text"]] for s in segs]
    text = " ".join(s["text"] for s in segs)
    files = result["files"] if result else None
    return [status_line(job, f"{len(segs)} segment(s)"), text, language, table, files,
            error_html(error) if error else "", unsure_html(segs)]


def unsure_html(segments: list[dict[str, Any]]) -> str:
    """The transcript with the words heard with low probability marked (red, dotted underline; p on hover)."""
    words = [w for s in segments for w in s.get("words") or []]
    if not words:
        return ""
    spans = []
    for word, p in words:
        text = html.escape(word.strip())
        if p < UNSURE:
            spans.append(f'<span class="llmkit-unsure" title="probability {p:.2f}" style="color: #b91c1c; '
                         f'text-decoration: underline dotted">{text}</span>')
        else:
            spans.append(f'<span title="probability {p:.2f}">{text}</span>')
    n = sum(p < UNSURE for _, p in words)
    return (f'<div class="llmkit-explained">{n} of {len(words)} word(s) heard with probability under {UNSURE:g} '
            f'(marked; hover a word for its probability):</div><div>{" ".join(spans)}</div>')


def build(ctx: UiContext, demo) -> None:
    import gradio as gr

    models = ctx.models_for(TASK)
    with gr.Row():
        with gr.Column(scale=2):
            audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Audio", elem_id="asr-audio")
        with gr.Column(scale=1):
            model = gr.Dropdown(models, value=models[0] if models else None, label="Model")
            language = gr.Dropdown(LANGUAGES, value="auto", label="Language", allow_custom_value=True)
            preset = gr.Dropdown(DECODING, value=DEFAULT_PRESET, label="Decoding", elem_id="asr-preset",
                                 info="fast: greedy, quicker, more mistakes")
            mark = gr.Checkbox(True, label="Mark words Whisper was unsure of", elem_id="asr-mark-unsure")
            go = gr.Button("Transcribe", variant="primary", elem_id="asr-run")
    status = gr.Markdown(elem_id="asr-status")
    error = gr.HTML(elem_id="asr-error")
    detected = gr.Textbox(label="Language", interactive=False, elem_id="asr-language")
    transcript = gr.Textbox(label="Transcript", lines=4, interactive=False, elem_id="asr-transcript")
    unsure = gr.HTML(elem_id="asr-unsure")
    table = gr.Dataframe(headers=["start", "end", "text"], label="Segments", interactive=False, wrap=True,
                         elem_id="asr-segments")
    files = gr.File(label="Download: txt, srt, vtt, json", file_count="multiple", interactive=False,
                    elem_id="asr-files")
    attach(ctx, key="transcribe", start=lambda a, m, lang, pre, mk: start_job(ctx, a, m, lang, pre, mk),
           inputs=[audio, model, language, preset, mark],
           outputs=[status, transcript, detected, table, files, error, unsure], render=render, button=go, demo=demo,
           interval=0.5)
