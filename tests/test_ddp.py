"""Training on two processes (torchrun, gloo, 1 thread each) against one: same curve, same model; a killed rank is
one clear line and the run resumes from its last checkpoint; a checkpoint resumes only at its own world size."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli_helpers import llmkit
from tiny import toy_sentiment

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent
# eval every 2 steps: the curve has 10 points; --threads 1: each rank one core, as the 2 x 1
FLAGS = ("--epochs", "2", "--lr", "1e-3", "--batch-size", "16", "--max-length", "16", "--seed", "3", "--threads", "1",
         "--eval-every", "2", "-q")


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("ddp-data")
    return _jsonl(d / "train.jsonl", toy_sentiment(160)), _jsonl(d / "dev.jsonl", toy_sentiment(40, seed=5))


def _args(enc, data, out, *extra):
    train, dev = data
    return ["finetune", "--model", str(enc), "--train", str(train), "--eval", str(dev), "--test", str(dev),
            "--output", str(out), *FLAGS, *extra]


def _curve(out: Path) -> list[float]:
    return [row["train_loss"] for row in json.loads((out / "metrics.json").read_text())["history"]]


def _scores(out: Path, texts: list[str]) -> list[float]:
    from llmkit import pipeline

    clf = pipeline("text-classification", model=str(out), engine="torch")
    return [next(d["score"] for d in row if d["label"] == "POSITIVE") for row in clf(texts, top_k=None)]


def test_two_ranks_train_the_model_one_process_trains(tiny_encoder, data, tmp_path):
    """Without dropout (the one randomness a rank draws for itself) the curves agree to float rounding; with it
    (llmkit's own launcher, below) they agree within noise and the models predict alike."""
    env = {"OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(HERE.parent / "src"), str(HERE)])}
    one = subprocess.run([sys.executable, str(HERE / "ddp_run.py"), *_args(tiny_encoder, data, tmp_path / "one")],
                         capture_output=True, text=True, env={**os.environ, **env}, timeout=300)
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          str(HERE / "ddp_run.py"), *_args(tiny_encoder, data, tmp_path / "two")],
                         capture_output=True, text=True, env={**os.environ, **env}, timeout=300)
    assert two.returncode == 0, two.stderr[-2000:]
    assert two.stdout.count("model saved to") == 1  # rank 0 alone reports
    assert _curve(tmp_path / "one") == pytest.approx(_curve(tmp_path / "two"), abs=1e-5)
    texts = [r["text"] for r in toy_sentiment(40, seed=9)]
    assert _scores(tmp_path / "two", texts) == pytest.approx(_scores(tmp_path / "one", texts), abs=1e-4)
    run = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert run["train_samples_per_second"] > 0
    assert not list((tmp_path / "two").glob(".*"))  # no temp folder left behind by either rank

    # llmkit's own launcher (--nproc-per-node 2 -> torchrun), dropout on: the same curve within noise
    r = llmkit(*_args(tiny_encoder, data, tmp_path / "cli2", "--nproc-per-node", "2"))
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    assert r.stdout.decode().count("model saved to") == 1
    r = llmkit(*_args(tiny_encoder, data, tmp_path / "cli1"))
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    assert _curve(tmp_path / "cli2") == pytest.approx(_curve(tmp_path / "cli1"), abs=0.06)
    s1, s2 = _scores(tmp_path / "cli1", texts), _scores(tmp_path / "cli2", texts)
    assert [s > 0.5 for s in s1] == [s > 0.5 for s in s2]
    assert s2 == pytest.approx(s1, abs=0.1)


def _ranks(parent: int) -> dict[int, int]:
    """{rank: pid} of the training processes under ``parent`` (torchrun sets RANK in their environment)."""
    import psutil

    found = {}
    for p in psutil.Process(parent).children(recursive=True):
        try:
            rank = p.environ().get("RANK")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if rank is not None and "llmkit.cli" in " ".join(p.cmdline()):
            found[int(rank)] = p.pid
    return found


def test_kill_9_of_one_rank_is_one_line_and_the_run_resumes(tiny_encoder, tmp_path):
    train = _jsonl(tmp_path / "train.jsonl", toy_sentiment(320))
    out = tmp_path / "run"
    args = ["finetune", "--model", str(tiny_encoder), "--train", str(train), "--output", str(out), "--epochs", "2",
            "--lr", "1e-3", "--batch-size", "16", "--max-length", "16", "--threads", "1", "--checkpoint-every", "2",
            "-q", "--nproc-per-node", "2"]
    proc = subprocess.Popen([sys.executable, "-m", "llmkit.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    latest = out / "checkpoints" / "LATEST"
    deadline = time.monotonic() + 240
    while not latest.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    ranks = _ranks(proc.pid)
    assert sorted(ranks) == [0, 1], proc.poll()
    for pid in ranks.values():  # freeze both, so the kill lands mid-run however fast the steps are
        os.kill(pid, signal.SIGSTOP)
    step = latest.read_text().strip()
    os.kill(ranks[1], signal.SIGKILL)
    os.kill(ranks[0], signal.SIGCONT)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 6  # TrainingError
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1].startswith("llmkit: error: training process rank 1 of 2 stopped (signal SIGKILL)"), err[-3000:]
    assert "--resume" in lines[-1]
    assert "Traceback" not in err
    assert not (out / "llmkit.json").exists()  # no half model
    assert (out / "checkpoints" / step / "state.json").exists()

    # the checkpoint was cut for 2 processes: 1 is refused in one line, and nothing in the folder changes
    before = sorted(p.name for p in (out / "checkpoints").iterdir())
    r = llmkit(*args[:-2], "--resume")  # without --nproc-per-node 2
    assert r.returncode == 2
    assert r.stderr.decode().strip().splitlines() == [
        f"llmkit: error: the checkpoint in {out} was written by 2 training process(es) and this run has 1; resume "
        "with --nproc-per-node 2 (x --nnodes) or start again with --overwrite."]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == before

    r = llmkit(*args, "--resume")
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    assert (out / "llmkit.json").exists()
    assert json.loads((out / "metrics.json").read_text())["steps"] == 36  # 288 (320 less 10% held out) / 16 x 2 epochs: all


def test_launch_flags_are_checked_before_anything_starts(tmp_path):
    r = llmkit("finetune", "--train", "x.jsonl", "--nnodes", "2", "--output", str(tmp_path / "o"))
    assert r.returncode == 2
    assert r.stderr.decode().strip() == ("llmkit: error: --nnodes > 1 needs --rdzv-endpoint HOST:PORT (a machine "
                                         "every node can reach).")
    assert not (tmp_path / "o").exists()


def test_multitask_on_two_ranks_with_baselines(tiny_encoder, tmp_path):
    """Several forwards per step (one per task), the baselines first, rank 0 writes it all once."""
    rows = toy_sentiment(96)
    topic = [{"text": r["text"], "topic": "drink" if {"tea", "coffee"} & set(r["text"].split()) else "food"}
             for r in rows]
    s, t = _jsonl(tmp_path / "s.jsonl", rows), _jsonl(tmp_path / "t.jsonl", topic)
    (tmp_path / "tasks.yaml").write_text(
        f"model: {tiny_encoder}\nepochs: 1\nmax_length: 16\nbatch_size: 16\nlr: 0.002\nthreads: 1\n"
        "tasks_per_step: all\n"
        f"tasks:\n  - {{name: sentiment, train: {s}}}\n  - {{name: topic, train: {t}, label_column: topic}}\n")
    out = tmp_path / "multi"
    r = llmkit("multitask", "--config", str(tmp_path / "tasks.yaml"), "--baselines", "--output", str(out), "-q",
               "--nproc-per-node", "2")
    assert r.returncode == 0, r.stderr.decode()[-3000:]
    assert r.stdout.decode().count("model saved to") == 1
    assert set(json.loads((out / "llmkit.json").read_text())["tasks"]) == {"sentiment", "topic"}
    assert sorted(p.name for p in (out / "baselines").iterdir()) == ["sentiment", "topic"]
