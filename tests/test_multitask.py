"""Multi-task training end to end on a tiny random encoder: CLI, baselines + report, MMoE serving through both
engines, bit-exact resume of a stateful strategy after kill -9, and bad input (one line, non-zero exit)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from safetensors.torch import load_file

from cli_helpers import llmkit
from llmkit.errors import InputError
from llmkit.train.checkpoint import latest_checkpoint
from llmkit.train.mtl_report import compare, eval_noise_points
from llmkit.train.multitask import multitask
from tiny import toy_sentiment

TINY = dict(epochs=2, lr=1e-3, batch_size=16, max_length=16, seed=3, threads=1)


def topic_rows(n, seed=0):
    """A second task on the same vocabulary: is it about a drink (tea/coffee) or not."""
    return [{"text": r["text"], "topic": "drink" if {"tea", "coffee"} & set(r["text"].split()) else "food"}
            for r in toy_sentiment(n, seed=seed + 11)]


def write_jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return str(path)


def config(encoder, **extra):
    return {"model": str(encoder), **TINY, **extra,
            "tasks": [{"name": "sentiment", "train": toy_sentiment(96), "eval": toy_sentiment(32, seed=5)},
                      {"name": "topic", "train": topic_rows(96), "eval": topic_rows(32, seed=6),
                       "label_column": "topic"}]}


def test_cli_two_tasks_with_baselines_report_classify_and_evaluate(tiny_encoder, tmp_path):
    files = {k: write_jsonl(tmp_path / f"{k}.jsonl", rows) for k, rows in {
        "s_train": toy_sentiment(128), "s_test": toy_sentiment(32, seed=5),
        "t_train": topic_rows(96), "t_test": topic_rows(32, seed=6)}.items()}
    (tmp_path / "tasks.yaml").write_text(textwrap.dedent(f"""
        model: {tiny_encoder}
        weighting: pcgrad
        epochs: 4
        max_length: 16
        batch_size: 16
        lr: 0.002
        threads: 1
        tasks:
          - {{name: sentiment, train: {files['s_train']}, eval: {files['s_test']}}}
          - {{name: topic, train: {files['t_train']}, eval: {files['t_test']}, label_column: topic, metric: macro_f1}}
    """))
    out = tmp_path / "multi"
    r = llmkit("multitask", "--config", str(tmp_path / "tasks.yaml"), "--baselines", "--output", str(out), "-q")
    assert r.returncode == 0, r.stderr.decode()[-3000:]
    assert "Delta_m vs single-task" in r.stdout.decode()
    manifest = json.loads((out / "llmkit.json").read_text())
    assert set(manifest["tasks"]) == {"sentiment", "topic"} and "architecture" not in manifest
    report = (out / "report.md").read_text()
    assert "| sentiment | accuracy |" in report and "| topic | macro_f1 |" in report and "Delta_m" in report
    assert "parameters" in report and "training time" in report
    cmp = json.loads((out / "comparison.json").read_text())
    assert {r["task"] for r in cmp["rows"]} == {"sentiment", "topic"}
    joint = json.loads((out / "metrics.json").read_text())["best"]["tasks"]
    for row in cmp["rows"]:  # the report's numbers are the runs' numbers
        assert row["joint"] == joint[row["task"]]["metric"]
        single = json.loads((out / "baselines" / row["task"] / "result.json").read_text())
        assert row["single"] == single["metric"] and row["negative_transfer"] == (row["joint"] < row["single"])
        if row["metric_name"] == "accuracy":  # the noise band comes from the number of evaluation examples
            assert row["noise_points"] == pytest.approx(eval_noise_points(row["single"], single["best"]["n"]))
    assert cmp["delta_m"] == pytest.approx(sum(r["relative"] for r in cmp["rows"]) / 2)
    assert cmp["joint"]["params"] < sum(s["params"] for s in cmp["singles"].values())
    for png in ("comparison.png", "delta.png", "weights.png", "metric.png", "confusion_topic.png",
                "reliability_sentiment.png", "reliability_topic.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG", png
    calibration = json.loads((out / "metrics.json").read_text())["calibration"]  # each head, on its 32 eval rows
    assert {k: c["temperature"] for k, c in calibration.items()} == manifest["temperatures"]
    assert "## Calibration" in report and all(f"| {k} | 32 |" in report for k in ("sentiment", "topic"))
    assert joint["sentiment"]["metric"] >= 0.9, "the joint model learns the separable toy task"
    from llmkit import pipeline  # (the classify CLI's --task is the same pipeline call)

    clf = pipeline("text-classification", model=str(out), engine="torch", task="sentiment")
    assert [p["label"] for p in clf(["great tasty love", "awful stale bitter"])] == ["POSITIVE", "NEGATIVE"]
    r = llmkit("evaluate", str(out), "--engine", "torch", "--json")
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    scores = json.loads(r.stdout)
    assert set(scores) == {"sentiment", "topic"} and scores["sentiment"]["n"] == 32


def test_mmoe_folder_serves_every_head_through_torch_and_onnx(tiny_encoder, tmp_path):
    from llmkit import pipeline

    out = multitask(config(tiny_encoder, architecture="mmoe", experts=3, weighting="famo", sampler="temperature"),
                    output=tmp_path / "mmoe", progress=False)
    manifest = json.loads((out / "llmkit.json").read_text())
    assert manifest["architecture"]["type"] == "mmoe" and manifest["architecture"]["experts"] == 3
    assert any(k.startswith("mixer.gates.topic") for k in load_file(str(out / "heads.safetensors")))
    from llmkit.modeling import TextModel

    model = TextModel.load(out)
    assert model.mixer is not None and model.mixer.n_experts == 3
    texts = ["great tasty love tea", "awful stale bitter snack", "good coffee", "terrible the box"]
    torch_logits = pipeline("text-classification", model=str(out), engine="torch", task="topic").logits(texts)
    onnx_clf = pipeline("text-classification", model=str(out), engine="onnx-int8", task="topic")
    assert onnx_clf.engine == "onnx-int8" and onnx_clf.logits(texts).shape == torch_logits.shape
    # the exported graph (before int8 quantisation, whose noise swamps a 32-wide random model) runs the mixer
    import onnxruntime as ort
    import torch
    from transformers import AutoTokenizer

    from llmkit.engines.onnx_encoder import _ExportWrapper

    enc = AutoTokenizer.from_pretrained(str(out))(texts, padding=True, return_tensors="pt")
    wrapper = _ExportWrapper(model, ["sentiment", "topic"]).eval()
    torch.onnx.export(wrapper, (enc["input_ids"], enc["attention_mask"]), str(tmp_path / "fp32.onnx"), dynamo=False,
                      input_names=["input_ids", "attention_mask"], output_names=["pooled", "sentiment", "topic"])
    sess = ort.InferenceSession(str(tmp_path / "fp32.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(["topic"], {"input_ids": enc["input_ids"].numpy(), "attention_mask": enc["attention_mask"].numpy()})[0]
    with torch.inference_mode():
        pooled = model.encode(enc["input_ids"], enc["attention_mask"])
        with_mixer = model.task_head(pooled, "topic").numpy()
        model.mixer.experts[0][2].weight.add_(1.0)  # a different mixer gives different logits: the check has teeth
        changed = model.task_head(pooled, "topic").numpy()
    assert abs(got - with_mixer).max() < 1e-4 and abs(changed - with_mixer).max() > 1e-2
    assert abs(torch_logits - with_mixer).max() < 1e-4  # the torch engine serves the mixer too


def test_auxiliary_task_helps_train_but_is_not_selected_on_or_saved(tiny_encoder, tmp_path):
    from llmkit import pipeline

    cfg = config(tiny_encoder, architecture="mmoe", experts=2, eval_every=3)
    cfg["tasks"][1]["auxiliary"] = True
    out = multitask(cfg, output=tmp_path / "aux", progress=False)
    manifest = json.loads((out / "llmkit.json").read_text())
    assert list(manifest["tasks"]) == ["sentiment"] and manifest["default_task"] == "sentiment"
    assert "auxiliary in training: topic" in manifest["description"]
    weights = load_file(str(out / "heads.safetensors"))
    assert not any(".topic." in k or k.endswith(".topic") for k in weights) and "sentiment.weight" in weights
    metrics = json.loads((out / "metrics.json").read_text())
    evals = [h for h in metrics["history"] if "eval" in h]
    assert all("topic" in h["eval"] for h in evals)  # the auxiliary task is still scored while training ...
    best = max(h["eval"]["sentiment"]["metric"] for h in evals)
    assert metrics["best"]["tasks"]["sentiment"]["metric"] == best  # ... but the kept weights are sentiment's best
    assert "auxiliary" in (out / "report.md").read_text()
    clf = pipeline("text-classification", model=str(out), engine="torch")
    assert clf.task == "sentiment" and clf(["great tasty love"])[0]["label"] in ("POSITIVE", "NEGATIVE")
    with pytest.raises(InputError, match="no head 'topic'"):
        pipeline("text-classification", model=str(out), engine="torch", task="topic")


def test_resume_after_kill_reproduces_a_stateful_strategy_run(tiny_encoder, tmp_path):
    cfg = config(tiny_encoder, weighting="dwa", weighting_options={"period": 2}, checkpoint_every=3)
    full = multitask(cfg, output=tmp_path / "full", progress=False)
    killed = tmp_path / "killed"
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path[:0] = [{str(sys.path[0])!r}, "tests"]
        from test_multitask import config
        from llmkit.train.multitask import multitask
        def hook(event):
            if event.get("event") == "checkpoint" and event["step"] == 6:
                os.kill(os.getpid(), signal.SIGKILL)
        multitask(config({str(tiny_encoder)!r}, weighting="dwa", weighting_options={{"period": 2}},
                  checkpoint_every=3), output={str(killed)!r}, progress=False, on_event=hook)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    assert latest_checkpoint(killed).name == "step-6" and not (killed / "llmkit.json").exists()
    with pytest.raises(InputError, match="--resume"):
        multitask(cfg, output=killed, progress=False)
    multitask(cfg, output=killed, progress=False, resume=True)
    for name in ("model.safetensors", "heads.safetensors"):
        a, b = load_file(str(full / name)), load_file(str(killed / name))
        assert all((a[k] == b[k]).all() for k in a), f"{name} differs after resume"
    weights_full = json.loads((full / "metrics.json").read_text())["history"]
    assert weights_full == json.loads((killed / "metrics.json").read_text())["history"]


@pytest.mark.parametrize("change,message", [
    (lambda c: c["tasks"].append(dict(c["tasks"][0])), "duplicate task name(s) ['sentiment']"),
    (lambda c: c["tasks"][1].update(train=[]), "task 'topic': no training data"),
    (lambda c: c["tasks"][1].update(label_column="missing"), "task 'topic':"),
    (lambda c: c["tasks"][1].update(head="regression"), "regression needs numeric"),
    (lambda c: c["tasks"][0].update(metric="pearson"), "does not fit a single_label head"),
    (lambda c: c["tasks"][0].update(head="ordinal"), "head 'ordinal' is unknown"),
    (lambda c: c.update(weighting="magic"), "weighting must be one of"),
    (lambda c: c.update(tasks=[]), "no tasks"),
    (lambda c: c.update(learning_rate=1), "unknown option(s) ['learning_rate']"),
    (lambda c: [t.update(auxiliary=True) for t in c["tasks"]], "every task is auxiliary"),
    (lambda c: c["tasks"][1].update(auxiliary="yes"), "auxiliary must be true or false"),
])
def test_bad_configs_fail_with_one_clear_line(tiny_encoder, tmp_path, change, message):
    cfg = config(tiny_encoder)
    change(cfg)
    with pytest.raises(InputError) as err:
        multitask(cfg, output=tmp_path / "o", progress=False)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "o" / "llmkit.json").exists()


def test_mismatched_head_type_against_a_multitask_base_and_cli_exit_code(tiny_encoder, tmp_path):
    base = multitask(config(tiny_encoder, epochs=1), output=tmp_path / "base", progress=False)
    cfg = config(base)
    cfg["tasks"][1]["head"] = "multi_label"
    with pytest.raises(InputError, match="'topic' is a single_label head"):
        multitask(cfg, output=tmp_path / "o", progress=False)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    (tmp_path / "bad.yaml").write_text(f"model: {tiny_encoder}\ntasks:\n  - {{name: a, train: {empty}}}\n")
    r = llmkit("multitask", "--config", str(tmp_path / "bad.yaml"), "--output", str(tmp_path / "o2"), "-q")
    err = r.stderr.decode()
    assert r.returncode == 2 and "task 'a':" in err and "no records" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_subset_keeps_every_class_and_is_fixed_by_the_seed():
    from llmkit.train.data import subset

    rows = [{"text": f"t{i}", "label": "common"} for i in range(500)] + [{"text": "r", "label": "rare"}]
    picked = subset(rows, 10, seed=3)
    assert len(picked) == 10 and {r["label"] for r in picked} == {"common", "rare"}
    assert picked == subset(rows, 10, seed=3) and picked != subset(rows, 10, seed=4)
    assert subset(rows, None, seed=3) is rows and subset(rows, 9999, seed=3) is rows


def test_noise_band_is_two_standard_errors_of_a_difference():
    # p = 0.8 on n = 1000: SE of one accuracy sqrt(0.8 * 0.2 / 1000) = 1.265 points; of a difference x sqrt(2);
    # the band is two of those: 3.58 points.
    assert eval_noise_points(0.8, 1000) == pytest.approx(3.578, abs=1e-3)
    assert eval_noise_points(0.8, None) is None
    singles = {"a": {"metric": 0.80, "metric_name": "accuracy", "best": {"n": 1000}},
               "b": {"metric": 0.80, "metric_name": "accuracy", "best": {"n": 1000}},
               "c": {"metric": -0.5, "metric_name": "neg_mse", "best": {"n": 1000}}}
    joint = {"a": {"metric": 0.79}, "b": {"metric": 0.75}, "c": {"metric": -0.6}}
    rows = {r["task"]: r for r in compare(joint, singles)["rows"]}
    assert rows["a"]["negative_transfer"] and rows["a"]["within_noise"]  # -1 point: inside the band
    assert rows["b"]["negative_transfer"] and not rows["b"]["within_noise"]  # -5 points: outside it
    assert rows["c"]["noise_points"] is None and not rows["c"]["within_noise"]  # regression: no band


def test_a_test_split_as_eval_is_refused_without_select_on_test(tiny_encoder, tmp_path):
    from llmkit.train.mtl_config import MultitaskConfig

    task = {"name": "sentiment", "train": "fine_food_reviews", "eval": "fine_food_reviews"}
    with pytest.raises(InputError, match=r"task 'sentiment': eval fine_food_reviews:test is a test split.*"
                                         r"set select_on_test: true"):
        MultitaskConfig.from_dict({"tasks": [task]})
    allowed = MultitaskConfig.from_dict({"tasks": [{**task, "select_on_test": True}]}).tasks[0]
    assert (allowed.eval, allowed.test) == ("fine_food_reviews:test", "fine_food_reviews:test")
    (tmp_path / "t.yaml").write_text("tasks:\n  - {name: s, train: fine_food_reviews, eval: fine_food_reviews:test}\n")
    r = llmkit("multitask", "--config", str(tmp_path / "t.yaml"), "--output", str(tmp_path / "o"), "-q")
    err = r.stderr.decode()
    assert r.returncode == 2 and len(err.strip().splitlines()) == 1 and "select_on_test" in err
    assert not (tmp_path / "o").exists()


def test_selection_on_held_out_train_and_the_comparison_on_the_test_data(tiny_encoder, tmp_path):
    cfg = config(tiny_encoder)
    for t, test in zip(cfg["tasks"], (toy_sentiment(24, seed=8), topic_rows(24, seed=9))):
        t.pop("eval")
        t["test"] = test
    out = multitask(cfg, output=tmp_path / "m", baselines=True, progress=False)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["selection"]["sentiment"]["eval"] == "<96 records> (9 records held out: 0.1 of the training data, seed 3)"
    assert {k: m["n"] for k, m in metrics["best"]["tasks"].items()} == {"sentiment": 9, "topic": 9}
    assert {k: m["n"] for k, m in metrics["test"].items()} == {"sentiment": 24, "topic": 24}
    cmp = json.loads((out / "comparison.json").read_text())
    for row in cmp["rows"]:  # single vs joint on the test data, which neither model was chosen on
        assert row["joint"] == metrics["test"][row["task"]]["metric"]
        assert row["single"] == cmp["singles"][row["task"]]["test"]["metric"]
    report = (out / "report.md").read_text()
    assert "Compared on: each task's test data" in report and "Model selection (best checkpoint" in report


def test_overwrite_with_a_bad_config_leaves_the_old_model_loadable(tiny_encoder, tmp_path):
    from llmkit import pipeline

    out = multitask(config(tiny_encoder, epochs=1), output=tmp_path / "m", progress=False)
    before = pipeline("text-classification", model=str(out), engine="torch", task="topic")(["tea", "snack"], top_k=None)
    (tmp_path / "t.yaml").write_text(f"model: {tiny_encoder}\ntasks:\n  - {{name: s, train: {tmp_path / 'typo.jsonl'}}}\n")
    r = llmkit("multitask", "--config", str(tmp_path / "t.yaml"), "--output", str(out), "--overwrite", "-q")
    err = r.stderr.decode()
    assert r.returncode == 2 and "typo.jsonl" in err and len(err.strip().splitlines()) == 1
    after = pipeline("text-classification", model=str(out), engine="torch", task="topic")(["tea", "snack"], top_k=None)
    assert after == before
