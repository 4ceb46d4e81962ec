"""The int8 encoder engine: ONNX export + per-row dynamic int8 quantisation + ONNX Runtime.

The scheme (``SCHEME``): every MatMul with a constant weight becomes per-row ("vector-wise", LLM.int8,
https://arxiv.org/abs/2208.07339) symmetric int8 activations times per-channel int8 weights. Each row (one token of
one text) gets its own scale, max|x| / 127, so a text's numbers never depend on the other rows of its batch: not on
its companions, not on padding rows. ONNX Runtime's ``quantize_dynamic`` instead quantises each activation tensor
with ONE scale over the whole batch (DynamicQuantizeLinear), which made a text's embedding move with its batch-mates
(cosine 0.98 on some CPUs). Invariance here holds by construction on every instruction set (AVX2, AVX-512 VNNI...):
the int32 dot products are exact and each row's scaling is its own. The fused Attention op keeps its Q/K/V
projection in fp32 (ORT would quantise it per tensor, QAttention); quantising Q/K/V per row as well was a bit faster
but fell to cosine 0.992 with fp32. Measured on the 200 first fine-food test reviews with all-MiniLM-L6-v2
(BENCHMARKS.md): per-row 0.9986 mean / 0.9971 min cosine with fp32 (per-tensor: 0.9926 / 0.9841), 0.82x the speed
of per-tensor int8, 1.35x fp32 ONNX. Tried and dropped: MatMulNBits(bits=8, accuracy_level=4) (invariant, but
slower than fp32 on AVX2 in ORT 1.32), MatMulInteger with a per-row zero point (ORT's CPU kernel takes only a
scalar one; hence symmetric rows stored as uint8 around a fixed zero point of 128, ORT's fast u8s8 path).

Why ONNX Runtime rather than CTranslate2: CTranslate2 converts and runs whole transformers architectures, so it
cannot serve llmkit's own pooling + per-task heads without re-implementing them outside the graph; ONNX exports
the exact module (body, pooling, every head) as one graph. A side-by-side speed measurement against CTranslate2's
encoder path has not been made yet (BENCHMARKS.md records the ONNX figures against torch and transformers).
The export lives in the model folder (``model.int8.onnx``) for llmkit folders, and under
``LLMKIT_HOME/cache/onnx/`` for read-only models (a pip package's folder, the hub cache).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import json
import os
import platform
import sys
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..hub import ModelRef, home
from ..manifest import Manifest
from ..quiet import quiet

ONNX_FILE = "model.int8.onnx"
SCHEME_FILE = "model.int8.json"  # {"scheme": SCHEME}, written next to the export; an older export has none
SCHEME = "rowwise-int8-v1"


def onnx_path(ref: ModelRef) -> Path:
    if ref.format == "llmkit":
        return ref.path / ONNX_FILE
    key = hashlib.sha256(str(ref.path).encode()).hexdigest()[:12]
    return home() / "cache" / "onnx" / f"{Path(ref.name).name}-{key}" / ONNX_FILE


def is_current(path: Path, ref: ModelRef) -> bool:
    """The export exists, was made with today's quantisation scheme (an older per-batch export is redone), and is
    newer than every weights file it was made from (a model folder overwritten by a new fine-tune must not be
    served by its predecessor's export)."""
    if not path.exists() or _scheme(path) != SCHEME:
        return False
    weights = [p.stat().st_mtime for p in ref.path.glob("*.safetensors")] if ref.path.is_dir() else []
    return path.stat().st_mtime >= max(weights, default=0.0)


def _scheme(path: Path) -> str | None:
    try:
        return json.loads((path.parent / SCHEME_FILE).read_text()).get("scheme")
    except (OSError, ValueError, AttributeError):
        return None


def export_int8(folder_or_ref: Path | ModelRef, *, optimize: bool = True) -> Path:
    """Export an llmkit folder (all heads) or a plain encoder (pooled output) to int8 ONNX, atomically."""
    from ..hub import resolve

    ref = folder_or_ref if isinstance(folder_or_ref, ModelRef) else resolve(folder_or_ref)
    with quiet():
        return _export(ref, optimize)


def _export(ref: ModelRef, optimize: bool) -> Path:
    import torch

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
        quantize_rowwise(src, tmp / ONNX_FILE)
        (tmp / SCHEME_FILE).write_text(json.dumps({"scheme": SCHEME}) + "\n")
        os.replace(tmp / ONNX_FILE, target)
        os.replace(tmp / SCHEME_FILE, target.parent / SCHEME_FILE)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if ref.format == "llmkit":
        manifest = Manifest.read(ref.path)
        manifest.engines["onnx-int8"] = ONNX_FILE
        manifest.write(ref.path)
    return target


def quantize_rowwise(src: Path, dst: Path) -> None:
    """Rewrite each MatMul by a constant 2-D weight W as, per row r of its input x (see the module docstring):
    s_r = max|x_r| / 127;  q_r = round(x_r / s_r) + 128 (uint8);  y_r = s_r * ((q_r - 128) @ Wq) * s_w
    with Wq = round(W / s_w) in int8 per output column. Everything else (fused attention, LayerNorm, GELU, biases,
    softmax, pooling) stays fp32."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    weights = {i.name: i for i in graph.initializer}
    nodes, extra = [], []
    for n, node in enumerate(graph.node):
        w = numpy_helper.to_array(weights[node.input[1]]) if node.op_type == "MatMul" and node.input[1] in weights \
            else None
        if w is None or w.ndim != 2:
            nodes.append(node)
            continue
        w = w.astype(np.float32)
        w_scale = np.maximum(np.abs(w).max(axis=0), 1e-12) / 127.0
        wq = np.clip(np.round(w / w_scale), -127, 127).astype(np.int8)
        p, x = f"rowq{n}_", node.input[0]
        extra += [numpy_helper.from_array(wq, p + "wq"), numpy_helper.from_array(w_scale.astype(np.float32), p + "ws")]
        nodes += [
            helper.make_node("Abs", [x], [p + "abs"]),
            helper.make_node("ReduceMax", [p + "abs"], [p + "amax"], axes=[-1], keepdims=1),
            helper.make_node("Max", [p + "amax", "rowq_eps"], [p + "amax1"]),  # an all-zero row: no 0 / 0
            helper.make_node("Mul", [p + "amax1", "rowq_inv127"], [p + "s"]),
            helper.make_node("Div", [x, p + "s"], [p + "xs"]),
            # scalar zero point 128: ORT's MatMulInteger takes no per-row zero point, so rows are symmetric
            helper.make_node("QuantizeLinear", [p + "xs", "rowq_one", "rowq_zp"], [p + "xq"]),
            helper.make_node("MatMulIntegerToFloat", [p + "xq", p + "wq", "rowq_one", p + "ws", "rowq_zp"],
                             [p + "y"], domain="com.microsoft"),
            helper.make_node("Mul", [p + "y", p + "s"], list(node.output)),
        ]
    graph.ClearField("node")
    graph.node.extend(nodes)
    used = {i for node in graph.node for i in node.input}
    kept = [i for i in graph.initializer if i.name in used]
    graph.ClearField("initializer")
    graph.initializer.extend(kept + extra + [
        numpy_helper.from_array(np.array(1e-12, np.float32), "rowq_eps"),
        numpy_helper.from_array(np.array(1 / 127.0, np.float32), "rowq_inv127"),
        numpy_helper.from_array(np.array(1.0, np.float32), "rowq_one"),
        numpy_helper.from_array(np.array(128, np.uint8), "rowq_zp")])
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    onnx.save(model, str(dst))


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


def flush_denormals() -> None:
    """Flush denormal floats to zero on the calling thread (x86-64 Linux; elsewhere nothing): the GELU and softmax
    tails produce values below 1.2e-38, which the CPU handles in slow microcode. Measured on 2 cores: 6% more
    texts per CPU-second, outputs the same to the last printed digit (BENCHMARKS.md, "Text classification").
    Only the int8 pool's own threads get it: ORT's ``session.set_denormal_as_zero`` sets the flag on the thread
    that makes the process's first session, which is the user's main thread, and changed the arithmetic of
    whatever else ran there (hypothesis refused to run in the test suite). MXCSR's FTZ and DAZ bits are set
    through glibc's fegetenv/fesetenv, whose x86-64 fenv_t ends with the MXCSR word."""
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        return
    try:
        libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
        env = (ctypes.c_uint32 * 8)()  # fenv_t: 28 bytes of x87 state, then the 32-bit MXCSR
        if libm.fegetenv(env) == 0:
            env[7] |= 0x8040  # FTZ (bit 15) and DAZ (bit 6)
            libm.fesetenv(env)
    except OSError:  # no libm to load: run at the default speed
        pass


class OnnxBackend:
    """Per-row int8 makes a text's result independent of its batch, so batches may run side by side: ``threads``
    sessions' worth of work runs as that many concurrent one-thread runs (``workers``; ``run_bucketed`` spreads the
    batches) instead of one run whose every operator is split across threads. Measured on 2 cores
    (BENCHMARKS.md, "Text classification"): the small per-row quantisation and LayerNorm operators do not pay for
    a thread hand-off each, so two one-thread runs did more texts per second than one two-thread run. The cost: a
    lone text runs on one thread (23 ms vs 19 ms for a review on 2 cores); a second session for that case would
    double the memory for 4 ms."""

    name = "onnx-int8"

    def __init__(self, path: Path, threads: int):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # No busy-waiting between runs: spinning threads took the CPU from the server's event loop (dynamic
        # batching 73 -> 102 req/s with it off, bench/serve.py) and batch throughput did not change.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.workers = max(1, threads)  # one session: ORT's run() is thread-safe and releases the GIL
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="llmkit-onnx",
                                       initializer=flush_denormals) if self.workers > 1 else None

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> dict[str, np.ndarray]:
        values = self.session.run(None, {"input_ids": input_ids, "attention_mask": attention_mask})
        return dict(zip(self.outputs, values))
