"""Whisper on CTranslate2 through faster-whisper: int8 on CPU by default, batched long-form decoding.

``CTranslate2Whisper.from_ref(ref, options)`` is the engine (the ``SpeechEngine`` contract of ``speech.py``);
``load(path)`` builds a ``faster_whisper.WhisperModel``; ``transcribe(model, audio, options)`` yields
``(info, raw segments)``. A transformers-format Whisper folder is converted to CTranslate2 once, on first
use, and cached under ``LLMKIT_HOME/cache/ct2/`` (``ensure_ctranslate2``).

>>> from llmkit.hub import resolve
>>> from llmkit.engines import ctranslate2_whisper as ct2w
>>> model = ct2w.load(resolve("whisper-tiny.en").path)   # doctest: +SKIP
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import EngineUnavailableError, InputError, ModelNotFoundError
from ..hub import ModelRef, home
from .speech import RawInfo


class CTranslate2Whisper:
    """The default speech engine: a ``WhisperModel`` (a transformers-format folder is converted once).

    On CPU the model runs as two CTranslate2 workers of half the threads each (``worker_split``): the batched
    path splits every batch between them; a single window (sequential mode, a short clip) runs on one."""

    name = "ctranslate2"

    def __init__(self, model: Any):
        self.model = model

    @classmethod
    def from_ref(cls, ref: ModelRef, options: Any) -> "CTranslate2Whisper":
        path = ref.path if ref.format == "ctranslate2" else ensure_ctranslate2(ref.path, home() / "cache")
        device = ct2_device(options.device)
        workers, threads = worker_split(device, options.cpu_threads)
        return cls(load(path, device=device, compute_type=options.compute_type, cpu_threads=threads,
                        workers=workers))

    def transcribe(self, audio: np.ndarray, options: Any) -> tuple[RawInfo, Iterator[Any]]:
        return transcribe(self.model, audio, options)

    def detect_language(self, audio: np.ndarray) -> tuple[str, float, list[tuple[str, float]]]:
        return detect_language(self.model, audio)


def _faster_whisper():
    try:
        import faster_whisper
    except ImportError as e:
        raise EngineUnavailableError("speech-to-text needs faster-whisper: `pip install 'llmkit[asr]'`.") from e
    return faster_whisper


def load(path: Path, *, device: str = "cpu", compute_type: str = "int8", cpu_threads: int = 0, workers: int = 1):
    """A ``WhisperModel`` on ``path`` (a CTranslate2 folder): ``workers`` CTranslate2 replicas (sharing the
    weights) of ``cpu_threads`` threads each; ``cpu_threads=0`` is CTranslate2's default (4, or fewer cores)."""
    fw = _faster_whisper()
    if device == "auto":
        device = "cuda" if _has_cuda() else "cpu"
    if compute_type == "auto":
        compute_type = "int8" if device == "cpu" else "int8_float16"
    try:
        return fw.WhisperModel(str(path), device=device, compute_type=compute_type, cpu_threads=cpu_threads,
                               num_workers=workers)
    except (RuntimeError, ValueError) as e:
        raise ModelNotFoundError(f"cannot load the CTranslate2 Whisper model in {path}: {e}") from None


def ct2_device(device: str) -> str:
    """``--device`` for CTranslate2: cpu or cuda (``auto``: cuda when CTranslate2 sees one); mps, or cuda without
    a GPU, is one line naming the fix."""
    if device == "mps":
        raise InputError("--device mps: CTranslate2 (faster-whisper) has no Metal backend; use --device cpu (the "
                         "torch engine, pipeline(..., engine='torch'), runs on mps).")
    if device == "auto":
        return "cuda" if _has_cuda() else "cpu"
    if device == "cuda" and not _has_cuda():
        raise InputError("--device cuda: CTranslate2 sees no CUDA GPU; use --device cpu (or auto).")
    return device


def _has_cuda() -> bool:
    try:
        import ctranslate2

        return ctranslate2.get_cuda_device_count() > 0
    except Exception:
        return False


def is_multilingual(model) -> bool:
    return bool(model.model.is_multilingual)


def transcribe(model, audio: np.ndarray, options: Any) -> tuple[RawInfo, Iterator[Any]]:
    """Run Whisper over ``audio`` (16 kHz mono float32). Batched decoding when ``options.batch_size > 1``.

    ``options`` is a ``llmkit.tasks.transcribe.TranscribeOptions``; faster-whisper's keyword arguments are
    built here, in one place.
    """
    fw = _faster_whisper()
    language = None if options.language in (None, "auto") else options.language
    if language and language != "en" and not is_multilingual(model):
        raise InputError(f"--language {language}: this model is English-only; use --model whisper-base.")
    if options.task == "translate" and not is_multilingual(model):
        raise InputError("--task translate needs a multilingual model; use --model whisper-base.")
    common = dict(
        language=language,
        task=options.task,
        beam_size=options.beam_size,
        best_of=options.beam_size,
        word_timestamps=options.word_timestamps,
        initial_prompt=options.initial_prompt,
        no_repeat_ngram_size=options.no_repeat_ngram_size,
        log_prob_threshold=options.log_prob_threshold,
        no_speech_threshold=options.no_speech_threshold,
        compression_ratio_threshold=options.compression_ratio_threshold,
        vad_filter=options.vad,
        vad_parameters=_vad_parameters(options),
    )
    if is_batched(audio, options):
        pipe = _split_pipeline(fw)(model)
        segments, info = pipe.transcribe(
            audio, batch_size=options.batch_size, without_timestamps=not options.timestamps,
            temperature=options.temperature[:1], chunk_length=options.chunk_length, **common)
    else:  # sequential: 30 s windows in turn, with temperature fallback (VAD off needs this on long audio)
        segments, info = model.transcribe(
            audio, temperature=list(options.temperature), without_timestamps=options.timestamps is False,
            condition_on_previous_text=options.condition_on_previous_text,
            chunk_length=options.chunk_length, **common)
    return RawInfo(info.language, float(info.language_probability), float(info.duration)), segments


def is_batched(audio: np.ndarray, options: Any) -> bool:
    """VAD chunks decoded in batches; otherwise 30 s windows in turn (VAD off on long audio needs that)."""
    return options.batch_size > 1 and (options.vad or len(audio) <= 30 * 16000)


def worker_split(device: str, cpu_threads: int) -> tuple[int, int]:
    """(CTranslate2 workers, threads each): on CPU, two workers of half the threads.

    Why: Whisper's decoder steps are small matrix products (a few dozen beam hypotheses by a few hundred
    dimensions) that threads share badly, and a thread that waits for a descheduled sibling stalls the step.
    Measured here (whisper-tiny.en, one 25 s window, 2 cores, busy machine): one thread 2.2 s every time, two
    threads 2.1 s at best and 6-10 s usually. So two one-thread workers, each decoding half of a batch, keep
    both cores busy, and a lone window loses nothing by running on one of them. ``cpu_threads=0`` splits
    CTranslate2's default of 4 threads (fewer on smaller machines)."""
    total = cpu_threads or min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else
                               (os.cpu_count() or 1))
    if device != "cpu" or total < 2:
        return 1, cpu_threads
    return 2, total // 2


def balanced_groups(durations: list[float], workers: int) -> list[list[int]]:
    """The chunk indices split into ``workers`` groups of about equal work, longest chunk first to the least
    loaded group. A chunk costs one encoder pass (fixed: every chunk is padded to 30 s) plus decoding in
    proportion to its speech (the profile of a 3-minute clip: encoder and decoder about equal on full chunks)."""
    groups: list[list[int]] = [[] for _ in range(min(workers, len(durations)))]
    loads = [0.0] * len(groups)
    for i in sorted(range(len(durations)), key=lambda i: -durations[i]):
        k = loads.index(min(loads))
        groups[k].append(i)
        loads[k] += 1.0 + durations[i] / 30.0
    return [sorted(g) for g in groups if g]


@functools.lru_cache(maxsize=1)
def _split_pipeline(fw):
    """faster-whisper's ``BatchedInferencePipeline`` with each batch's encoder pass and beam search split across
    the model's CTranslate2 workers, the groups running at once. Each chunk is decoded on its own in a batch
    (same features, same prompt), so the words are those of the unsplit batch; word timestamps are aligned
    afterwards, in order, on the whole batch's encoder output, as faster-whisper does."""
    from concurrent.futures import ThreadPoolExecutor

    class SplitBatchedPipeline(fw.BatchedInferencePipeline):
        def forward(self, features, tokenizer, chunks_metadata, options):
            self._durations = [float(m["duration"]) for m in chunks_metadata]
            return super().forward(features, tokenizer, chunks_metadata, options)

        def generate_segment_batched(self, features, tokenizer, options):
            groups = balanced_groups(self._durations, self.model.model.num_workers)
            if len(groups) < 2:
                return super().generate_segment_batched(features, tokenizer, options)
            run = super().generate_segment_batched
            with ThreadPoolExecutor(len(groups)) as pool:  # CTranslate2 releases the GIL: the groups overlap
                parts = list(pool.map(lambda g: run(features[g], tokenizer, options), groups))
            outputs: list[Any] = [None] * len(features)
            for group, (_, out) in zip(groups, parts):
                for i, o in zip(group, out):
                    outputs[i] = o
            encoder_output = None
            if options.word_timestamps:  # the alignment reads every chunk's encoder output, in batch order
                import ctranslate2

                first = np.asarray(parts[0][0])
                whole = np.empty((len(features), *first.shape[1:]), first.dtype)
                for group, (enc, _) in zip(groups, parts):
                    whole[group] = np.asarray(enc)
                encoder_output = ctranslate2.StorageView.from_array(whole)
            return encoder_output, outputs

    return SplitBatchedPipeline


def _vad_parameters(options: Any) -> dict[str, Any] | None:
    """Only what the user set: each faster-whisper mode has its own tuned VAD defaults."""
    if not options.vad:
        return None
    params = {"min_silence_duration_ms": options.vad_min_silence_ms, "speech_pad_ms": options.vad_speech_pad_ms}
    return {k: v for k, v in params.items() if v is not None} or None


def detect_language(model, audio: np.ndarray) -> tuple[str, float, list[tuple[str, float]]]:
    """The most likely language of the first 30 s of speech, its probability, and all candidates."""
    if not is_multilingual(model):
        return "en", 1.0, [("en", 1.0)]
    language, probability, candidates = model.detect_language(audio, vad_filter=True)
    return language, float(probability), [(str(lang), float(p)) for lang, p in candidates]


# ---------------------------------------------------------------------------------------------- conversion

def ensure_ctranslate2(path: Path, cache_root: Path, *, quantization: str = "int8") -> Path:
    """A CTranslate2 copy of the transformers Whisper model in ``path``, converted once and cached.

    The cache key hashes the folder's config and weight file sizes and mtimes, so an edited model is
    converted again. Conversion needs torch and transformers (the ``torch`` extra).
    """
    key = _fingerprint(path)
    target = cache_root / "ct2" / f"{path.name}-{key}"
    if (target / "model.bin").exists():
        return target
    try:
        import ctranslate2.converters as conv
    except ImportError as e:
        raise EngineUnavailableError("converting a transformers Whisper needs ctranslate2: "
                                     "`pip install 'llmkit[asr]'`.") from e
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".convert-"))
    try:
        files = [f for f in ("tokenizer.json", "preprocessor_config.json") if (path / f).exists()]
        converter = conv.TransformersConverter(str(path), copy_files=files, low_cpu_mem_usage=True)
        converter.convert(str(tmp / "model"), quantization=quantization, force=True)
        os.replace(tmp / "model", target)
    except ImportError as e:
        raise EngineUnavailableError(f"converting {path} needs torch and transformers: "
                                     "`pip install 'llmkit[torch]'`.") from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _fingerprint(path: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(path.iterdir()):
        if f.is_file():
            st = f.stat()
            h.update(json.dumps([f.name, st.st_size, st.st_mtime_ns]).encode())
    return h.hexdigest()[:12]
