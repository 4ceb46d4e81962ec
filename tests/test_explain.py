"""Word attributions (integrated gradients): completeness, word aggregation, every kind of classifier folder, the
CLI's output and the server's field. Real models, real server on 127.0.0.1."""
from __future__ import annotations

import json

import httpx
import pytest

pytest.importorskip("captum")

from cli_helpers import llmkit  # noqa: E402
from llmkit import pipeline  # noqa: E402
from llmkit.errors import InputError  # noqa: E402
from llmkit.tasks.explain import COMPLETENESS_TOL, render, words_of  # noqa: E402
from llmkit.train.config import TrainConfig  # noqa: E402
from llmkit.train.finetune import finetune  # noqa: E402
from tiny import toy_sentiment  # noqa: E402


@pytest.fixture(scope="module")
def tiny_classifier(tiny_encoder, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "toy"
    finetune(str(tiny_encoder), toy_sentiment(240), toy_sentiment(60, seed=9), output=out, task="sentiment",
             config=TrainConfig(epochs=6, lr=1e-3, batch_size=16, max_length=16, seed=1), progress=False)
    return out


def check_complete(e):
    """Completeness: token scores (and the word scores made from them) sum to the logit difference."""
    assert abs(e.delta) <= COMPLETENESS_TOL * max(1.0, abs(e.logit_diff)), (e.delta, e.logit_diff)
    assert e.complete
    total_words = sum(a["score"] for a in e.attributions)
    assert total_words == pytest.approx(sum(t["score"] for t in e.tokens), abs=1e-6)
    assert total_words == pytest.approx(e.logit_diff + e.delta, abs=1e-5)


def test_sub_word_tokens_are_summed_into_whitespace_words():
    text = "isn't  bitter."
    #         [CLS]   isn     '       t       bitter    .        [SEP]
    offsets = [(0, 0), (0, 3), (3, 4), (4, 5), (7, 13), (13, 14), (0, 0)]
    scores = [9.0, 1.0, 0.5, 0.25, -2.0, 0.5, 9.0]
    special = [1, 0, 0, 0, 0, 0, 1]
    assert words_of(text, offsets, scores, special) == [{"word": "isn't", "score": 1.75},
                                                        {"word": "bitter.", "score": -1.5}]
    # a word the tokenizer cut off (max_length) is left out, not shown as neutral
    assert words_of("good tea here", [(0, 0), (0, 4), (5, 8), (0, 0)], [0, 1.0, 2.0, 0], [1, 0, 0, 1]) == [
        {"word": "good", "score": 1.0}, {"word": "tea", "score": 2.0}]


def test_render_marks_words_plainly_or_in_colour():
    attrs = [{"word": "stale", "score": -1.0}, {"word": "the", "score": 0.01}, {"word": "lovely", "score": 0.6}]
    assert render(attrs, color=False) == "[-stale] the [+lovely]"
    coloured = render(attrs, color=True)
    assert "\033[1;91mstale\033[0m" in coloured and "\033[1;92mlovely\033[0m" in coloured and " the " in coloured


def test_fine_tuned_folder_is_complete_and_points_at_the_sentiment_words(tiny_classifier):
    clf = pipeline("text-classification", model=str(tiny_classifier), engine="torch")
    pos, neg = clf.explain(["great coffee was tasty", "the tea was awful"])
    assert (pos.label, neg.label) == ("POSITIVE", "NEGATIVE")
    for e in (pos, neg):
        check_complete(e)
        assert [a["word"] for a in e.attributions] == e.text.split()
    top = {e.label: max(e.attributions, key=lambda a: a["score"])["word"] for e in (pos, neg)}
    assert top["POSITIVE"] in ("great", "tasty") and top["NEGATIVE"] == "awful"
    chosen = clf.explain("great coffee was tasty", label="NEGATIVE")[0]  # a chosen label: the signs flip
    check_complete(chosen)
    assert chosen.label == "NEGATIVE" and chosen.logit_diff * pos.logit_diff < 0
    with pytest.raises(InputError, match="not one of sentiment's labels"):
        clf.explain("good", label="MAYBE")


def test_onnx_pipeline_explains_on_torch_with_its_own_scores(tiny_classifier, capsys):
    clf = pipeline("text-classification", model=str(tiny_classifier), engine="onnx-int8")
    e = clf.explain("love this fresh snack")[0]
    assert "explaining on the torch engine" in capsys.readouterr().err
    assert e.engine.startswith("torch") and e.score == pytest.approx(clf("love this fresh snack")[0]["score"])
    check_complete(e)


def test_every_head_of_a_multi_task_folder(tiny_encoder, tmp_path):
    from test_multitask import config

    from llmkit.train.multitask import multitask

    out = multitask(config(tiny_encoder, architecture="mmoe", experts=2), output=tmp_path / "multi", progress=False)
    for task in ("sentiment", "topic"):
        clf = pipeline("text-classification", model=str(out), engine="torch", task=task)
        e = clf.explain("the court ruled on great coffee")[0]
        assert e.label in clf.labels
        check_complete(e)


def test_transformers_classifier_folder(tiny_encoder, tmp_path):
    from transformers import AutoTokenizer, BertForSequenceClassification

    folder = tmp_path / "hf-clf"
    model = BertForSequenceClassification.from_pretrained(str(tiny_encoder), num_labels=2,
                                                          id2label={0: "NEG", 1: "POS"}, label2id={"NEG": 0, "POS": 1})
    model.save_pretrained(str(folder), safe_serialization=True)
    AutoTokenizer.from_pretrained(str(tiny_encoder)).save_pretrained(str(folder))
    clf = pipeline("text-classification", model=str(folder), engine="torch")
    e = clf.explain("good coffee but bitter tea")[0]
    assert e.label in ("NEG", "POS") and len(e.attributions) == 5
    check_complete(e)


def test_cli_explain_plain_markers_and_json(tiny_classifier):
    r = llmkit("classify", "--model", str(tiny_classifier), "--engine", "torch", "--explain", "the tea was awful")
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    out = r.stdout.decode()
    assert out.startswith("NEGATIVE\t") and "[-awful]" not in out and "[+awful]" in out  # towards NEGATIVE
    assert "\033[" not in out  # not a terminal: markers, no colour codes
    r = llmkit("classify", "--model", str(tiny_classifier), "--explain-label", "POSITIVE", "--json",
               "great coffee", "the tea was awful")
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    rows = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert [row["explained_label"] for row in rows] == ["POSITIVE", "POSITIVE"]
    assert [a["word"] for a in rows[1]["attributions"]] == ["the", "tea", "was", "awful"]
    assert min(rows[1]["attributions"], key=lambda a: a["score"])["word"] == "awful"  # against POSITIVE
    assert "explaining on the torch engine" in r.stderr.decode()  # auto = onnx-int8 here: said once
    bad = llmkit("classify", "--model", str(tiny_classifier), "--explain-label", "MAYBE", "good")
    assert bad.returncode == 2 and "not one of sentiment's labels" in bad.stderr.decode()
    assert "Traceback" not in bad.stderr.decode()


def test_server_applies_the_temperature_and_adds_attributions_when_asked(tiny_classifier):
    from llmkit.serve import ServeSettings
    from llmkit.serve.background import running
    from llmkit.train.calibration import softmax

    texts = [r["text"] for r in toy_sentiment(20, seed=3)]
    clf = pipeline("text-classification", model=str(tiny_classifier))  # the engine the server picks (auto)
    assert clf.temperature != 1.0  # the fine-tune calibrated it (60 validation examples)
    calibrated, raw = [r["score"] for r in clf(texts)], softmax(clf.logits(texts)).max(-1)
    assert max(abs(a - b) for a, b in zip(calibrated, raw)) > 1e-3  # the check has teeth

    settings = ServeSettings(port=0, api_keys=["k"], models=[str(tiny_classifier)])
    with running(settings) as url, httpx.Client(base_url=url, headers={"Authorization": "Bearer k"},
                                                 timeout=120) as http:
        body = {"model": tiny_classifier.name, "input": ["great tasty coffee", "awful stale tea"]}
        plain = http.post("/v1/classifications", json=body).json()["data"]
        assert "attributions" not in plain[0]
        served = http.post("/v1/classifications", json={**body, "input": texts}).json()["data"]
        assert [d["score"] for d in served] == pytest.approx(calibrated, abs=1e-5)  # softmax(logits / T)
        r = http.post("/v1/classifications", json={**body, "explain": True})
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        assert [d["label"] for d in data] == [d["label"] for d in plain]
        assert [d["score"] for d in data] == pytest.approx([d["score"] for d in plain])
        assert [a["word"] for a in data[1]["attributions"]] == ["awful", "stale", "tea"]
        assert abs(data[1]["attribution_delta"]) < 0.05
        assert http.post("/v1/classifications", json={**body, "explain": "maybe"}).status_code == 400
        many = http.post("/v1/classifications", json={**body, "input": ["good"] * 17, "explain": True})
        assert many.status_code == 400 and "at most 16" in many.json()["error"]["message"]


@pytest.mark.real_home
def test_default_sentiment_model_is_complete():
    clf = pipeline("text-classification")
    e = clf.explain("The coffee was stale and bitter, a waste of money.")[0]
    assert e.label == "NEGATIVE"
    check_complete(e)
    assert max(e.attributions, key=lambda a: a["score"])["word"] in ("stale", "bitter,", "waste")
