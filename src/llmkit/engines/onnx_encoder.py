"""The int8 encoder engine: ONNX export + dynamic int8 quantisation + ONNX Runtime.

Why ONNX Runtime rather than CTranslate2: CTranslate2 converts and runs whole transformers architectures, so it
cannot serve llmkit's own pooling + per-task heads without re-implementing them outside the graph; ONNX exports
the exact module (body, pooling, every head) as one graph. A side-by-side speed measurement against CTranslate2's
encoder path has not been made yet (BENCHMARKS.md records the ONNX figures against torch and transformers).
The export lives in the model folder (``model.int8.onnx``) for llmkit folders, and under
``LLMKIT_HOME/cache/onnx/`` for read-only models (a pip package's folder, the hub cache).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ..hub import MANIFEST, ModelRef, home
from ..quiet import quiet

ONNX_FILE = "model.int8.onnx"


def onnx_path(ref: ModelRef) -> Path:
    if ref.format == "llmkit":
        return ref.path / ONNX_FILE
    key = hashlib.sha256(str(ref.path).encode()).hexdigest()[:12]
    return home() / "cache" / "onnx" / f"{Path(ref.name).name}-{key}" / ONNX_FILE


def is_current(path: Path, ref: ModelRef) -> bool:
    """The export exists and is newer than every weights file it was made from (a model folder overwritten by a
    new fine-tune must not be served by its predecessor's export)."""
    if not path.exists():
        return False
    weights = [p.stat().st_mtime for p in ref.path.glob("*.safetensors")] if ref.path.is_dir() else []
    return path.stat().st_mtime >= max(weights, default=0.0)


def export_int8(folder_or_ref: Path | ModelRef, *, optimize: bool = True) -> Path:
    """Export an llmkit folder (all heads) or a plain encoder (pooled output) to int8 ONNX, atomically."""
    from ..hub import resolve

    ref = folder_or_ref if isinstance(folder_or_ref, ModelRef) else resolve(folder_or_ref)
    with quiet():
        return _export(ref, optimize)


def _export(ref: ModelRef, optimize: bool) -> Path:
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from ..modeling import TaskSpec, TextModel

    if ref.format == "llmkit":
        model = TextModel.load(ref.path)
    else:
        model = TextModel.from_body(ref.path, [TaskSpec("none", "regression")], ref.entry.get("pooling", "mean"))
    tasks = list(model.tasks) if ref.format == "llmkit" else []
    _eager_attention(model.body)
    wrapper = _ExportWrapper(model, tasks).eval()
    target = onnx_path(ref)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".onnx-"))
    try:
        fp32 = tmp / "model.fp32.onnx"
        ids = torch.ones((2, 16), dtype=torch.long)
        axes = {0: "batch", 1: "seq"}
        torch.onnx.export(wrapper, (ids, torch.ones_like(ids)), str(fp32), dynamo=False, opset_version=17,
                          input_names=["input_ids", "attention_mask"], output_names=["pooled", *tasks],
                          dynamic_axes={"input_ids": axes, "attention_mask": axes, "pooled": {0: "batch"},
                                        **{t: {0: "batch"} for t in tasks}})
        src = fp32
        if optimize:
            src = _fuse(fp32, model) or fp32
        import onnx

        quantize_dynamic(str(src), str(tmp / ONNX_FILE), weight_type=QuantType.QInt8, per_channel=True,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        os.replace(tmp / ONNX_FILE, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if ref.format == "llmkit":
        manifest = json.loads((ref.path / MANIFEST).read_text())
        manifest.setdefault("engines", {})["onnx-int8"] = ONNX_FILE
        (ref.path / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return target


def _eager_attention(body) -> None:
    """Plain matmul attention traces to the graph ONNX Runtime's optimiser knows how to fuse (SDPA does not)."""
    try:
        body.set_attn_implementation("eager")
    except (AttributeError, ValueError):
        body.config._attn_implementation = "eager"


def _fuse(fp32: Path, model) -> Path | None:
    """Fuse attention / LayerNorm / GELU with ONNX Runtime's transformer optimiser (BERT-family bodies)."""
    try:
        from onnxruntime.transformers.optimizer import optimize_model
    except ImportError:
        return None
    cfg = model.body.config
    if cfg.model_type not in ("bert", "roberta", "xlm-roberta", "distilbert", "electra", "mpnet"):
        return None
    try:
        opt = optimize_model(str(fp32), model_type="bert", num_heads=cfg.num_attention_heads,
                             hidden_size=cfg.hidden_size, opt_level=1)
        out = fp32.with_name("model.opt.onnx")
        opt.save_model_to_file(str(out))
        return out
    except Exception:  # an optimiser gap must not break the export; the unfused graph is still correct
        return None


class _ExportWrapper:
    """Built lazily (needs torch): pooled vector + every head's logits from one graph."""

    def __new__(cls, model, tasks):
        import torch

        class Wrapper(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.model = model

            def forward(self, input_ids, attention_mask):
                pooled = self.model.encode(input_ids, attention_mask)
                return (pooled, *[self.model.task_head(pooled, t) for t in tasks])

        return Wrapper()


class OnnxBackend:
    name = "onnx-int8"

    def __init__(self, path: Path, threads: int):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # No busy-waiting between runs: spinning threads took the CPU from the server's event loop (dynamic
        # batching 73 -> 102 req/s with it off, bench/serve.py) and batch throughput did not change.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.outputs = [o.name for o in self.session.get_outputs()]

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> dict[str, np.ndarray]:
        values = self.session.run(None, {"input_ids": input_ids, "attention_mask": attention_mask})
        return dict(zip(self.outputs, values))
