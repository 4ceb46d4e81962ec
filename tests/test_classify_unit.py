"""Fine-tune a tiny random encoder, save it, load it through pipeline() on both engines."""
from __future__ import annotations

import json

import numpy as np
import pytest

from llmkit import pipeline
from llmkit.errors import InputError
from llmkit.train.config import TrainConfig
from llmkit.train.finetune import finetune
from tiny import toy_sentiment


@pytest.fixture(scope="module")
def tiny_classifier(tiny_encoder, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "toy"
    cfg = TrainConfig(epochs=6, lr=1e-3, batch_size=16, max_length=16, seed=1)
    finetune(str(tiny_encoder), toy_sentiment(240), toy_sentiment(60, seed=9), output=out, config=cfg,
             task="sentiment", progress=False)
    return out


def test_training_learns_and_writes_a_complete_folder(tiny_classifier):
    metrics = json.loads((tiny_classifier / "metrics.json").read_text())
    assert metrics["best"]["tasks"]["sentiment"]["accuracy"] >= 0.9
    history = metrics["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    manifest = json.loads((tiny_classifier / "llmkit.json").read_text())
    assert manifest["tasks"]["sentiment"]["labels"] == ["NEGATIVE", "POSITIVE"]
    for f in ("model.safetensors", "heads.safetensors", "tokenizer.json", "run_config.json", "config.json"):
        assert (tiny_classifier / f).exists(), f
    assert not list(tiny_classifier.parent.glob(".toy.tmp-*")), "no temp folder left behind"


@pytest.mark.parametrize("engine", ["torch", "onnx-int8"])
def test_pipeline_shapes_and_predictions(tiny_classifier, engine):
    clf = pipeline("text-classification", model=str(tiny_classifier), engine=engine)
    assert clf.engine == engine
    out = clf(["great tasty coffee", "awful stale tea"])
    assert [r["label"] for r in out] == ["POSITIVE", "NEGATIVE"]
    assert all(0.5 < r["score"] <= 1.0 for r in out)
    ranked = clf("good fresh snack", top_k=None)
    assert [r["label"] for r in ranked[0]] == ["POSITIVE", "NEGATIVE"]
    assert abs(sum(r["score"] for r in ranked[0]) - 1.0) < 1e-5


def test_onnx_int8_agrees_with_torch(tiny_classifier):
    texts = [r["text"] for r in toy_sentiment(50, seed=3)]
    a = pipeline("text-classification", model=str(tiny_classifier), engine="torch")(texts)
    b = pipeline("text-classification", model=str(tiny_classifier), engine="onnx-int8")(texts)
    agree = np.mean([x["label"] == y["label"] for x, y in zip(a, b)])
    assert agree >= 0.95


def test_int8_export_is_redone_when_the_weights_change(tiny_classifier):
    import os

    from llmkit.engines.onnx_encoder import ONNX_FILE

    pipeline("text-classification", model=str(tiny_classifier), engine="onnx-int8")
    export = tiny_classifier / ONNX_FILE
    weights = tiny_classifier / "model.safetensors"
    stale = weights.stat().st_mtime - 60  # as if the weights had been overwritten by a new fine-tune since
    os.utime(export, (stale, stale))
    clf = pipeline("text-classification", model=str(tiny_classifier), engine="onnx-int8")
    assert export.stat().st_mtime >= weights.stat().st_mtime
    assert clf(["great tasty coffee"])[0]["label"] == "POSITIVE"


def test_order_is_kept_with_length_bucketing(tiny_classifier):
    clf = pipeline("text-classification", model=str(tiny_classifier), engine="torch", batch_size=3)
    texts = ["great", "awful stale bitter terrible bad tea coffee", "good", "bad bad", "love tasty fresh great good"]
    batched = [r["label"] for r in clf(texts)]
    single = [clf(t)[0]["label"] for t in texts]
    assert batched == single


def test_empty_text_is_a_clear_error(tiny_classifier):
    clf = pipeline("text-classification", model=str(tiny_classifier), engine="torch")
    with pytest.raises(InputError, match="input 2 is empty"):
        clf(["fine", "   "])


def test_output_folder_holding_a_model_is_refused(tiny_classifier, tiny_encoder):
    with pytest.raises(InputError, match="--overwrite"):
        finetune(str(tiny_encoder), toy_sentiment(20), output=tiny_classifier, config=TrainConfig(epochs=1),
                 progress=False)


def test_embeddings_from_an_encoder(tiny_encoder):
    emb = pipeline("sentence-embeddings", model=str(tiny_encoder), engine="torch")
    v = emb(["good tea", "bad coffee"], normalize=True)
    assert v.shape == (2, 32)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("config, tokenizer, expected", [
    ({"model_type": "bert", "max_position_embeddings": 512}, None, 512),  # MiniLM: positions from 0
    ({"model_type": "mpnet", "max_position_embeddings": 514, "pad_token_id": 1}, None, 512),  # after the pad id
    ({"model_type": "roberta", "max_position_embeddings": 514, "pad_token_id": 1}, {"model_max_length": 256}, 256),
    ({"model_type": "bert", "max_position_embeddings": 512}, {"model_max_length": 10**30}, 512),  # "no limit"
])
def test_inputs_are_cut_to_what_the_position_table_holds(tmp_path, config, tokenizer, expected):
    """all-mpnet-base-v2 declares 514 positions, of which 512 hold tokens (the first two belong to padding): cutting
    at 514 made its int8 engine fail on a 600-token review (found by the fine-tuning benchmark)."""
    from llmkit.engines.encoder import max_tokens

    if tokenizer is not None:
        (tmp_path / "tokenizer_config.json").write_text(json.dumps(tokenizer))
    assert max_tokens(tmp_path, config) == expected
