"""The Compare tab in a real headless Chromium: two real models (SmolLM2 and the Qwen 0.5B GGUF) answer, the user
votes blind, the names are revealed and the leaderboard changes; the votes outlive a restart of the app."""
from __future__ import annotations

import csv
import re
import time
from pathlib import Path

import pytest
from cli_helpers import llmkit
from test_ui import ARTIFACTS, CHROMIUM, wait_text
from ui_server import running_ui

pytest.importorskip("gradio")
playwright_api = pytest.importorskip("playwright.sync_api")

def _installed(name: str) -> bool:
    from llmkit.hub import is_installed

    return is_installed(name)


QWEN = "qwen2.5-coder-0.5b-instruct"  # a real Qwen chat model, twice the default 1.5B's speed (make test pulls it)
SMOL = "smollm2-135m-instruct"
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium"),
              pytest.mark.skipif(not _installed(QWEN), reason=f"{QWEN} not installed: `llmkit models pull {QWEN}` (make test does)")]


def open_compare(browser, url: str):
    page = browser.new_page(viewport={"width": 1280, "height": 1200})
    page.set_default_timeout(30_000)
    page.goto(url)
    page.get_by_role("tab", name="Compare", exact=True).click()
    page.locator("#cmp-leaderboard").wait_for()
    return page


def votes_in_board(page) -> dict[str, int]:
    """model -> its votes column, read from the leaderboard's rows."""
    text = page.locator("#cmp-leaderboard").inner_text()
    return {m[1].strip(): int(m[2]) for m in re.finditer(r"^\s*\d+\s+(\S+)\s+\d+\s+\d+ to \d+\s+(\d+)", text, re.M)}


def test_vote_blind_then_see_names_and_leaderboard_after_restart(tmp_path):
    home = tmp_path / "home"  # the votes go here, not into your LLMKIT_HOME; SmolLM2 comes from its package
    env = {"LLMKIT_HOME": str(home), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        with running_ui(["--allow-any-model"], tmp_path / "server.log", env, timeout=120) as url:
            page = open_compare(browser, url)
            wait_text(page, "#cmp-leaderboard", "No votes yet")
            from llmkit.task_table import get

            first = page.locator("#cmp-model-1 input")
            assert first.input_value() == get("text-generation").default_model  # the default chat model first
            first.fill(QWEN)  # the 0.5B: the 1.5B default would be joined into this empty home (1.1 GB) first
            first.press("Enter")
            other = page.locator("#cmp-model-2 input")
            other.fill(SMOL)
            other.press("Enter")
            box = page.locator("#cmp-max-new input[type=number]")
            box.fill("12")
            box.press("Enter")
            page.locator("#cmp-prompt textarea").fill("What is the capital of France?")
            page.locator("#cmp-ask").click()
            wait_text(page, "#cmp-stats-a", "finish", timeout=180)
            wait_text(page, "#cmp-stats-b", "finish", timeout=60)
            assert page.locator("#cmp-answer-a").inner_text().strip() and page.locator("#cmp-answer-b").inner_text()
            assert page.locator("#cmp-reveal").inner_text().strip() == ""  # the names are still hidden
            assert "qwen" not in (page.locator("#cmp-answer-a").inner_text() + page.locator("#cmp-stats-a").inner_text()
                                  + page.locator("#cmp-stats-b").inner_text()).lower()
            page.locator("#cmp-vote-a").click()
            shown = wait_text(page, "#cmp-reveal", "Model A was")
            winner = re.search(r"Model A was (\S+?),", shown)[1]
            assert {winner, re.search(r"model B was (\S+)\. Your vote", shown)[1]} == {SMOL, QWEN}
            wait_text(page, "#cmp-leaderboard", "rank")
            assert votes_in_board(page) == {SMOL: 1, QWEN: 1}
            loser = SMOL if winner != SMOL else QWEN
            board = page.locator("#cmp-leaderboard").inner_text()
            assert board.index(winner) < board.index(loser)  # the model voted better ranks first
            assert page.locator("#cmp-vote-a").is_disabled()  # one vote per answer pair
            page.locator("#cmp-export").click()
            link = page.locator("#cmp-export-file a").first
            link.wait_for()
            href = link.get_attribute("href")
            exported = page.request.get(href if href.startswith("http") else url + href).text()
            assert exported.startswith("id,time,model_a,model_b,outcome") and winner in exported
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "compare-vote.png"), full_page=True)
        with running_ui(["--allow-any-model"], tmp_path / "server2.log", env, timeout=120) as url:  # a restart
            page = open_compare(browser, url)
            wait_text(page, "#cmp-leaderboard", "rank")
            assert votes_in_board(page) == {SMOL: 1, QWEN: 1}
        browser.close()
    r = llmkit("compare", "--export-votes", str(tmp_path / "votes.csv"), env={"LLMKIT_HOME": str(home)})
    assert r.returncode == 0, r.stderr.decode()
    rows = list(csv.DictReader((tmp_path / "votes.csv").open(newline="")))
    assert len(rows) == 1 and rows[0]["outcome"] == "a" and rows[0]["model_a"] == winner
    assert rows[0]["prompt"] == "What is the capital of France?"
