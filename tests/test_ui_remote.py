"""A remote model in the web app's Chat tab, in a real headless Chromium: the badge says text leaves the machine,
the answer comes back with placeholders restored, and the recording server on 127.0.0.1 got no planted PII."""
from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from remote_helpers import Recorder
from ui_server import running_ui

pytest.importorskip("gradio")
pytest.importorskip("presidio_analyzer")
playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")]
EMAIL, CARD = "ann.lee@example.com", "4111 1111 1111 1111"


@contextlib.contextmanager
def ui_page(tmp_path, home, *flags: str):
    """``llmkit ui [FLAGS]`` with ``home`` as LLMKIT_HOME, and a headless Chromium page on it."""
    args = ["--runs", str(tmp_path / "runs"), *flags]
    with running_ui(args, tmp_path / "ui.log", {"LLMKIT_HOME": str(home)}) as url, \
            playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.set_default_timeout(60_000)
        page.goto(url + "/")
        try:
            yield page
        finally:
            browser.close()


def test_chat_tab_remote_model_badge_and_redaction(tmp_path):
    recorder = Recorder()
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text("[remote]\nallow = true\n[remote.openai]\nmax_retries = 0\n")
    try:
        with ui_page(tmp_path, home) as page:
            assert "PII redaction on" in page.locator("#remote-status").inner_text()  # on every tab, on by default
            page.get_by_role("tab", name="Chat", exact=True).click()
            badge = page.locator("#chat-remote-badge")
            assert "Remote model" not in badge.inner_text()  # a local model: no badge
            model = page.locator("#chat-model input")
            model.fill(f"openai:m@{recorder.url}/v1")
            model.press("Enter")
            page.wait_for_function("document.querySelector('#chat-remote-badge').innerText.includes('Remote model')")
            assert recorder.url.split("//")[1] in badge.inner_text() and "redacted" in badge.inner_text()
            page.locator("#chat-message textarea").fill(f"Mail {EMAIL}, card {CARD}")
            page.locator("#chat-send").click()
            page.wait_for_function("document.querySelector('#chat-box').innerText.includes('You said')")
            page.wait_for_function("document.querySelector('#chat-stats').innerText.includes('finish')")
            assert f"You said: Mail {EMAIL}, card {CARD}" in page.locator("#chat-box").inner_text()
        sent = json.dumps(recorder.bodies)
        assert recorder.bodies and EMAIL not in sent and CARD not in sent and "<EMAIL_1>" in sent
    finally:
        recorder.shutdown()


def test_ui_started_with_no_redact_shows_it_and_sends_text_as_is(tmp_path, monkeypatch):
    """``llmkit ui --allow-remote --no-redact`` (no config file): the line under the title and the model's badge
    say redaction is off, and what arrives is what was typed."""
    monkeypatch.delenv("LLMKIT_ALLOW_REMOTE", raising=False)
    monkeypatch.delenv("LLMKIT_REDACT", raising=False)
    recorder = Recorder()
    home = tmp_path / "home"
    home.mkdir()
    try:
        with ui_page(tmp_path, home, "--allow-remote", "--no-redact") as page:
            assert "PII redaction OFF" in page.locator("#remote-status").inner_text()
            page.get_by_role("tab", name="Chat", exact=True).click()
            model = page.locator("#chat-model input")
            model.fill(f"openai:m@{recorder.url}/v1")
            model.press("Enter")
            page.wait_for_function("document.querySelector('#chat-remote-badge').innerText.includes('Remote model')")
            assert "NOT redacted" in page.locator("#chat-remote-badge").inner_text()
            page.locator("#chat-message textarea").fill(f"Mail {EMAIL}")
            page.locator("#chat-send").click()
            page.wait_for_function("document.querySelector('#chat-stats').innerText.includes('finish')")
        assert [b["messages"][-1]["content"] for b in recorder.bodies] == [f"Mail {EMAIL}"]
    finally:
        recorder.shutdown()


def test_compare_tab_remote_models_as_a_and_b(tmp_path):
    """A configured remote alias (offered in the picker) and an ``anthropic:`` reference answer side by side; each
    picker's badge says the prompt leaves the machine; the vote reveals them by name; nothing planted arrives."""
    recorder = Recorder()
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(
        "[remote]\nallow = true\n[remote.openai]\nmax_retries = 0\n[remote.anthropic]\nmax_retries = 0\n"
        f'[remote.models.echo]\nprovider = "openai"\nmodel = "m"\nbase_url = "{recorder.url}/v1"\n'
        'api_key = "no-key"\n')
    other = f"anthropic:m@{recorder.url}"
    try:
        with ui_page(tmp_path, home) as page:
            page.get_by_role("tab", name="Compare", exact=True).click()
            for i, model in ((1, "echo"), (2, other)):
                box = page.locator(f"#cmp-model-{i} input")
                if i == 1:  # the alias is offered among the choices
                    box.click()
                    page.get_by_role("option", name="echo").click()
                else:
                    box.fill(model)
                    box.press("Enter")
                page.wait_for_function(f"document.querySelector('#cmp-remote-badge-{i}').innerText"
                                       ".includes('Remote model')")
            assert recorder.url.split("//")[1] in page.locator("#cmp-remote-badge-2").inner_text()
            page.locator("#cmp-prompt textarea").fill(f"Mail {EMAIL}, card {CARD}")
            page.locator("#cmp-ask").click()
            for side in ("a", "b"):
                page.wait_for_function(f"document.querySelector('#cmp-stats-{side}').innerText.includes('finish')",
                                       timeout=300_000)  # the first remote call loads Presidio: slow on busy cores
                assert f"You said: Mail {EMAIL}, card {CARD}" in page.locator(f"#cmp-answer-{side}").inner_text()
            page.locator("#cmp-vote-a").click()
            page.wait_for_function("document.querySelector('#cmp-reveal').innerText.includes('Model A was')")
            reveal = page.locator("#cmp-reveal").inner_text()
            assert "echo" in reveal and other in reveal
        sent = json.dumps(recorder.bodies)
        assert len(recorder.bodies) == 2 and EMAIL not in sent and CARD not in sent and "<EMAIL_1>" in sent
    finally:
        recorder.shutdown()
