"""``engine="auto"`` for encoders: the fastest installed engine that can serve the model."""
from __future__ import annotations

import importlib.util
import sys

from ..errors import EngineUnavailableError, InputError
from ..hub import ModelRef
from .encoder import EncoderBackend, Heads, TorchBackend

ENCODER_ENGINES = ("auto", "onnx-int8", "torch")


def encoder_backend(ref: ModelRef, heads: Heads, engine: str, threads: int) -> EncoderBackend:
    if engine not in ENCODER_ENGINES:
        raise InputError(f"unknown engine {engine!r} for {ref.name}; choose one of: {', '.join(ENCODER_ENGINES)}.")
    hf_classifier = ref.format == "transformers" and bool(heads.tasks)
    onnx_ok = importlib.util.find_spec("onnxruntime") is not None and not hf_classifier
    if engine == "onnx-int8" and not onnx_ok:
        if hf_classifier:
            raise InputError(f"{ref.name} is a transformers classifier; the onnx-int8 engine serves llmkit folders "
                             "and encoders. Use --engine torch.")
        raise EngineUnavailableError("the onnx-int8 engine needs onnxruntime: `pip install 'llmkit[onnx]'`.")
    if engine in ("auto", "onnx-int8") and onnx_ok:
        from .onnx_encoder import OnnxBackend, export_int8, is_current, onnx_path

        path = onnx_path(ref)
        if not is_current(path, ref):
            print(f"llmkit: exporting {ref.name} to int8 ONNX once (cached at {path})...", file=sys.stderr)
            path = export_int8(ref)
        return OnnxBackend(path, threads)
    return TorchBackend(ref, heads, threads)
