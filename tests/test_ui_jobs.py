"""The web app's background jobs and the Multi-task tab's job, without a browser (fast)."""
from __future__ import annotations

import time

import pytest

pytest.importorskip("gradio")

from llmkit.errors import InputError
from llmkit.ui.common import UiContext, UiSettings
from llmkit.ui.jobs import JobManager


def test_job_runs_in_background_and_reports_events():
    jobs = JobManager()
    job = jobs.submit("demo", lambda j: (j.emit({"event": "step", "loss": 1.0}), time.sleep(0.2), "ok")[-1])
    assert job.running and jobs.get(job.id) is job
    job.wait(5)
    status, events, result, error = job.snapshot()
    assert (status, result, error) == ("done", "ok", "") and events == [{"event": "step", "loss": 1.0}]


def test_job_errors_are_one_line_messages():
    jobs = JobManager()

    def bad(job):
        raise InputError("data.csv: record 1 has no 'label' column (columns: text); pick one with the column flag.")

    job = jobs.submit("demo", bad).wait(5)
    assert job.status == "failed" and job.error.startswith("data.csv: record 1 has no 'label'")


@pytest.mark.slow
def test_multitask_tab_job_trains_and_reports_baselines(tmp_path, tiny_encoder):
    from llmkit.ui import multitask

    ctx = UiContext(UiSettings(runs_dir=tmp_path / "runs", allow_any_model=True))  # the body is a tmp folder
    with pytest.raises(InputError, match="at least two tasks"):
        multitask.start_job(ctx, ["fine_food_reviews"], str(tiny_encoder), "equal", "proportional", 1, 1e-3, 40,
                            True, "x")
    job = multitask.start_job(ctx, ["fine_food_reviews", "austen_novels"], str(tiny_encoder), "equal",
                              "proportional", 1, 1e-3, 300, True, "mt").wait(240)
    assert job.status == "done", job.error
    text, chart = multitask.report(job.result["output"])
    assert "Single-task vs joint" in text and chart is not None
    assert any(e["event"] == "step" for e in job.events)
