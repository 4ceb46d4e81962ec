"""`llmkit batch` on Ray Data (issue 18 §1), with 2 local workers x 1 thread: the same labels and scores as
`llmkit classify --file`, every id exactly once, a killed worker retried, an interrupted job resumed, and the bad
inputs refused in one line. Each Ray run starts a local Ray (tens of seconds on a busy machine): marked slow."""
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

ROOT = Path(__file__).resolve().parents[1]
JOB = ["--workers", "2", "--threads-per-worker", "1"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def write_reviews(path: Path, n: int, extra: list[dict] = ()) -> list[dict]:
    from llmkit.train.data import load_dataset

    rows = [{"id": f"ff-{i:05d}", "text": r["text"]} for i, r in enumerate(load_dataset("fine_food_reviews",
                                                                                        split="train")[:n])]
    with open(path, "w", encoding="utf-8") as f:
        for r in [*rows, *extra]:
            f.write(json.dumps(r) + "\n")
    return rows


def read_output(out: Path) -> list[dict]:
    import pyarrow.parquet as pq

    rows = []
    for part in sorted(out.glob("part-*.parquet")):
        rows += pq.read_table(part).to_pylist()
    return rows


def start(*args: str, ignoring_sigint: bool = False) -> subprocess.Popen:
    """The command in its own process group, as a shell starts a job. ``ignoring_sigint``: with SIGINT ignored, as
    a non-interactive shell starts a background job (``cmd &``), and as the suite's commands inherit it when the
    suite itself was started that way."""
    command = [sys.executable, "-m", "llmkit.cli", "batch", *args]
    if ignoring_sigint:
        command = ["bash", "-c", 'trap "" INT; exec "$@"', "bash", *command]
    return subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, process_group=0)


def wait_for_parts(out: Path, proc: subprocess.Popen, at_least: int) -> int:
    while proc.poll() is None:
        n = len(list(out.glob("part-*.parquet")))
        if n >= at_least:
            return n
        time.sleep(0.2)
    raise AssertionError(f"the job ended before {at_least} shards were written: {proc.stderr.read().decode()}")


@pytest.mark.slow
@pytest.mark.real_home
def test_batch_classify_matches_classify_file_and_keeps_every_id(tmp_path):
    bad = [{"id": "empty-1", "text": ""}, {"id": "empty-2", "text": "   "}]
    rows = write_reviews(tmp_path / "reviews.jsonl", 2000, extra=bad)
    clean = tmp_path / "clean.jsonl"
    clean.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    r = llmkit("batch", "classify", "--input", str(tmp_path / "reviews.jsonl"), "--output", str(out), *JOB,
               "--shard-rows", "500", env={"OMP_NUM_THREADS": "1"}, timeout=900)
    assert r.returncode == 0, r.stderr.decode()
    assert "2000 of 2002 rows" in r.stderr.decode() and "2 error(s)" in r.stderr.decode()
    ref = llmkit("classify", "--file", str(clean), "--output", str(tmp_path / "ref.jsonl"), env={"OMP_NUM_THREADS": "1"},
                 timeout=900)
    assert ref.returncode == 0, ref.stderr.decode()
    expected = [json.loads(line) for line in (tmp_path / "ref.jsonl").read_text().splitlines()]
    got = read_output(out)
    ids = [g["id"] for g in got]
    assert sorted(ids) == sorted(r["id"] for r in rows) and len(set(ids)) == len(ids)
    by_id = {g["id"]: g for g in got}
    for row, exp in zip(rows, expected):
        assert by_id[row["id"]]["label"] == exp["label"], row["id"]
        assert abs(by_id[row["id"]]["score"] - exp["score"]) <= 1e-5, row["id"]
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert errors == [{"id": "empty-1", "reason": "empty text"}, {"id": "empty-2", "reason": "empty text"}]


def ray_workers(pid: int) -> list:
    """The job's model actors: processes below the CLI that Ray titles after our actor class."""
    import psutil

    found = []
    for p in psutil.Process(pid).children(recursive=True):
        try:
            if "ShardWorker" in " ".join(p.cmdline()):
                found.append(p)
        except psutil.NoSuchProcess:
            pass
    return found


@pytest.mark.slow
@pytest.mark.real_home
def test_an_interrupted_job_resumes_and_a_killed_worker_is_retried(tmp_path):
    """One job, two faults (two Ray runs, not three, for the suite's time): Ctrl-C, then the same command again,
    during which one worker is killed. The rerun skips the finished shards, Ray restarts the worker and retries
    its shard, and every id lands exactly once. The Ctrl-C goes to the job's process group, as a terminal sends
    it, and the job starts with SIGINT ignored, as a backgrounded shell leaves it: the job stops all the same
    (once it did not, and finished all 40 shards, whenever the suite ran in the background)."""
    rows = write_reviews(tmp_path / "reviews.jsonl", 1000)
    out = tmp_path / "out"
    args = ["classify", "--input", str(tmp_path / "reviews.jsonl"), "--output", str(out), *JOB, "--shard-rows", "25"]
    proc = start(*args, ignoring_sigint=True)
    wait_for_parts(out, proc, 2)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130 and "llmkit: interrupted" in err.decode(), err.decode()
    finished = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")}
    assert 2 <= len(finished) < 40, "the job finished before the interrupt; the test proved nothing"

    proc = start(*args)
    wait_for_parts(out, proc, len(finished) + 1)
    workers = ray_workers(proc.pid)
    assert workers, "no ShardWorker process found below the CLI"
    done_at_kill = len(list(out.glob("part-*.parquet")))
    workers[0].kill()  # SIGKILL: no clean-up, as when a node or the OOM killer takes it
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err.decode()
    assert done_at_kill < 40, "the job had finished before the kill; the test proved nothing"
    assert f"{len(finished)} shard(s) done before, skipped" in err.decode()
    assert all(out.joinpath(n).stat().st_mtime_ns == t for n, t in finished.items())  # not rewritten
    ids = [g["id"] for g in read_output(out)]
    assert sorted(ids) == sorted(r["id"] for r in rows)  # every id, exactly once
    assert not list(out.glob(".*.tmp*"))


# ---- bad input: one line, no Ray started ------------------------------------------------------------------------

def one_line_error(r, *words: str, code: int = 2) -> str:
    err = r.stderr.decode().strip()
    assert r.returncode == code, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in err, err
    return err


def test_without_ray_says_which_pip_install_fixes_it(tmp_path):
    shim = tmp_path / "shim" / "ray"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    (tmp_path / "in.jsonl").write_text('{"id": 1, "text": "good"}\n')
    r = llmkit("batch", "classify", "--input", str(tmp_path / "in.jsonl"), "--output", str(tmp_path / "out"),
               env={"PYTHONPATH": os.pathsep.join([str(tmp_path / "shim"), str(ROOT / "src")])})
    one_line_error(r, "pip install 'llmkit[ray]'", code=1)
    assert not (tmp_path / "out").exists()


def test_a_glob_that_matches_nothing_is_one_line(tmp_path):
    r = llmkit("batch", "embed", "--input", str(tmp_path / "nothing-*.jsonl"), "--output", str(tmp_path / "out"))
    one_line_error(r, "matches no files")


def test_another_jobs_output_folder_is_refused_and_left_alone(tmp_path):
    (tmp_path / "in.jsonl").write_text('{"id": 1, "text": "good"}\n')
    out = tmp_path / "out"
    out.mkdir()
    (out / "llmkit-batch.json").write_text(json.dumps({"task": "sentence-embeddings", "model": "all-minilm-l6-v2",
                                                       "inputs": [["/elsewhere.jsonl", "0" * 64]]}))
    (out / "part-0123.parquet").write_bytes(b"another job's shard")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    r = llmkit("batch", "classify", "--input", str(tmp_path / "in.jsonl"), "--output", str(out))
    one_line_error(r, "holds another job's output", "sentence-embeddings")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_rows_without_an_id_column_get_file_and_row_ids(tmp_path, capsys):
    from llmkit.batch.inputs import read_shards

    path = tmp_path / "in.csv"
    path.write_text("text\nfirst\nsecond\nthird\n")
    shards = read_shards([path], job_key="k", id_column="id", value_column="text", shard_rows=2)
    assert [s.rows for s in shards] == [[(f"{path}:0", "first"), (f"{path}:1", "second")], [(f"{path}:2", "third")]]
    assert "has no 'id' column" in capsys.readouterr().err
    again = read_shards([path], job_key="k", id_column="id", value_column="text", shard_rows=2)
    assert [s.name for s in again] == [s.name for s in shards]  # deterministic: a rerun finds its shards
    other = read_shards([path], job_key="other", id_column="id", value_column="text", shard_rows=2)
    assert not {s.name for s in other} & {s.name for s in shards}


def test_duplicate_ids_are_refused(tmp_path):
    from llmkit.batch.inputs import read_shards
    from llmkit.errors import InputError

    path = tmp_path / "in.jsonl"
    path.write_text('{"id": 7, "text": "a"}\n{"id": 7, "text": "b"}\n')
    with pytest.raises(InputError, match="appears twice"):
        read_shards([path], job_key="k", id_column="id", value_column="text", shard_rows=10)


# ---- the other tasks' runners (what each actor runs on a shard), without Ray: same pipelines as the verbs ------

@pytest.mark.slow
@pytest.mark.real_home
def test_embed_and_generate_runners_keep_ids_and_report_bad_rows():
    from llmkit.batch.runners import make_runner

    embed = make_runner({"task": "sentence-embeddings", "model": None, "engine": "auto", "threads": 1,
                         "options": {"batch_size": 8, "normalize": True}})
    out, errors = embed([("a", "A cup of green tea"), ("b", ""), ("c", "Black coffee, no sugar")])
    assert [o["id"] for o in out] == ["a", "c"] and errors == [{"id": "b", "reason": "empty text"}]
    assert len(out[0]["embedding"]) == 384 and abs(sum(x * x for x in out[0]["embedding"]) - 1) < 1e-4

    generate = make_runner({"task": "text-generation", "model": "smollm2-135m-instruct", "engine": "auto", "threads": 1,
                            "options": {"max_new_tokens": 4, "temperature": 0.0}})
    out, errors = generate([(1, "Name a colour."), (2, "  ")])
    assert [o["id"] for o in out] == [1] and out[0]["text"].strip() and errors == [{"id": 2, "reason": "empty text"}]


@pytest.mark.slow
@pytest.mark.real_home
def test_transcribe_runner_reads_audio_paths_and_reports_unreadable_ones(tmp_path):
    from speech_fixtures import have_tools, synthesize

    if not have_tools():
        pytest.skip("needs espeak-ng and sox (make setup installs them)")
    from llmkit.batch.runners import make_runner

    clip = synthesize("The quick brown fox jumps over the lazy dog.", tmp_path / "fox.wav")
    (tmp_path / "broken.wav").write_text("not audio\n")
    asr = make_runner({"task": "automatic-speech-recognition", "model": None, "engine": "auto", "threads": 1,
                       "options": {"fast": True}})
    out, errors = asr([("fox", str(clip)), ("broken", str(tmp_path / "broken.wav")), ("none", "")])
    assert [o["id"] for o in out] == ["fox"] and {"quick", "lazy"} <= set(out[0]["text"].lower().split())
    assert [e["id"] for e in errors] == ["broken", "none"] and all(e["reason"] for e in errors)
