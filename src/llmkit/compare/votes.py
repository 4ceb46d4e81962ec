"""Blind votes from the web app's Compare tab, kept in SQLite under ``LLMKIT_HOME`` (``compare/votes.sqlite3``).

>>> store = VoteStore("votes.sqlite3")                                  # doctest: +SKIP
>>> store.add("qwen", "smollm2", "a", prompt="2+2?", answer_a="4", answer_b="5")
>>> store.export_csv("votes.csv")

A connection per call: Gradio serves each click on its own thread, and SQLite connections are not to be shared
across threads; WAL lets the leaderboard read while a vote is written.
"""
from __future__ import annotations

import csv
import os
import sqlite3
import time
from contextlib import closing
from dataclasses import astuple, dataclass, fields
from pathlib import Path

from ..errors import InputError

# a: the left answer won, b: the right one, tie: equally good, both_bad: equally bad (a tie for the ratings)
OUTCOMES = ("a", "b", "tie", "both_bad")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS votes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    model_a TEXT NOT NULL,
    model_b TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('a', 'b', 'tie', 'both_bad')),
    prompt TEXT NOT NULL DEFAULT '',
    answer_a TEXT NOT NULL DEFAULT '',
    answer_b TEXT NOT NULL DEFAULT ''
)"""


@dataclass(frozen=True)
class Vote:
    id: int
    time: float
    model_a: str  # the model shown on the left
    model_b: str
    outcome: str
    prompt: str = ""
    answer_a: str = ""
    answer_b: str = ""


class VoteStore:
    def __init__(self, path: str | Path | None = None):
        if path is None:
            from ..hub import home

            path = home() / "compare" / "votes.sqlite3"
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def add(self, model_a: str, model_b: str, outcome: str, *, prompt: str = "", answer_a: str = "",
            answer_b: str = "") -> Vote:
        if outcome not in OUTCOMES:
            raise InputError(f"a vote is one of {', '.join(OUTCOMES)} (got {outcome!r}).")
        if not model_a or not model_b:
            raise InputError("a vote needs both models' names.")
        if model_a == model_b:
            raise InputError(f"both sides are {model_a!r}; a vote compares two different models.")
        row = (time.time(), model_a, model_b, outcome, prompt, answer_a, answer_b)
        with closing(self._connect()) as db, db:  # the inner `db` commits (or rolls back) the transaction
            cur = db.execute("INSERT INTO votes (time, model_a, model_b, outcome, prompt, answer_a, answer_b) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?)", row)
            return Vote(cur.lastrowid, *row)

    def votes(self) -> list[Vote]:
        with closing(self._connect()) as db:
            rows = db.execute("SELECT id, time, model_a, model_b, outcome, prompt, answer_a, answer_b FROM votes "
                              "ORDER BY id").fetchall()
        return [Vote(*r) for r in rows]

    def __len__(self) -> int:
        with closing(self._connect()) as db:
            return db.execute("SELECT COUNT(*) FROM votes").fetchone()[0]

    def export_csv(self, path: str | Path) -> Path:
        """Every vote as CSV (one row each, a header first), written atomically."""
        path = Path(path)
        if path.is_dir():
            raise InputError(f"{path} is a folder; give a file name such as votes.csv.")
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            with open(tmp, "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow([f.name for f in fields(Vote)])
                w.writerows(astuple(v) for v in self.votes())
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
        return path
