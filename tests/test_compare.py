"""`llmkit compare` (prompts files, bad input, a real run of two models) and the vote store + leaderboard."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from cli_helpers import llmkit

from llmkit.compare import OUTCOMES, VoteStore, leaderboard, read_prompts
from llmkit.errors import InputError

def _installed(name: str) -> bool:
    from llmkit.hub import is_installed

    return is_installed(name)


QWEN = "qwen2.5-coder-0.5b-instruct"  # a real Qwen chat model, twice the default 1.5B's speed (make test pulls it)
SMOL = "smollm2-135m-instruct"


# ---------------------------------------------------------------------------------------------- prompts files

def test_prompts_from_text_and_jsonl(tmp_path):
    txt = tmp_path / "p.txt"
    txt.write_text("What is 2+2?\n\n  \nName a colour.\n")
    assert read_prompts(txt) == [[{"role": "user", "content": "What is 2+2?"}],
                                 [{"role": "user", "content": "Name a colour."}]]
    jl = tmp_path / "p.jsonl"
    chat = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}]
    jl.write_text(json.dumps({"prompt": "Hello"}) + "\n" + json.dumps({"messages": chat}) + "\n")
    assert read_prompts(jl) == [[{"role": "user", "content": "Hello"}], chat]


@pytest.mark.parametrize("content, needle", [("", "no prompts"), ("\n  \n", "no prompts"),
                                             ('{"text": "x"}\n', "record 1"), ("{oops\n", "malformed")])
def test_bad_prompts_files_are_one_clear_error(tmp_path, content, needle):
    path = tmp_path / ("p.jsonl" if content.startswith("{") else "p.txt")
    path.write_text(content)
    with pytest.raises(InputError, match=needle):
        read_prompts(path)
    with pytest.raises(InputError, match="no such file"):
        read_prompts(tmp_path / "absent.txt")


# ---------------------------------------------------------------------------------------------- the command

@pytest.mark.parametrize("args, code, needle", [
    ([SMOL, SMOL + "x", "--prompts", "p.txt"], 3, "unknown model"),
    ([SMOL, "--prompts", "p.txt"], 2, "two models or more"),
    ([SMOL, SMOL, "--prompts", "p.txt"], 2, "named twice"),
    ([SMOL, "other", "--prompts", "absent.txt"], 2, "no such file"),
    ([SMOL, "other", "--prompts", "empty.txt"], 2, "no prompts"),
    ([SMOL, "other", "--prompts", "p.txt", "--max-tokens", "0"], 2, "--max-tokens"),
    ([SMOL, "other"], 2, "--prompts FILE"),
    ([SMOL, "all-minilm-l6-v2", "--prompts", "p.txt"], 2, "text-generation"),
    ([SMOL, "other", "--suite", "nosuch"], 2, "unknown suite"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, args, code, needle):
    (tmp_path / "p.txt").write_text("Hi\n")
    (tmp_path / "empty.txt").write_text("\n")
    out = tmp_path / "out"
    args = [str(tmp_path / a) if a.endswith(".txt") else a for a in args]
    r = llmkit("compare", *args, "--output", str(out))
    err = r.stderr.decode()
    assert r.returncode == code, err
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.txt", "p.txt"]  # no report, no temporary folder


@pytest.mark.slow
@pytest.mark.skipif(not _installed(QWEN), reason=f"{QWEN} not installed: `llmkit models pull {QWEN}` (make test does)")
def test_compare_two_real_models_writes_the_report(tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("What is the capital of France?\nName three colours.\n")
    out = tmp_path / "report"
    r = llmkit("compare", SMOL, QWEN, "--prompts", str(prompts), "--max-tokens", "8", "--output", str(out),
               env={"OMP_NUM_THREADS": "1"}, timeout=600)
    err = r.stderr.decode()
    assert r.returncode == 0, err
    assert "[1/2] " + SMOL in err and "[2/2] " in err and "prompt 2/2" in err  # progress on stderr
    assert sorted(p.name for p in out.iterdir()) == ["chart.png", "report.json", "report.md"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left behind
    data = json.loads((out / "report.json").read_text())
    assert data["options"]["max_tokens"] == 8 and len(data["prompts"]) == 2 and "ru_maxrss" in data["memory"]
    assert [m["model"] for m in data["models"]] == [SMOL, QWEN]
    for m in data["models"]:
        assert m["tokens_per_s"] > 0 and m["first_token_s"] > 0 and m["load_s"] > 0
        assert m["peak_rss_mb"] > m["baseline_rss_mb"] > 0
        assert len(m["outputs"]) == 2 and all(o["completion_tokens"] <= 8 and o["text"] for o in m["outputs"])
    # the bigger model needs more memory: each ran in its own process, so each peak is its own
    assert data["models"][1]["peak_rss_mb"] > data["models"][0]["peak_rss_mb"]
    md = (out / "report.md").read_text()
    assert "What is the capital of France?" in md and data["models"][0]["outputs"][0]["text"].strip() in md
    assert (out / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------------------------- votes

def test_votes_persist_across_store_objects_and_export(tmp_path):
    db = tmp_path / "votes.sqlite3"
    store = VoteStore(db)
    store.add("m1", "m2", "a", prompt="2+2?", answer_a="4", answer_b="5, with a\nnewline, \"quotes\"")
    store.add("m2", "m1", "both_bad")
    again = VoteStore(db)  # what the app sees after a restart
    assert [(v.model_a, v.model_b, v.outcome) for v in again.votes()] == [("m1", "m2", "a"), ("m2", "m1", "both_bad")]
    rows = list(csv.DictReader(again.export_csv(tmp_path / "votes.csv").open(newline="")))
    assert len(rows) == 2 and rows[0]["answer_b"] == "5, with a\nnewline, \"quotes\"" and rows[1]["outcome"] == "both_bad"
    with pytest.raises(InputError, match="one of"):
        store.add("m1", "m2", "A wins")
    with pytest.raises(InputError, match="two different"):
        store.add("m1", "m1", "tie")
    assert len(again) == 2 and set(OUTCOMES) == {"a", "b", "tie", "both_bad"}


def test_export_votes_command(tmp_path):
    VoteStore(tmp_path / "home" / "compare" / "votes.sqlite3").add("x", "y", "tie")
    r = llmkit("compare", "--export-votes", str(tmp_path / "v.csv"), env={"LLMKIT_HOME": str(tmp_path / "home")})
    assert r.returncode == 0, r.stderr.decode()
    assert "1 votes" in r.stderr.decode()
    assert list(csv.DictReader((tmp_path / "v.csv").open()))[0]["outcome"] == "tie"


# ---------------------------------------------------------------------------------------------- ratings

class V:
    def __init__(self, a, b, outcome):
        self.model_a, self.model_b, self.outcome = a, b, outcome


def games(a, b, wins, losses, ties=0):
    return [V(a, b, "a")] * wins + [V(b, a, "a")] * losses + [V(a, b, "tie")] * ties


def test_bradley_terry_orders_known_outcomes_with_intervals():
    votes = games("strong", "middle", 8, 2) + games("middle", "weak", 8, 2) + games("strong", "weak", 9, 1)
    board = leaderboard(votes)
    assert [r.model for r in board] == ["strong", "middle", "weak"]
    assert abs(sum(r.rating for r in board) / 3 - 1000) < 1e-6  # the mean is pinned
    for r in board:
        assert r.low <= r.rating <= r.high and r.low < r.high and r.votes == 20
    assert (board[0].wins, board[0].ties, board[0].losses) == (17, 0, 3)
    assert leaderboard(votes) == board  # seeded bootstrap: the same votes, the same board


def test_more_votes_narrow_the_interval_and_equal_records_tie():
    few = leaderboard(games("x", "y", 3, 1))
    many = leaderboard(games("x", "y", 30, 10))
    width = lambda b: b[0].high - b[0].low  # noqa: E731
    assert width(many) < width(few)
    even = leaderboard(games("x", "y", 5, 5, ties=3))
    assert abs(even[0].rating - even[1].rating) < 1e-6


def test_an_unbeaten_model_gets_a_finite_rating():
    board = leaderboard(games("champ", "chump", 5, 0))
    assert board[0].model == "champ" and board[0].rating - board[1].rating < 1000
    assert all(abs(r.rating) < 1e5 and r.high < 1e5 for r in board)
    assert leaderboard([]) == []


@pytest.mark.slow
@pytest.mark.skipif(not _installed(QWEN), reason=f"{QWEN} not installed: `llmkit models pull {QWEN}` (make test does)")
def test_compare_on_an_eval_suite_scores_each_model(tmp_path):
    out = tmp_path / "suite"
    r = llmkit("compare", SMOL, QWEN, "--suite", "chat", "--limit", "2", "--output", str(out), timeout=900)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    data = json.loads((out / "report.json").read_text())
    for m in data["models"]:
        assert m["metric"] and 0.0 <= m["score"] <= 1.0
        assert len(m["outputs"]) == 2 and all(o["text"] for o in m["outputs"])
