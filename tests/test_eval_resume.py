"""An interrupted `llmkit eval --suite code` keeps the problems it finished (a journal next to the results) and the
same command continues from them; a journal of a run with other options is neither mixed in nor thrown away (one
line names what differs; `--fresh` starts over); a torn last line (a process killed mid-write) is dropped. Real
SmolLM2 answers, real sandbox."""
from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from cli_helpers import llmkit
from llmkit.errors import InputError
from llmkit.evals.journal import Journal, journal_path
from llmkit.hub import home

MODEL = "smollm2-135m-instruct"
EVAL = ["eval", MODEL, "--suite", "code", "--limit", "3", "--threads", "1"]


def interrupted_after_one() -> None:
    """Run EVAL and press Ctrl-C once the first problem is scored. SIGINT is reset to its default in the child: a
    pytest started in the background by a non-interactive shell ignores SIGINT, and its children would inherit that."""
    proc = subprocess.Popen([sys.executable, "-m", "llmkit.cli", *EVAL], stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if line.startswith("[code 1/3]"):
            proc.send_signal(signal.SIGINT)
            break
    rest = proc.stderr.read()
    assert proc.wait(timeout=120) == 130, lines + [rest]
    assert "interrupted after" in rest and "run the same command again to continue" in rest
    assert "Traceback" not in rest


def journal() -> list[dict]:
    path = journal_path(home() / "evals" / MODEL, "code-first3")
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.slow
def test_an_interrupted_code_eval_continues_where_it_stopped():
    interrupted_after_one()
    kept = journal()
    assert kept[0]["key"]["model"] == MODEL and 1 <= len(kept) - 1 < 3

    r = llmkit(*EVAL, "--json")
    assert r.returncode == 0, r.stderr.decode()
    assert r.stderr.decode().count("kept from the interrupted run") == len(kept) - 1
    result = json.loads(r.stdout)
    assert result["n"] == 3 and result["options"]["resumed"] == len(kept) - 1
    assert result["items"][0] == kept[1]  # the kept answer, not a new one
    assert not journal()  # saved: the journal is gone



def test_a_journal_of_another_run_is_not_mixed_in(tmp_path):
    path = tmp_path / ".code.partial.jsonl"
    first = Journal(path, {"model": "a", "temperature": 0.0})
    first.add({"id": "HumanEval/0", "passed": True})
    first.add({"id": "HumanEval/1", "passed": False})
    with open(path, "a") as f:
        f.write('{"id": "HumanEval/2", "pas')  # killed mid-write
    again = Journal(path, {"model": "a", "temperature": 0.0})
    assert list(again.done) == ["HumanEval/0", "HumanEval/1"]
    before = path.read_text()
    with pytest.raises(InputError, match=r"2 finished item\(s\).*temperature 0.0 \(now 0.8\).*--fresh"):
        Journal(path, {"model": "a", "temperature": 0.8})  # another run: refused, and nothing thrown away
    assert path.read_text() == before


@pytest.mark.slow
def test_other_options_are_refused_with_the_fix_and_fresh_starts_over():
    """A journal left by a run with other options is kept: one line names what differs; --fresh starts over."""
    interrupted_after_one()
    kept = journal()
    r = llmkit(*EVAL, "--max-new-tokens", "64")
    err = r.stderr.decode()
    assert r.returncode == 2 and "max_new_tokens 768 (now 64)" in err and "--fresh" in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert journal() == kept  # nothing lost
    r = llmkit(*EVAL, "--max-new-tokens", "64", "--fresh")
    assert r.returncode == 0 and "kept from" not in r.stderr.decode() and not journal()


@pytest.mark.parametrize("args,words", [
    (["eval", MODEL, "--suite", "chat", "--fresh"], "--fresh is for the code suite"),
    (["eval", MODEL, "--suite", "code", "--limit", "1", "--output", "/proc/llmkit-evals"], "choose a writable folder"),
])
def test_bad_input_is_one_line(args, words):
    r = llmkit(*args)
    err = r.stderr.decode()
    assert r.returncode == 2 and words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
