"""The int8 engine's promise: a text's vector, label and score do not depend on what else is in its batch.

Activations are quantised per row (one scale per token of one text; engines/onnx_encoder.py), so this holds by
construction on every CPU: the per-tensor scheme it replaced passed a 0.99 check on AVX2 and failed it on AVX-512
VNNI. The checks below use companions that change the per-tensor scale (short texts, a long one that forces
padding, a batch of 64), so they fail on a per-batch export on any CPU.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from llmkit import pipeline

TEXT = "a cat"
SHORT = ["a kitten", "the stock market fell"]
LONG = ["The coffee arrived stale, the box was crushed and the beans tasted bitter and burnt. " * 4]


def _batches(texts: list[str]) -> list[list[str]]:
    many = [f"{w} review number {i}: {'great tasty fresh ' * (i % 5)}snack" for i, w in
            zip(range(63), texts * 40)]
    return [[TEXT, *SHORT], [TEXT, *LONG], [*LONG, TEXT, *SHORT], [TEXT, *many]]


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _worst_embedding_cosine(emb) -> float:
    alone = emb(TEXT)
    return min(_cos(alone, emb(batch)[batch.index(TEXT)]) for batch in _batches([TEXT, *SHORT]))


def test_tiny_encoder_embedding_does_not_depend_on_its_batch(tiny_encoder):
    emb = pipeline("sentence-embeddings", model=str(tiny_encoder), engine="onnx-int8", batch_size=64)
    assert _worst_embedding_cosine(emb) >= 0.9999


def test_an_export_from_the_old_scheme_is_redone(tiny_encoder):
    from llmkit import resolve
    from llmkit.engines.onnx_encoder import SCHEME, SCHEME_FILE, is_current, onnx_path

    pipeline("sentence-embeddings", model=str(tiny_encoder), engine="onnx-int8")
    path = onnx_path(resolve(str(tiny_encoder)))
    assert is_current(path, resolve(str(tiny_encoder)))
    (path.parent / SCHEME_FILE).unlink()  # as an export made before the scheme was recorded
    assert not is_current(path, resolve(str(tiny_encoder)))
    pipeline("sentence-embeddings", model=str(tiny_encoder), engine="onnx-int8")
    assert json.loads((path.parent / SCHEME_FILE).read_text())["scheme"] == SCHEME


@pytest.mark.real_home
def test_minilm_embedding_does_not_depend_on_its_batch():
    emb = pipeline("sentence-embeddings", model="all-minilm-l6-v2", engine="onnx-int8", batch_size=64)
    assert emb.engine == "onnx-int8"
    assert _worst_embedding_cosine(emb) >= 0.9999


@pytest.mark.real_home
def test_sentiment_label_and_score_do_not_depend_on_the_batch():
    clf = pipeline("text-classification", model="minilm-sentiment", engine="onnx-int8", batch_size=64)
    assert clf.engine == "onnx-int8"
    alone = clf(TEXT)[0]
    for batch in _batches([TEXT, *SHORT]):
        inside = clf(batch)[batch.index(TEXT)]
        assert inside["label"] == alone["label"] and abs(inside["score"] - alone["score"]) <= 1e-4, batch[:3]


@pytest.mark.real_home
def test_int8_agrees_with_fp32_on_fine_food_reviews():
    from llmkit.train.data import load_dataset

    texts = [r["text"] for r in load_dataset("fine_food_reviews", "test")[:200]]
    fp32 = pipeline("sentence-embeddings", model="all-minilm-l6-v2", engine="torch")(texts)
    int8 = pipeline("sentence-embeddings", model="all-minilm-l6-v2", engine="onnx-int8")(texts)
    cos = np.sum(fp32 * int8, axis=1) / (np.linalg.norm(fp32, axis=1) * np.linalg.norm(int8, axis=1))
    assert cos.min() >= 0.995, (cos.mean(), cos.min())
    labels = [pipeline("text-classification", model="minilm-sentiment", engine=e)(texts)
              for e in ("torch", "onnx-int8")]
    agree = np.mean([a["label"] == b["label"] for a, b in zip(*labels)])
    assert agree >= 0.98


def _subnormal_survives() -> bool:
    x = np.array([1e-39], dtype=np.float32)  # a denormal float32: flushed to zero where FTZ/DAZ are on
    return bool((x * np.float32(1.0))[0] != 0.0)


def test_denormals_are_flushed_on_the_engines_threads_only(tiny_encoder):
    """The int8 pool's threads flush denormals (speed); the caller's thread keeps IEEE arithmetic: a library must
    not change the floating-point mode of its user's own code (ORT's session option did, on the main thread)."""
    emb = pipeline("sentence-embeddings", model=str(tiny_encoder), engine="onnx-int8", threads=2)
    emb([TEXT, *SHORT])
    assert _subnormal_survives()
    pool = emb.backend.pool
    import platform
    import sys
    flushing = sys.platform == "linux" and platform.machine() in ("x86_64", "AMD64")
    assert pool.submit(_subnormal_survives).result() is not flushing
