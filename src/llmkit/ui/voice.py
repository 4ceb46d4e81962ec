"""Voice in the Chat tab: a recording is transcribed (Whisper), answered (the chat model, streamed) and the answer
spoken (Piper); and a button that speaks the last answer of a typed chat. The models are the tasks' defaults."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import gradio as gr  # only the web app imports this module
import numpy as np

from ..errors import InputError
from ..task_table import get
from .common import UiContext, error_html

ASR, TTS = "automatic-speech-recognition", "text-to-speech"


def transcribe(ctx: UiContext, audio_path: str | None) -> str:
    if not audio_path:
        raise InputError("no recording: press Record, speak, then Stop (or upload an audio file).")
    asr = ctx.pipeline(ASR, get(ASR).default_model)
    text = asr(audio_path).text.strip()
    if not text:
        raise InputError("the recording sounds silent: nothing was heard. Speak closer to the microphone and try "
                         "again.")
    return text


def speak(ctx: UiContext, text: str) -> tuple[int, np.ndarray]:
    """(sample rate, int16 samples), the numpy form gr.Audio plays."""
    if not text.strip():
        raise InputError("there is no answer to speak yet.")
    tts = ctx.pipeline(TTS, get(TTS).default_model)
    speech = tts(text)
    return speech.sampling_rate, (np.clip(speech.audio, -1, 1) * 32767).astype(np.int16)


def last_answer(history: list[dict[str, Any]], text_of) -> str:
    for message in reversed(history or []):
        if message.get("role") == "assistant":
            return text_of(message["content"])
    return ""


def voice_turn(ctx: UiContext, respond, stop: threading.Event, audio_path: str | None, model: str,
               history: list[dict[str, Any]], system: str, options: dict[str, Any],
               text_of) -> Iterator[tuple[Any, Any, str, str, Any]]:
    """Yield (heard text, history, stats, error, spoken answer) through the turn: heard, answered, spoken."""
    history = list(history or [])
    try:
        heard = transcribe(ctx, audio_path)
    except Exception as e:  # noqa: BLE001 - shown in the page, one line
        yield "", history, "", error_html(e), None
        return
    history.append({"role": "user", "content": heard})
    yield heard, history, "transcribed; answering…", "", None
    stats = error = ""
    for history, stats, error in respond(ctx, stop, model, history, system, options):
        yield heard, history, stats, error, None
    if error:
        return
    try:
        yield heard, history, stats, "", speak(ctx, last_answer(history, text_of))
    except Exception as e:  # noqa: BLE001
        yield heard, history, stats, error_html(e), None


def build(ctx: UiContext, sessions: Any, settings: list, chatbot: Any, stats: Any, error: Any) -> None:
    """The voice row under the chat: record (or upload) a question, hear the answer; speak the last answer.
    ``settings`` are the chat's inputs (model, history, system prompt, sampling controls), as its Send button uses."""
    from .chat import respond, sampling, text_of

    with gr.Row():
        voice_in = gr.Audio(sources=["microphone", "upload"], type="filepath", elem_id="chat-voice-in",
                            label="Voice chat: record a question; the answer is spoken back")
        voice_out = gr.Audio(label="Spoken answer", autoplay=True, interactive=False, elem_id="chat-voice-out")
    speak_btn = gr.Button("Speak the last answer", elem_id="chat-speak")

    def run_voice(audio, m, history, sys_prompt, temp, tp, tk, rep, mx, sd, request: gr.Request):
        flag = sessions.start(request.session_hash or "")
        for _, hist, st, err, spoken in voice_turn(ctx, respond, flag, audio, m, history, sys_prompt,
                                                   sampling(temp, tp, tk, rep, mx, sd), text_of):
            yield hist, st, err, spoken

    def speak_last(history):
        try:
            return speak(ctx, last_answer(history, text_of)), ""
        except Exception as e:  # noqa: BLE001 - one line in the page
            return None, error_html(e)

    outputs = [chatbot, stats, error, voice_out]
    voice_in.stop_recording(run_voice, [voice_in, *settings], outputs)
    voice_in.upload(run_voice, [voice_in, *settings], outputs)
    speak_btn.click(speak_last, chatbot, [voice_out, error])
