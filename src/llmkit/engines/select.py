"""Which engine runs a model, for every family: ``engine="auto"`` picks the fastest installed engine that can
serve it; a named engine is checked against the model's format, and a missing one names the package to install.

- encoders (classification, embeddings): ``encoder_backend`` -> ``EncoderBackend`` (``encoder.py``)
- text generation: ``text_engine`` -> ``TextEngine`` (``decoding.py``)
- speech-to-text: ``speech_engine`` -> ``SpeechEngine`` (``speech.py``)
- text-to-speech: ``synthesis_engine`` -> ``SynthesisEngine`` (``speech.py``)

Engine modules are imported here, lazily, only once chosen: each needs its own extra.
"""
from __future__ import annotations

import importlib.util
import sys
from typing import Any

from ..errors import EngineUnavailableError, InputError
from ..hub import ModelRef
from .decoding import TextEngine
from .encoder import EncoderBackend, Heads, TorchBackend
from .speech import SpeechEngine, SynthesisEngine

ENCODER_ENGINES = ("auto", "onnx-int8", "torch")
TEXT_ENGINES = ("auto", "llamacpp", "llama-cpp-python", "torch")
SPEECH_ENGINES = ("auto", "ctranslate2", "torch", "ctc")
SYNTHESIS_ENGINES = ("auto", "piper")


def encoder_backend(ref: ModelRef, heads: Heads, engine: str, threads: int, device: str = "cpu",
                    precision: str = "fp32") -> EncoderBackend:
    """``auto`` on the CPU in fp32: the int8 ONNX engine (the fast one there); on a GPU, or in bf16/fp16: torch.
    The int8 engine runs on the CPU only: asking it for a GPU or a half precision is one line naming the fix."""
    if engine not in ENCODER_ENGINES:
        raise InputError(f"unknown engine {engine!r} for {ref.name}; choose one of: {', '.join(ENCODER_ENGINES)}.")
    from ..devices import resolve_torch

    device = resolve_torch(device)
    if precision == "fp16" and device != "cuda":
        raise InputError(f"--precision fp16 needs a CUDA GPU and this runs on {device}; use bf16 or fp32.")
    if engine == "onnx-int8" and (device != "cpu" or precision != "fp32"):
        what = f"--device {device}" if device != "cpu" else f"--precision {precision}"
        raise InputError(f"the onnx-int8 engine runs int8 on the CPU only; for {what} use --engine torch.")
    hf_classifier = ref.format == "transformers" and bool(heads.tasks)
    onnx_ok = importlib.util.find_spec("onnxruntime") is not None and not hf_classifier
    if engine == "onnx-int8" and not onnx_ok:
        if hf_classifier:
            raise InputError(f"{ref.name} is a transformers classifier; the onnx-int8 engine serves llmkit folders "
                             "and encoders. Use --engine torch.")
        raise EngineUnavailableError("the onnx-int8 engine needs onnxruntime: `pip install 'llmkit[onnx]'`.")
    if engine in ("auto", "onnx-int8") and onnx_ok and device == "cpu" and precision == "fp32":
        from .onnx_encoder import OnnxBackend, export_int8, is_current, onnx_path

        path = onnx_path(ref)
        if not is_current(path, ref):
            print(f"llmkit: exporting {ref.name} to int8 ONNX once (cached at {path})...", file=sys.stderr)
            path = export_int8(ref)
        return OnnxBackend(path, threads)
    return TorchBackend(ref, heads, threads, device, precision)


def text_engine(ref: ModelRef, engine: str = "auto", *, threads: int | None = None, n_ctx: int | None = None,
                parallel: int = 1, allow_remote: bool | None = None, redact: bool | None = None,
                prompt_cache_mib: int | None = None, speculative: str | None = None,
                draft: str | None = None, repack: bool = True, device: str = "cpu") -> TextEngine:
    """The engine for a model. GGUF: llama-cpp-python when the user has built it (a native build, the fastest
    measured), else xllamacpp (``llamacpp``, the default install), else transformers/torch; everything else: torch.

    ``parallel`` asks for that many concurrent generations in one loaded model (llama.cpp's slots, decoded as one
    batch); only xllamacpp has them, so with ``parallel > 1`` auto prefers it. An engine's ``slots`` attribute says
    how many ``generate()`` calls it serves at once (1 when absent). A remote reference (``ref.format ==
    "remote"``) gets a ``RemoteEngine``, refused unless ``allow_remote`` (or the config/env opt-in).
    ``prompt_cache_mib`` is llama.cpp's prompt reuse budget (``llamacpp.PROMPT_CACHE_HELP``; 0: off).

    ``speculative``/``draft`` (``speculative.py``): only xllamacpp speculates, so asking for it on another engine
    is refused, and auto prefers xllamacpp whenever speculation is on (asked, or a catalog draft is installed).

    ``repack=False`` turns off llama.cpp's repacked CPU weights (xllamacpp only, so auto prefers it): greedy text
    then does not depend on how tokens are batched. Other engines do not repack; it changes nothing there.

    ``device`` (``llmkit.devices``): llama.cpp offloads every layer to a GPU its build sees, torch moves the
    model there; a remote model runs on its provider."""
    if engine not in TEXT_ENGINES:
        raise InputError(f"--engine must be one of {', '.join(TEXT_ENGINES)} (got {engine!r}).")
    from ..devices import check

    check(device)
    from . import speculative as spec_mod

    asked = spec_mod.wanted(speculative, draft)
    if asked and (ref.format != "gguf" or engine in ("torch", "llama-cpp-python")):
        raise spec_mod.refuse_engine("remote" if ref.format == "remote" else "torch" if engine == "auto" else engine)
    from . import llamacpp

    can = ref.format == "gguf" and engine in ("auto", "llamacpp") and (asked or llamacpp.available())
    spec = spec_mod.plan(ref, speculative, draft, threads) if can else spec_mod.Speculation()
    if ref.format == "remote":  # `openai:MODEL` and friends (llmkit.providers); opt-in is checked in from_spec
        if engine != "auto" or device != "cpu":
            drop = f"--engine {engine}" if engine != "auto" else f"--device {device}"
            raise InputError(f"{ref.name} is a remote model; it runs on its provider: drop {drop}.")
        from .remote import RemoteEngine

        return RemoteEngine.from_spec(ref.entry["remote"], allow_remote=allow_remote, redact=redact)
    if engine in ("llamacpp", "llama-cpp-python") and ref.format != "gguf":
        raise InputError(f"--engine {engine} needs a GGUF model; {ref.name!r} is {ref.format}: use --engine torch.")
    if engine == "llama-cpp-python" and not repack:
        raise InputError("--no-repack is an xllamacpp setting: use --engine llamacpp (or auto).")
    if (engine == "llama-cpp-python" or (engine == "auto" and parallel == 1 and spec.mode == "off"
                                         and repack)) and ref.format == "gguf":
        from . import llamacpp_python

        if llamacpp_python.available():
            return llamacpp_python.LlamaCppPythonEngine.from_ref(ref, threads=threads, n_ctx=n_ctx,
                                                                 reuse=prompt_cache_mib != 0, device=device)
        if engine == "llama-cpp-python":
            raise EngineUnavailableError(llamacpp_python.MISSING)
    if engine in ("auto", "llamacpp") and ref.format == "gguf":
        if llamacpp.available():
            return llamacpp.LlamaCppEngine.from_ref(ref, threads=threads, n_ctx=n_ctx, parallel=parallel,
                                                    prompt_cache_mib=prompt_cache_mib, speculation=spec,
                                                    repack=repack, device=device)
        if engine == "llamacpp" or asked:
            raise EngineUnavailableError(llamacpp.MISSING)
    from . import torch_causal

    return torch_causal.TorchCausalEngine.from_ref(ref, threads=threads, n_ctx=n_ctx, device=device)


def speech_engine(ref: ModelRef, engine: str, options: Any) -> SpeechEngine:
    """Whisper on CTranslate2 (``auto``: int8, any folder, a transformers one converted once) or on transformers
    (``torch``, the reference; transformers-format folders only); a CTC model (wav2vec2, HuBERT) on ``ctc``.
    ``options`` is a ``TranscribeOptions``."""
    if engine not in SPEECH_ENGINES:
        raise InputError(f"engine {engine!r}: choose one of {', '.join(SPEECH_ENGINES)}.")
    from .ctc_speech import CTCSpeech, is_ctc

    if ref.format == "transformers" and is_ctc(ref.path):  # wav2vec2 / HuBERT: only the CTC engine runs them
        if engine not in ("auto", "ctc", "torch"):
            raise InputError(f"{ref.name} is a CTC model (wav2vec2/HuBERT); it runs on engine 'ctc' (the default).")
        return CTCSpeech.from_ref(ref, options)
    if engine == "ctc":
        raise InputError(f"engine 'ctc' runs wav2vec2/HuBERT CTC models; {ref.name} is Whisper: use the default.")
    if engine == "torch":
        from .torch_whisper import TorchWhisper

        return TorchWhisper.from_ref(ref, options)
    from .ctranslate2_whisper import CTranslate2Whisper

    return CTranslate2Whisper.from_ref(ref, options)


def synthesis_engine(ref: ModelRef, engine: str = "auto", *, threads: int | None = None) -> SynthesisEngine:
    """Piper (ONNX Runtime) for Piper voice folders; the only text-to-speech engine so far."""
    if engine not in SYNTHESIS_ENGINES:
        raise InputError(f"engine {engine!r}: choose one of {', '.join(SYNTHESIS_ENGINES)}.")
    if ref.format != "piper":
        raise InputError(f"{ref.name} is a {ref.task} model ({ref.format}); text-to-speech needs a Piper voice "
                         "such as piper-joe-medium.")
    from .piper_tts import PiperEngine

    return PiperEngine.from_ref(ref, threads=threads)
