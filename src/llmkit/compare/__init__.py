"""Side by side: the same prompts through several models (``llmkit compare``), and the web app's blind votes
turned into a leaderboard (the Compare tab).

>>> from llmkit.compare import CompareOptions, compare, read_prompts, write_report
>>> prompts = read_prompts("prompts.txt")                                   # doctest: +SKIP
>>> result = compare(["smollm2-135m-instruct", "qwen.gguf"], prompts, CompareOptions(max_tokens=64))  # doctest: +SKIP
>>> write_report(result, "compare-out")                                     # report.md, report.json, chart.png

Each model runs in its own process, one after the other (``runner``), so its peak memory is its own and no model
slows another down. Votes live in SQLite under ``LLMKIT_HOME`` (``votes``); ``ratings`` fits Bradley-Terry.
"""
from __future__ import annotations

from .prompts import read_prompts
from .ratings import Rating, leaderboard
from .report import write_report
from .runner import CompareOptions, compare
from .votes import OUTCOMES, Vote, VoteStore

__all__ = ["CompareOptions", "OUTCOMES", "Rating", "Vote", "VoteStore", "compare", "leaderboard", "read_prompts",
           "write_report"]
