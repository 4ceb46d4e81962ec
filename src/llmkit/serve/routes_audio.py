"""``/v1/audio/transcriptions`` and ``/v1/audio/translations``: multipart upload in, OpenAI's formats out
(json, text, srt, vtt, verbose_json), over ``SpeechRecognitionPipeline.start``. Decoding and recognition run on
the speech model's worker thread; decoding stops at ``--max-audio-seconds`` (a small file that decodes to hours
is refused after decoding the limit, not the hours)."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import PlainTextResponse

from ..audio import AudioTooLongError, load_audio
from ..errors import InputError, LlmkitError
from ..task_table import get
from ..tasks.transcribe_options import DEFAULT_PRESET, PRESETS
from ..writers import render
from .deps import client_id, require_key, server
from .errors import APIError, from_llmkit, invalid, openapi_errors
from .queues import wait

router = APIRouter(dependencies=[Depends(require_key)], responses=openapi_errors())
TASK = get("automatic-speech-recognition")  # the task these routes serve; its default models (llmkit.task_table)

Format = Literal["json", "text", "srt", "vtt", "verbose_json"]
Granularity = Literal["word", "segment"]
Preset = Literal[tuple(PRESETS)]  # type: ignore[valid-type]  # the presets' one table (TranscribeOptions)
PRESET_HELP = (f"llmkit's decoding preset (not in OpenAI's API; the openai SDK sends it with extra_body): "
               f"{DEFAULT_PRESET} (beam {PRESETS[DEFAULT_PRESET]['beam_size']}, the default) or fast (greedy)")
# Whisper's language codes -> the names OpenAI's verbose_json uses (the common ones; others stay codes).
LANGUAGE_NAMES = {"en": "english", "de": "german", "fr": "french", "es": "spanish", "it": "italian",
                  "pt": "portuguese", "nl": "dutch", "ru": "russian", "zh": "chinese", "ja": "japanese",
                  "ko": "korean", "ar": "arabic", "hi": "hindi", "pl": "polish", "tr": "turkish", "sv": "swedish"}


@router.post("/v1/audio/transcriptions", tags=["OpenAI"], summary="Speech to text")
async def transcriptions(
    request: Request,
    file: Annotated[UploadFile, File(description="Audio: wav, flac, mp3, ogg, m4a, webm, ...")],
    model: Annotated[str, Form(max_length=1024)] = TASK.model_for("/v1/audio/transcriptions"),
    language: Annotated[str | None, Form(max_length=16)] = None,
    prompt: Annotated[str | None, Form(max_length=4096)] = None,
    response_format: Annotated[Format, Form()] = "json",
    temperature: Annotated[float, Form(ge=0, le=1)] = 0.0,
    timestamp_granularities: Annotated[list[Granularity] | None, Form(alias="timestamp_granularities[]")] = None,
    preset: Annotated[Preset, Form(description=PRESET_HELP)] = DEFAULT_PRESET,
):
    return await _recognise(request, file, "transcribe", model, language, prompt, response_format, temperature,
                            timestamp_granularities, preset)


@router.post("/v1/audio/translations", tags=["OpenAI"], summary="Speech in any language to English text")
async def translations(
    request: Request,
    file: Annotated[UploadFile, File(description="Audio: wav, flac, mp3, ogg, m4a, webm, ...")],
    model: Annotated[str, Form(max_length=1024, description="A multilingual Whisper")] = TASK.model_for(
        "/v1/audio/translations"),
    prompt: Annotated[str | None, Form(max_length=4096)] = None,
    response_format: Annotated[Format, Form()] = "json",
    temperature: Annotated[float, Form(ge=0, le=1)] = 0.0,
    preset: Annotated[Preset, Form(description=PRESET_HELP)] = DEFAULT_PRESET,
):
    return await _recognise(request, file, "translate", model, None, prompt, response_format, temperature, None,
                            preset)


async def _recognise(request: Request, file: UploadFile, task: str, model: str, language: str | None,
                     prompt: str | None, fmt: str, temperature: float, granularities: list[str] | None,
                     preset: str):
    s = server(request)
    words = "word" in (granularities or [])
    if words and fmt != "verbose_json":
        raise invalid("timestamp_granularities needs response_format=verbose_json.", param="timestamp_granularities")
    data = await file.read()
    if not data:
        raise invalid("the uploaded file is empty; send an audio file.", param="file")
    overrides: dict[str, Any] = {"preset": preset, "task": task, "word_timestamps": words,
                                 "initial_prompt": prompt or None}
    if language:
        overrides["language"] = language
    if temperature > 0:
        overrides["temperature"] = (temperature,)
    ref, queue = await s.pool.queue(TASK.name, model)
    limit = s.settings.max_audio_seconds
    name = file.filename or "the upload"

    def job(pipe: Any):
        try:
            samples = load_audio(data, name=name, max_duration=limit)
        except AudioTooLongError as e:
            length = f"over {limit:g} s" if e.partial else f"{e.seconds:.0f} s"
            raise APIError(400, f"{name} is {length} long, over this server's limit of {limit:g} s "
                                "(--max-audio-seconds); split it.", param="file", code="audio_too_long") from None
        except InputError as e:
            raise APIError(400, str(e), param="file", code="invalid_audio") from None
        return pipe(samples, **overrides)

    try:
        result = await wait(queue.submit(client_id(request), job))
    except LlmkitError as e:
        raise from_llmkit(e) from None
    return _format(result, fmt, words)


def _format(result: Any, fmt: str, words: bool):
    if fmt == "json":
        return {"text": result.text}
    if fmt == "text":
        return PlainTextResponse(result.text + "\n")
    if fmt in ("srt", "vtt"):
        return PlainTextResponse(render(result, fmt), media_type="text/vtt" if fmt == "vtt" else "text/plain")
    out: dict[str, Any] = {
        "task": result.task, "language": LANGUAGE_NAMES.get(result.language, result.language),
        "duration": result.duration, "text": result.text,
        "segments": [{"id": seg.id - 1, "seek": 0, "start": seg.start, "end": seg.end, "text": seg.text, "tokens": [],
                      "temperature": 0.0, "avg_logprob": seg.avg_logprob,
                      "compression_ratio": seg.compression_ratio, "no_speech_prob": seg.no_speech_prob}
                     for seg in result.segments],
    }
    if words:
        out["words"] = [{"word": w.word.strip(), "start": w.start, "end": w.end, "probability": w.probability}
                        for w in result.words]  # probability: llmkit's addition (OpenAI's words have none)
    return out
