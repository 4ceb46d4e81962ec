"""``--device`` / ``--precision`` for inference (llmkit/devices.py), on the CPU: the only device this machine has.

What runs here: ``cpu`` and ``auto`` give the default's output exactly, bf16 autocast on the CPU, and every way to
ask for a device that is not there (cuda, mps, an unknown name) is one line and exit 2. The GPU paths themselves
(cuda, mps) never ran here; docs/scale.md says so.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cli_helpers import llmkit
from llmkit import pipeline
from llmkit.devices import DeviceOptions, check, resolve_torch
from llmkit.errors import InputError

HAS_CUDA = torch.cuda.is_available()
HAS_MPS = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
cpu_only = pytest.mark.skipif(HAS_CUDA or HAS_MPS, reason="this machine has a GPU: the CPU-only lines do not apply")


def _llamacpp_sees_gpu() -> bool:
    import xllamacpp as xlc

    kinds = xlc.ggml_backend_dev_type
    return any(d["type"] in (kinds.GGML_BACKEND_DEVICE_TYPE_GPU, kinds.GGML_BACKEND_DEVICE_TYPE_IGPU)
               for d in xlc.get_device_info())


# ---- resolution and checks, no model -----------------------------------------------------------------------

@cpu_only
def test_auto_resolves_to_cpu_and_missing_devices_are_one_line():
    assert resolve_torch("auto") == "cpu" and resolve_torch("cpu") == "cpu"
    with pytest.raises(InputError, match=r"^--device cuda: no CUDA GPU .*use --device cpu \(or auto\)\.$"):
        resolve_torch("cuda")
    with pytest.raises(InputError, match=r"^--device mps: .*use --device cpu \(or auto\)\.$"):
        resolve_torch("mps")


def test_unknown_values_and_fp16_off_cuda_are_refused():
    with pytest.raises(InputError, match="--device 'tpu': choose one of cpu, auto, cuda, mps"):
        check("tpu")
    with pytest.raises(InputError, match="--precision 'fp8'"):
        DeviceOptions(precision="fp8")
    with pytest.raises(InputError, match="--precision fp16 needs --device cuda"):
        DeviceOptions(device="cpu", precision="fp16")


@cpu_only
def test_speech_and_llamacpp_resolve_their_own_devices():
    from llmkit.engines.ctranslate2_whisper import ct2_device
    from llmkit.engines.llamacpp import gpu_layers

    assert ct2_device("auto") == "cpu" and ct2_device("cpu") == "cpu"
    with pytest.raises(InputError, match="CTranslate2 sees no CUDA GPU; use --device cpu"):
        ct2_device("cuda")
    with pytest.raises(InputError, match="no Metal backend"):
        ct2_device("mps")
    assert gpu_layers("cpu") == 0  # a GPU build would offload by default: cpu says 0 layers
    if not _llamacpp_sees_gpu():
        assert gpu_layers("auto") == 0
        with pytest.raises(InputError, match=r"CPU build.*whl/cu128.*or use --device cpu"):
            gpu_layers("cuda")


@cpu_only
def test_server_refuses_a_missing_device_before_it_starts():
    from llmkit.serve import ServeSettings, create_app, load_settings

    with pytest.raises(InputError, match="--device cuda: no CUDA GPU"):
        create_app(ServeSettings(device="cuda"))
    with pytest.raises(InputError, match="bad server setting: --device"):
        load_settings(device="tpu")
    assert create_app(ServeSettings(device="auto")) is not None


# ---- real models ---------------------------------------------------------------------------------------------

TEXTS = ["I absolutely love this tea", "Stale, bitter and overpriced", "It was fine, I guess", "Best snack ever!"]


@pytest.mark.slow
@pytest.mark.real_home
@cpu_only
def test_cpu_and_auto_give_the_default_output_exactly():
    default = pipeline("text-classification")
    for device in ("cpu", "auto"):
        clf = pipeline("text-classification", device=device)
        assert clf.engine == default.engine == "onnx-int8"  # auto on a CPU machine keeps the int8 engine
        assert clf(TEXTS, top_k=None) == default(TEXTS, top_k=None)
    emb = pipeline("sentence-embeddings")
    assert np.array_equal(pipeline("sentence-embeddings", device="auto")(TEXTS), emb(TEXTS))
    with pytest.raises(InputError, match="--device 'gpu'"):
        pipeline("text-classification", device="gpu")  # the keyword is checked before the model loads


@pytest.mark.slow
@pytest.mark.real_home
def test_bf16_autocast_on_the_cpu_runs_torch_and_stays_close():
    fp32 = pipeline("sentence-embeddings", engine="torch", device="cpu", normalize=True)
    bf16 = pipeline("sentence-embeddings", precision="bf16", normalize=True)  # auto engine: bf16 means torch
    assert bf16.engine == "torch"
    a, b = fp32(TEXTS), bf16(TEXTS)
    assert (a * b).sum(axis=1).min() > 0.98  # cosine: bf16 keeps 8 bits of mantissa
    with pytest.raises(InputError, match="onnx-int8 engine runs int8 on the CPU only; for --precision bf16 use "
                                         "--engine torch"):
        pipeline("sentence-embeddings", engine="onnx-int8", precision="bf16")


@pytest.mark.slow
@pytest.mark.real_home
def test_cli_device_cpu_is_the_default_output():
    args = ["classify", "--json", "--top-k", "0", *TEXTS]
    default, cpu = llmkit(*args), llmkit(*args, "--device", "cpu")
    assert default.returncode == cpu.returncode == 0, cpu.stderr
    assert cpu.stdout == default.stdout
    gen = ["generate", "Name a colour.", "--model", "smollm2-135m-instruct", "--temperature", "0",
           "--max-new-tokens", "8", "--json"]
    default, cpu = llmkit(*gen), llmkit(*gen, "--device", "cpu")
    assert default.returncode == cpu.returncode == 0, cpu.stderr
    assert json.loads(cpu.stdout)["text"] == json.loads(default.stdout)["text"]


VERBS = {
    "classify": ["classify", "Nice"],
    "embed": ["embed", "Nice"],
    "generate": ["generate", "Hi", "--model", "smollm2-135m-instruct"],
    "transcribe": ["transcribe", "{tmp}/missing.wav"],
    "serve": ["serve", "--port", "0"],
    "batch": ["batch", "classify", "--input", "{tmp}/none.jsonl", "--output", "{tmp}/out"],
}


@pytest.mark.slow
@pytest.mark.real_home
@cpu_only
@pytest.mark.parametrize("device", ["cuda", "mps"])
@pytest.mark.parametrize("verb", list(VERBS))
def test_every_verb_refuses_a_missing_device_in_one_line(verb, device, tmp_path):
    if verb == "generate" and _llamacpp_sees_gpu():
        pytest.skip("this llama.cpp build sees a GPU")
    r = llmkit(*(a.format(tmp=tmp_path) for a in VERBS[verb]), "--device", device)
    err = r.stderr.decode().strip()
    assert r.returncode == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("llmkit: error: "), err
    assert f"--device {device}" in err and "--device cpu" in err, err
    assert not (tmp_path / "out").exists()


def test_an_unknown_device_is_one_line():
    r = llmkit("classify", "--device", "tpu", "Nice")
    err = r.stderr.decode().strip()
    assert r.returncode == 2 and len(err.splitlines()) == 1 and "invalid choice: 'tpu'" in err, err
