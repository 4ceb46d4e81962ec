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


def test_resume_after_kill_reproduces_the_uninterrupted_run(tiny_encoder, tmp_path):
    data, held = toy_sentiment(160), toy_sentiment(40, seed=5)
    full = finetune(str(tiny_encoder), data, held, output=tmp_path / "full", config=TrainConfig(**CFG), progress=False)
    killed = tmp_path / "killed"
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(sys.path[0])!r})
        sys.path.insert(0, "tests")
        from tiny import toy_sentiment
        from llmkit.train.config import TrainConfig
        from llmkit.train.finetune import finetune
        def hook(event):
            if event.get("event") == "checkpoint" and event["step"] == 8:
                os.kill(os.getpid(), signal.SIGKILL)
        finetune({str(tiny_encoder)!r}, toy_sentiment(160), toy_sentiment(40, seed=5), output={str(killed)!r},
                 config=TrainConfig(**{CFG!r}), progress=False, on_event=hook)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
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
