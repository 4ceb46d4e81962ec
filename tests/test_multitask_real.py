"""A real body (all-minilm-l6-v2, from its pip package) on small subsets of two built-in datasets: the joint run
and its single-task baselines write the comparison report, and the folder serves both heads."""
from __future__ import annotations

import json

import pytest

from llmkit.train.multitask import multitask

pytestmark = pytest.mark.slow


def test_minilm_two_builtin_tasks_with_baselines_writes_the_report(tmp_path):
    cfg = {"model": "all-minilm-l6-v2", "weighting": "pcgrad", "epochs": 1, "max_length": 32, "batch_size": 16,
           "lr": 1e-4, "threads": 2,
           "tasks": [{"name": "sentiment", "train": "fine_food_reviews", "eval": "fine_food_reviews",
                      "limit": 64, "eval_limit": 48},
                     {"name": "topic", "train": "fortune_topics", "eval": "fortune_topics", "limit": 64,
                      "eval_limit": 48}]}
    out = multitask(cfg, output=tmp_path / "mtl", baselines=True, progress=False)
    run = json.loads((out / "run_config.json").read_text())
    assert [t["eval"] for t in run["tasks"]] == ["fine_food_reviews:test", "fortune_topics:test"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 4  # (64/16 + 64/16) batches, both tasks in every PCGrad step
    cmp = json.loads((out / "comparison.json").read_text())
    assert {r["task"] for r in cmp["rows"]} == {"sentiment", "topic"}
    assert all(0 <= r["joint"] <= 1 and 0 <= r["single"] <= 1 for r in cmp["rows"])
    assert cmp["singles"]["topic"]["steps"] == 4
    assert cmp["joint"]["params"] < 0.6 * sum(s["params"] for s in cmp["singles"].values())
    report = (out / "report.md").read_text()
    assert "Delta_m" in report and "| topic | accuracy |" in report and "all-minilm-l6-v2" in report
    from llmkit import pipeline

    clf = pipeline("text-classification", model=str(out), engine="torch", task="topic")
    assert clf("The computer crashed again")[0]["label"] in json.loads((out / "llmkit.json").read_text())[
        "tasks"]["topic"]["labels"]
