"""Calibration: temperature fitted on the validation split, stored in the folder, applied by every engine; ECE
before/after in the report; a too-small validation split is one clear line."""
from __future__ import annotations

import json

import numpy as np
import pytest

from llmkit import pipeline
from llmkit.errors import InputError
from llmkit.train.calibration import MIN_EXAMPLES, ece, fit_temperature, softmax
from llmkit.train.config import TrainConfig
from llmkit.train.finetune import finetune
from tiny import toy_sentiment

TINY = dict(epochs=6, lr=1e-3, batch_size=16, max_length=16, seed=1)


def test_temperature_undoes_overconfidence():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 3000)
    true_logits = rng.normal(size=(3000, 3)) + 2.0 * np.eye(3)[y]   # scores that are calibrated at T = 1 ...
    sampled = np.array([rng.choice(3, p=p) for p in softmax(true_logits)])
    over = true_logits * 4.0                                        # ... made overconfident by 4x
    t = fit_temperature(over[:1500], sampled[:1500])
    assert 3.0 < t < 5.5
    held = slice(1500, None)
    assert ece(softmax(over[held] / t), sampled[held]) < ece(softmax(over[held]), sampled[held]) / 2


@pytest.fixture(scope="module")
def calibrated(tiny_encoder, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "cal"
    finetune(str(tiny_encoder), toy_sentiment(240), toy_sentiment(60, seed=9), output=out, task="sentiment",
             config=TrainConfig(**TINY), progress=False)
    return out


def test_temperature_is_stored_reported_and_applied_by_torch_and_int8(calibrated):
    manifest = json.loads((calibrated / "llmkit.json").read_text())
    temp = manifest["temperatures"]["sentiment"]
    assert temp > 0 and temp != 1.0
    metrics = json.loads((calibrated / "metrics.json").read_text())["calibration"]["sentiment"]
    assert metrics["n"] == 60 and metrics["temperature"] == temp and {"ece_before", "ece_after"} <= set(metrics)
    report = (calibrated / "report.md").read_text()
    assert "## Calibration" in report and "reliability_sentiment.png" in report
    assert (calibrated / "reliability_sentiment.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    texts = [r["text"] for r in toy_sentiment(40, seed=3)]
    torch_clf = pipeline("text-classification", model=str(calibrated), engine="torch")
    int8_clf = pipeline("text-classification", model=str(calibrated), engine="onnx-int8")
    assert torch_clf.temperature == int8_clf.temperature == temp
    logits = torch_clf.logits(texts)
    expected = softmax(logits / temp).max(-1)
    a = torch_clf(texts)
    b = int8_clf(texts)
    assert np.allclose([r["score"] for r in a], expected, atol=1e-6)  # torch: softmax(logits / T)
    assert max(abs(x["score"] - y["score"]) for x, y in zip(a, b)) < 0.03  # int8 applies the same T
    raw = softmax(logits).max(-1)
    assert not np.allclose(raw, expected, atol=1e-3)  # the check has teeth: T changes the scores


def test_too_small_validation_split_is_one_line_before_training(tiny_encoder, tmp_path, capsys):
    out = tmp_path / "small"
    with pytest.raises(InputError, match=f"needs at least {MIN_EXAMPLES} validation examples; it has 10"):
        finetune(str(tiny_encoder), toy_sentiment(80), toy_sentiment(10, seed=9), output=out,
                 config=TrainConfig(**{**TINY, "epochs": 1}, calibrate=True), progress=False)
    assert not out.exists()  # refused before anything was written
    finetune(str(tiny_encoder), toy_sentiment(80), toy_sentiment(10, seed=9), output=out,
             config=TrainConfig(**{**TINY, "epochs": 1}), progress=False)  # default: on when it can be
    assert f"needs at least {MIN_EXAMPLES}" in capsys.readouterr().err
    assert "temperatures" not in json.loads((out / "llmkit.json").read_text())
    off = tmp_path / "off"
    finetune(str(tiny_encoder), toy_sentiment(80), toy_sentiment(30, seed=9), output=off,
             config=TrainConfig(**{**TINY, "epochs": 1}, calibrate=False), progress=False)
    assert "temperatures" not in json.loads((off / "llmkit.json").read_text())


def test_cli_flag_is_generated(tiny_encoder, tmp_path):
    from cli_helpers import llmkit

    r = llmkit("finetune", "--help")
    assert "--calibrate" in r.stdout.decode() and "--no-calibrate" in r.stdout.decode()


@pytest.mark.slow
@pytest.mark.real_home
def test_fine_tune_of_a_built_in_dataset_is_better_calibrated_on_held_out_data(tmp_path):
    from llmkit.train.data import load_dataset

    train = load_dataset("fine_food_reviews")
    rng = np.random.default_rng(0)
    picks = rng.permutation(len(train))
    out = tmp_path / "food"
    finetune("all-minilm-l6-v2", [train[i] for i in picks[:400]], [train[i] for i in picks[400:600]], output=out,
             config=TrainConfig(epochs=3, lr=1e-4, batch_size=32, max_length=64, seed=0), progress=False)
    assert json.loads((out / "llmkit.json").read_text())["temperatures"]["default"] > 0
    test = load_dataset("fine_food_reviews:test")[:400]
    clf = pipeline("text-classification", model=str(out), engine="torch")
    logits = clf.logits([r["text"] for r in test])
    y = [clf.labels.index(r["label"]) for r in test]
    assert ece(softmax(logits / clf.temperature), y) < ece(softmax(logits), y)


# The other built-in datasets, each in a short run (160 examples, 32 tokens, 3 epochs: about a fifth of the
# fine-food run's compute each). Such short runs are underconfident (T about 0.5-0.7 here), far from T = 1, so the
# held-out check has a clear margin (ECE about 0.15 -> 0.09 on fortune_topics, 0.043 -> 0.018 on austen_novels).
@pytest.mark.slow
@pytest.mark.real_home
@pytest.mark.parametrize("name", ["fortune_topics", "austen_novels"])
def test_short_fine_tunes_of_the_other_built_in_datasets_are_better_calibrated_on_held_out_data(tmp_path, name):
    from llmkit.train.data import BUILTIN_DATASETS, load_dataset

    assert set(BUILTIN_DATASETS) == {"fine_food_reviews", "fortune_topics", "austen_novels"}  # a new one joins here
    rows = load_dataset(name)
    picks = np.random.default_rng(0).permutation(len(rows))
    out = tmp_path / name
    finetune("all-minilm-l6-v2", [rows[i] for i in picks[:160]], [rows[i] for i in picks[160:260]], output=out,
             config=TrainConfig(epochs=3, lr=1e-4, batch_size=32, max_length=32, seed=0), progress=False)
    temp = json.loads((out / "llmkit.json").read_text())["temperatures"]["default"]
    calibration = json.loads((out / "metrics.json").read_text())["calibration"]["default"]
    assert calibration["temperature"] == temp and calibration["n"] == 100
    test = load_dataset(f"{name}:test")  # never trained or calibrated on
    test = [test[i] for i in np.random.default_rng(1).permutation(len(test))[:300]]
    clf = pipeline("text-classification", model=str(out), engine="torch")
    assert clf.temperature == temp
    logits = clf.logits([r["text"] for r in test])
    y = [clf.labels.index(r["label"]) for r in test]
    assert ece(softmax(logits / temp), y) < ece(softmax(logits), y)


@pytest.mark.real_home
def test_default_sentiment_model_is_better_calibrated_on_held_out_reviews():
    """The default model was built before calibration existed: fit T on half the test reviews, check the other."""
    from llmkit.train.data import load_dataset

    test = load_dataset("fine_food_reviews:test")[:600]
    clf = pipeline("text-classification")
    logits = clf.logits([r["text"] for r in test])
    from llmkit.train.recipes import SENTIMENT_LABELS

    y = np.array([clf.labels.index(SENTIMENT_LABELS[r["label"]]) for r in test])
    t = fit_temperature(logits[:300], y[:300])
    assert ece(softmax(logits[300:] / t), y[300:]) < ece(softmax(logits[300:]), y[300:])
