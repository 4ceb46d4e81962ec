"""The web app's Models tab in a real headless Chromium: the ranked table for a task (the same as
`llmkit models recommend`), a bench run as a background job that fills the table, and a bad memory size.

The app runs with its own temporary LLMKIT_HOME (benches write into it); the pip-installed models
(all-minilm-l6-v2, SmolLM2, whisper-tiny.en, Qwen's packages) are found there as everywhere."""
from __future__ import annotations

import pytest
from test_ui import browser, open_tab, page, wait_text  # noqa: F401  (fixtures: the browser and a page on ui_url)
from ui_server import running_ui

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def ui_url(tmp_path_factory):
    root = tmp_path_factory.mktemp("ui-models")
    env = {"LLMKIT_HOME": str(root / "home"), "HF_HUB_OFFLINE": "1"}
    with running_ui(["--runs", str(root / "runs")], root / "server.log", env, timeout=120) as url:
        yield url + "/"


def choose(page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def test_models_tab_ranks_and_benches_in_the_background(page):
    open_tab(page, "Models")
    wait_text(page, "#models-ranked", "smollm2-135m-instruct")  # chat, the default task
    wait_text(page, "#models-why", "wins")
    choose(page, "models-task", "embed")
    wait_text(page, "#models-ranked", "all-minilm-l6-v2")
    wait_text(page, "#models-why", "Not benched here yet: all-minilm-l6-v2")
    assert "not benched" in page.locator("#models-ranked").inner_text()
    choose(page, "models-pick", "all-minilm-l6-v2")
    page.locator("#models-bench").click()
    wait_text(page, "#models-status", "job", timeout=30)
    wait_text(page, "#models-status", "done", timeout=600)
    assert "texts/s" in wait_text(page, "#models-status", "peak memory")
    table = wait_text(page, "#models-ranked", "texts/s", timeout=30)  # re-ranked with the measured figures
    assert "(estimate)" not in table.split("all-minilm-l6-v2", 1)[1].splitlines()[0]
    page.locator("#models-memory textarea, #models-memory input").first.fill("lots")
    page.locator("#models-memory textarea, #models-memory input").first.press("Enter")
    wait_text(page, "#models-error", "--max-memory")
    assert "Traceback" not in page.content()
