"""The training loop's mechanics on a tiny random encoder: resume after kill -9, methods, heads, bad input."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from safetensors.torch import load_file

from cli_helpers import llmkit
from llmkit.errors import InputError, TrainingError
from llmkit.train.checkpoint import latest_checkpoint
from llmkit.train.config import TrainConfig
from llmkit.train.finetune import finetune
from tiny import toy_sentiment

# threads pinned: bit-for-bit equality needs the same thread count in this process and the killed subprocess
# (the in-process run would otherwise inherit whatever an earlier test set).
CFG = dict(epochs=2, lr=1e-3, batch_size=16, max_length=16, seed=3, checkpoint_every=2, threads=1)


def _weights(folder):
    return {**load_file(str(folder / "model.safetensors")), **load_file(str(folder / "heads.safetensors"))}


def _killed_at(step, tiny_encoder, output, overwrite=False):
    """The CFG run on toy_sentiment(160) in a subprocess, killed with SIGKILL right after checkpoint ``step``."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(sys.path[0])!r})
        sys.path.insert(0, "tests")
        from tiny import toy_sentiment
        from llmkit.train.config import TrainConfig
        from llmkit.train.finetune import finetune
        def hook(event):
            if event.get("event") == "checkpoint" and event["step"] == {step}:
                os.kill(os.getpid(), signal.SIGKILL)
        finetune({str(tiny_encoder)!r}, toy_sentiment(160), toy_sentiment(40, seed=5), output={str(output)!r},
                 config=TrainConfig(**{CFG!r}), progress=False, on_event=hook, overwrite={overwrite!r})
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]


def test_resume_after_kill_reproduces_the_uninterrupted_run(tiny_encoder, tmp_path):
    data, held = toy_sentiment(160), toy_sentiment(40, seed=5)
    full = finetune(str(tiny_encoder), data, held, output=tmp_path / "full", config=TrainConfig(**CFG), progress=False)
    killed = tmp_path / "killed"
    _killed_at(8, tiny_encoder, killed)
    assert not (killed / "llmkit.json").exists(), "a killed run must not look finished"
    assert latest_checkpoint(killed).name == "step-8"
    with pytest.raises(InputError, match="--resume"):
        finetune(str(tiny_encoder), data, held, output=killed, config=TrainConfig(**CFG), progress=False)
    finetune(str(tiny_encoder), data, held, output=killed, config=TrainConfig(**CFG), progress=False, resume=True)
    a, b = _weights(full), _weights(killed)
    assert a.keys() == b.keys()
    assert all((a[k] == b[k]).all() for k in a), "resumed weights differ from the uninterrupted run"
    assert not (killed / "checkpoints").exists()


@pytest.mark.parametrize("method", ["head", "lora"])
def test_methods_train_and_save_plain_folders(tiny_encoder, tmp_path, method):
    base = load_file(str(tiny_encoder / "model.safetensors"))
    out = finetune(str(tiny_encoder), toy_sentiment(96), toy_sentiment(32, seed=2), output=tmp_path / method,
                   config=TrainConfig(epochs=3, lr=5e-3, batch_size=16, max_length=16, method=method), progress=False)
    body = load_file(str(out / "model.safetensors"))
    changed = any(not (body[k] == base[k]).all() for k in base if k in body)
    assert changed == (method == "lora"), "head-only must leave the body untouched; LoRA merges into it"
    assert not any("lora" in k for k in body), "LoRA adapters are merged before saving"
    from llmkit import pipeline

    assert pipeline("text-classification", model=str(out), engine="torch")("great tasty")[0]["label"] in ("POSITIVE", "NEGATIVE")


def test_multi_label_and_regression_heads(tiny_encoder, tmp_path):
    rows = [{"text": r["text"], "tags": ["pos", "food"] if r["label"] == "POSITIVE" else ["neg"],
             "stars": 5.0 if r["label"] == "POSITIVE" else 1.0} for r in toy_sentiment(96)]
    cfg = TrainConfig(epochs=4, lr=2e-3, batch_size=16, max_length=16)
    ml = finetune(str(tiny_encoder), rows, rows[:32], output=tmp_path / "ml", config=cfg, head_type="multi_label",
                  label_column="tags", progress=False)
    spec = json.loads((ml / "llmkit.json").read_text())["tasks"]["default"]
    assert spec == {"type": "multi_label", "labels": ["food", "neg", "pos"]}
    reg = finetune(str(tiny_encoder), rows, rows[:32], output=tmp_path / "reg", config=cfg, head_type="regression",
                   label_column="stars", progress=False)
    metrics = json.loads((reg / "metrics.json").read_text())["best"]["tasks"]["default"]
    assert metrics["metric_name"] == "neg_mse" and metrics["pearson"] > 0.5


def test_report_and_plots(tiny_encoder, tmp_path):
    out = finetune(str(tiny_encoder), toy_sentiment(64), toy_sentiment(32, seed=4), output=tmp_path / "r",
                   config=TrainConfig(epochs=2, lr=1e-3, batch_size=16, max_length=16), progress=False)
    report = (out / "report.md").read_text()
    assert "macro-F1" in report and "| POSITIVE |" in report
    for png in ("loss.png", "metric.png", "confusion_default.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"


def test_nan_loss_stops_and_keeps_the_last_checkpoint(tiny_encoder, tmp_path):
    rows = [{"text": r["text"], "y": 1.0} for r in toy_sentiment(64)]
    rows[40]["y"] = float("nan")
    out = tmp_path / "nan"
    with pytest.raises(TrainingError, match="last good checkpoint"):
        finetune(str(tiny_encoder), rows, output=out, head_type="regression", label_column="y", progress=False,
                 config=TrainConfig(epochs=1, batch_size=8, max_length=16, checkpoint_every=1, seed=0))
    assert latest_checkpoint(out) is not None
    assert not (out / "llmkit.json").exists()


@pytest.mark.parametrize("content,message", [
    ('{"body": "x", "label": "a"}\n', "no 'text' column (columns: body, label)"),
    ('{"text": "a", "label": "x"}\n{"text": "b", "label": "x"}\n', "at least two classes"),
    ("", "no records"),
    ('{"text": "a", "label": "x"}\nnot json\n', ":2: malformed JSON"),
])
def test_bad_training_data_via_cli(tiny_encoder, tmp_path, content, message):
    f = tmp_path / "train.jsonl"
    f.write_text(content)
    r = llmkit("finetune", "--model", str(tiny_encoder), "--train", str(f), "--output", str(tmp_path / "o"), "-q")
    assert r.returncode == 2, r.stderr
    assert message in r.stderr.decode() and "Traceback" not in r.stderr.decode()
    assert not (tmp_path / "o" / "llmkit.json").exists()


def test_cli_finetune_then_classify_and_evaluate_in_new_processes(tiny_encoder, tmp_path):
    train, test = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    train.write_text("\n".join(json.dumps(r) for r in toy_sentiment(160)))
    test.write_text("\n".join(json.dumps(r) for r in toy_sentiment(40, seed=7)))
    unseen = tmp_path / "unseen.jsonl"
    unseen.write_text('{"text": "good", "label": "MIXED"}\n')
    out = tmp_path / "model"
    cfg = tmp_path / "run.yaml"
    cfg.write_text("epochs: 5\nlr: 0.001\nbatch_size: 16\nmax_length: 16\n")
    r = llmkit("finetune", "--config", str(cfg), "--model", str(tiny_encoder), "--train", str(train),
               "--eval", str(test), "--output", str(out), "-q")
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    assert json.loads((out / "run_config.json").read_text())["config"]["epochs"] == 5
    r = llmkit("classify", "--model", str(out), "--json", "great tasty love", "awful stale bitter")
    assert [json.loads(l)["label"] for l in r.stdout.decode().splitlines()] == ["POSITIVE", "NEGATIVE"]
    r = llmkit("evaluate", str(out), "--data", str(test), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["default"]["accuracy"] >= 0.9
    r = llmkit("evaluate", str(out), "--data", str(unseen))
    assert r.returncode == 2 and "never occur in the training data" in r.stderr.decode()
    r = llmkit("finetune", "--model", str(tiny_encoder), "--train", str(train), "--output", str(out), "-q")
    assert r.returncode == 2 and "--overwrite" in r.stderr.decode()


# ------------------------------------------------------------------ --overwrite: validate first, replace at the end

TEXTS = ["great tasty love", "awful stale bitter", "the tea was fresh", "bitter coffee"]


def _scores(folder):
    from llmkit import pipeline

    clf = pipeline("text-classification", model=str(folder), engine="torch")
    return [[(d["label"], round(d["score"], 6)) for d in row] for row in clf(TEXTS, top_k=None)]


def _old_model(tiny_encoder, folder):
    finetune(str(tiny_encoder), toy_sentiment(64), toy_sentiment(16, seed=5), output=folder, progress=False,
             config=TrainConfig(epochs=1, lr=1e-3, batch_size=16, max_length=16, seed=1, threads=1))
    (folder / "notes.txt").write_text("mine")  # a user's own file in the folder survives a replacement
    return _scores(folder), (folder / "heads.safetensors").read_bytes()


def test_overwrite_with_a_bad_train_file_leaves_the_old_model_loadable(tiny_encoder, tmp_path):
    out = tmp_path / "model"
    before, _ = _old_model(tiny_encoder, out)
    r = llmkit("finetune", "--model", str(tiny_encoder), "--train", str(tmp_path / "typo.jsonl"), "--output", str(out),
               "--overwrite", "-q")
    err = r.stderr.decode()
    assert r.returncode == 2 and "typo.jsonl" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert _scores(out) == before
    bad_labels = tmp_path / "one_class.jsonl"
    bad_labels.write_text('{"text": "a", "label": "x"}\n{"text": "b", "label": "x"}\n{"text": "c", "label": "x"}\n')
    r = llmkit("finetune", "--model", str(tiny_encoder), "--train", str(bad_labels), "--output", str(out),
               "--overwrite", "-q")
    assert r.returncode == 2 and "at least two classes" in r.stderr.decode()
    assert _scores(out) == before and (out / "notes.txt").read_text() == "mine"


def test_kill_during_overwrite_keeps_the_old_model_and_resume_replaces_it(tiny_encoder, tmp_path):
    out = tmp_path / "model"
    before, old_heads = _old_model(tiny_encoder, out)
    _killed_at(4, tiny_encoder, out, overwrite=True)
    assert _scores(out) == before, "a run killed mid-way must leave the old model as it was"
    data, held = toy_sentiment(160), toy_sentiment(40, seed=5)
    finetune(str(tiny_encoder), data, held, output=out, config=TrainConfig(**CFG), progress=False, resume=True)
    assert (out / "heads.safetensors").read_bytes() != old_heads and _scores(out) != before
    full = finetune(str(tiny_encoder), data, held, output=tmp_path / "full", config=TrainConfig(**CFG), progress=False)
    a, b = _weights(full), _weights(out)
    assert all((a[k] == b[k]).all() for k in a), "the resumed --overwrite run differs from an uninterrupted one"
    assert (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full", "model"], "no staging folder is left behind"


# ------------------------------------------------------------------ model selection never on the test split

def test_selection_data_is_named_and_the_test_data_scored_once_at_the_end(tiny_encoder, tmp_path):
    events = []
    test = toy_sentiment(30, seed=9)
    out = finetune(str(tiny_encoder), toy_sentiment(100), output=tmp_path / "m", test_data=test, progress=False,
                   config=TrainConfig(epochs=2, lr=1e-3, batch_size=16, max_length=16, eval_every=2),
                   on_event=events.append)
    metrics = json.loads((out / "metrics.json").read_text())
    held = "<100 records> (10 records held out: 0.1 of the training data, seed 42)"  # in-memory data, named
    assert metrics["selection"]["default"] == {"eval": held, "test": "<30 records>", "selected_on_test": False}
    assert metrics["best"]["tasks"]["default"]["n"] == 10  # selection on the 10% carved from train ...
    assert [e["event"] for e in events].count("test") == 1  # ... the test data scored once, after training
    assert events[-1]["event"] == "test" and metrics["test"]["default"]["n"] == 30
    assert all(e["step"] <= metrics["steps"] for e in events if e["event"] == "eval")
    report = (out / "report.md").read_text()
    assert f"Model selection (best checkpoint, early stopping) on: {held}." in report
    assert f"Test (<30 records>, 30 examples, scored once at the end): accuracy **{metrics['test']['default']['accuracy']:.4f}**" in report


def test_carved_validation_split_is_deterministic_with_the_seed():
    from llmkit.train.task_data import prepare_task

    rows = [{"text": f"text {i}", "label": "a" if i % 3 else "b"} for i in range(50)]
    one, again, other = (prepare_task("t", rows, seed=s) for s in (1, 1, 2))
    assert one.eval.texts == again.eval.texts and one.train.texts == again.train.texts
    assert one.eval.texts != other.eval.texts
    assert len(one.eval.texts) == 5 and not set(one.eval.texts) & set(one.train.texts)
    assert len(prepare_task("t", rows, eval_split=0.2, seed=1).eval.texts) == 10


@pytest.mark.parametrize("eval_arg", ["fine_food_reviews:test", "fine_food_reviews"])
def test_a_test_split_as_eval_is_refused_without_select_on_test(tiny_encoder, tmp_path, eval_arg):
    r = llmkit("finetune", "--model", str(tiny_encoder), "--train", "fine_food_reviews", "--eval", eval_arg,
               "--output", str(tmp_path / "o"), "-q")
    err = r.stderr.decode()
    assert r.returncode == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "is a test split" in err and "--select-on-test" in err
    assert not (tmp_path / "o").exists()


def test_select_on_test_runs_and_the_report_says_so(tiny_encoder, tmp_path):
    test = tmp_path / "test.jsonl"
    test.write_text("\n".join(json.dumps({"text": r["text"], "label": "great" if r["label"] == "POSITIVE" else "other"})
                              for r in toy_sentiment(16, seed=7)))
    out = tmp_path / "o"
    # a built-in test split as --eval with the flag; a file as --test
    r = llmkit("finetune", "--model", str(tiny_encoder), "--train", "fine_food_reviews", "--eval",
               "fine_food_reviews:test", "--select-on-test", "--test", str(test), "--output", str(out),
               "--epochs", "0.05", "--batch-size", "64", "--max-length", "8", "-q")
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    stdout = r.stdout.decode()
    assert "on the selection data, fine_food_reviews:test (a test split: optimistic)" in stdout
    assert f"on the test data, {test}" in stdout
    assert "**Selected on a test split (--select-on-test)**" in (out / "report.md").read_text()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["selection"]["default"]["selected_on_test"] and metrics["test"]["default"]["n"] == 16


# ------------------------------------------------------------------ the Python API takes what the CLI takes

def test_python_finetune_takes_the_cli_config_and_writes_to_the_cli_default_folder(tiny_encoder, tmp_path, monkeypatch):
    from pathlib import Path

    import llmkit as api

    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in toy_sentiment(60)))
    options = {"model": str(tiny_encoder), "train": str(data), "epochs": 1, "batch_size": 16, "max_length": 16,
               "seed": 5, "threads": 1}
    (tmp_path / "run.yaml").write_text("".join(f"{k.replace('_', '-')}: {v}\n" for k, v in options.items()))
    r = llmkit("finetune", "--config", str(tmp_path / "run.yaml"), "--output", str(tmp_path / "cli"), "-q")
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    monkeypatch.chdir(tmp_path)
    out = api.finetune(config="run.yaml", progress=False)  # a YAML path, as `llmkit finetune --config`
    assert out.parent == Path("runs") and out.name.startswith("finetune-") and (out / "llmkit.json").exists()
    assert json.loads((out / "run_config.json").read_text())["config"]["seed"] == 5
    # a dict with the same keys; an argument wins over the config, as a flag does
    mine = api.finetune(train=data, config={**options, "train": "ignored", "output": "ignored"},
                        output=tmp_path / "mine", progress=False)  # data as a Path too
    assert mine == tmp_path / "mine" and not (tmp_path / "ignored").exists()
    w = _weights(out)
    for other in (mine, tmp_path / "cli"):
        o = _weights(other)
        assert all((w[k] == o[k]).all() for k in w), f"{other.name}: same options, same seed, other weights"
    with pytest.raises(InputError, match=r"unknown option\(s\) \['epoch'\]"):
        api.finetune(config={**options, "epoch": 2}, output=tmp_path / "typo", progress=False)
    with pytest.raises(InputError, match="no training data"):
        api.finetune(config={"epochs": 1}, output=tmp_path / "typo", progress=False)
    assert not (tmp_path / "typo").exists()
