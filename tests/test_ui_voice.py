"""Voice chat in the web app, in a real headless Chromium whose microphone plays a WAV file (Chromium's fake
capture device): record -> transcribe (whisper-tiny.en) -> answer (SmolLM2, named: the fast chat model) -> speak
(Piper); the spoken answer is fetched from the page and transcribed back. Also: "Speak the last answer" on a typed
chat, and a silent recording."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from test_ui import use_chat_model
from ui_server import running_ui

pytest.importorskip("gradio")
pytest.importorskip("piper")
playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
pytestmark = [pytest.mark.slow, pytest.mark.real_home,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")]
QUESTION = "What is the capital of France?"


@pytest.fixture(scope="module")
def question_wav(tmp_path_factory) -> Path:
    """The question spoken by llmkit's own voice, with a little silence around it (the fake microphone loops it)."""
    import soundfile as sf

    from llmkit import pipeline

    speech = pipeline("text-to-speech")(QUESTION)
    pad = np.zeros(speech.sampling_rate // 2, np.float32)
    path = tmp_path_factory.mktemp("voice") / "question.wav"
    sf.write(path, np.concatenate([pad, speech.audio, pad, pad]), speech.sampling_rate, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from conftest import REAL_HOME

    log = tmp_path_factory.mktemp("ui-voice") / "server.log"
    with running_ui([], log, {"LLMKIT_HOME": REAL_HOME, "HF_HUB_OFFLINE": "1"}, timeout=180) as url:
        yield url + "/"


@pytest.fixture
def page(app, question_wav, request):
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={question_wav}"])
        ctx = browser.new_context(viewport={"width": 1280, "height": 1100}, permissions=["microphone"],
                                  accept_downloads=True)
        pg = ctx.new_page()
        pg.set_default_timeout(60_000)
        pg.goto(app)
        pg.get_by_role("tab", name="Chat", exact=True).click()
        use_chat_model(pg)
        yield pg
        ARTIFACTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        browser.close()


def wait_for(check, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def spoken_answer_text(page, tmp_path) -> str:
    """Download the spoken answer from the page and transcribe it."""
    from llmkit import pipeline

    out = page.locator("#chat-voice-out")
    wait_for(lambda: not out.locator("[aria-label='Empty value']").count(), 120, "the spoken answer")
    link = wait_for(lambda: out.locator("a[download], a[href*='/file=']").count() and
                    out.locator("a[download], a[href*='/file=']").first, 30, "the answer's download link")
    href = link.get_attribute("href")
    data = page.request.get(href if href.startswith("http") else page.url.rstrip("/") + href).body()
    path = tmp_path / "answer.wav"
    path.write_bytes(data)
    return pipeline("automatic-speech-recognition")(str(path)).text


def test_voice_chat_records_answers_and_speaks(page, tmp_path):
    voice = page.locator("#chat-voice-in")
    voice.locator("button", has_text="Record").first.click()
    time.sleep(4.5)  # the fake microphone plays the question (3 s) while this records
    voice.locator("button", has_text="Stop").first.click()
    chat = wait_for(lambda: "paris" in page.locator("#chat-box").inner_text().lower()
                    and page.locator("#chat-box").inner_text(), 180, "an answer naming Paris")
    assert "capital of france" in chat.lower()  # the question was heard and shown as the user's message
    assert "paris" in spoken_answer_text(page, tmp_path).lower()


def test_speak_button_reads_the_last_typed_answer(page, tmp_path):
    page.locator("#chat-message textarea").fill(QUESTION + " Answer in one sentence.")
    page.locator("#chat-send").click()
    wait_for(lambda: "tok/s" in page.locator("#chat-stats").inner_text(), 120, "the answer")
    page.locator("#chat-speak").click()
    assert "paris" in spoken_answer_text(page, tmp_path).lower()


def test_silent_recording_gets_a_message(page, tmp_path):
    import soundfile as sf

    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000 * 3, np.float32), 16000)
    page.locator("#chat-voice-in button[aria-label*='pload' i]").first.click()  # the upload source
    page.locator("#chat-voice-in input[type=file]").set_input_files(str(silent))
    error = wait_for(lambda: page.locator("#chat-error .llmkit-error").count()
                     and page.locator("#chat-error").inner_text(), 120, "an error message")
    assert "silent" in error and "Traceback" not in error
