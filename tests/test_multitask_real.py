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
           "tasks": [{"name": "sentiment", "train": "fine_food_reviews", "limit": 70, "test_limit": 48},
                     {"name": "topic", "train": "fortune_topics", "limit": 70, "test_limit": 48}]}
    out = multitask(cfg, output=tmp_path / "mtl", baselines=True, progress=False)
    run = json.loads((out / "run_config.json").read_text())
    assert [(t["eval"], t["test"]) for t in run["tasks"]] == [(None, "fine_food_reviews:test"),
                                                              (None, "fortune_topics:test")]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 4  # (63/16 + 63/16) batches (70 less 7 held out), both tasks in every PCGrad step
    assert {k: m["n"] for k, m in metrics["test"].items()} == {"sentiment": 48, "topic": 48}
    cmp = json.loads((out / "comparison.json").read_text())
    assert {r["task"] for r in cmp["rows"]} == {"sentiment", "topic"}
    report = (out / "report.md").read_text()
    for r in cmp["rows"]:  # the report's numbers are the runs' own test scores, and its deltas follow from them
        single = json.loads((out / "baselines" / r["task"] / "result.json").read_text())["test"]["metric"]
        assert (r["joint"], r["single"]) == (metrics["test"][r["task"]]["metric"], single)
        assert r["points"] == pytest.approx(100 * (r["joint"] - r["single"]))
        assert f"| {r['task']} | accuracy | {r['single']:.4f} | {r['joint']:.4f} | {r['points']:+.2f} |" in report
    assert cmp["delta_m"] == pytest.approx(sum(r["relative"] for r in cmp["rows"]) / 2)
    assert f"Delta_m = {cmp['delta_m']:+.2f}%" in report and "Compared on: each task's test data" in report
    assert cmp["singles"]["topic"]["steps"] == 4
    assert cmp["joint"]["params"] < 0.6 * sum(s["params"] for s in cmp["singles"].values())
    assert "all-minilm-l6-v2" in report
    from llmkit import pipeline

    clf = pipeline("text-classification", model=str(out), engine="torch", task="topic")
    assert clf("The computer crashed again")[0]["label"] in json.loads((out / "llmkit.json").read_text())[
        "tasks"]["topic"]["labels"]
