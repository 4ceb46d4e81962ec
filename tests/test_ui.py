"""End-to-end tests of the web app in a real headless Chromium (Debian's package, driven by Playwright).

The app is started as `llmkit ui` on a free 127.0.0.1 port with its own LLMKIT_HOME; the models are real: a tiny
encoder fine-tuned here for Classify/Fine-tune, SmolLM2 for Chat, whisper-tiny.en for Transcribe. Each test saves
a screenshot under test-artifacts/.
"""
from __future__ import annotations

import csv
import shutil
import time
from pathlib import Path

import pytest
from ui_server import running_ui

pytest.importorskip("gradio")
playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")]


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.fixture(scope="session")
def ui_dirs(tmp_path_factory, tiny_encoder):
    """A runs folder that already holds a tiny classifier (fine-tuned here in seconds), and toy data files."""
    from tiny import toy_sentiment

    from llmkit.train.config import TrainConfig
    from llmkit.train.finetune import finetune

    root = tmp_path_factory.mktemp("ui")
    runs = root / "runs"
    shutil.copytree(tiny_encoder, runs / "tiny-encoder")  # the app loads only catalog models and runs folders
    rows = toy_sentiment(200)
    finetune(tiny_encoder, rows, eval_split=0.2, output=runs / "tiny-sentiment", progress=False,
             config=TrainConfig(epochs=4, lr=2e-3, batch_size=16, max_length=32))
    data = root / "data"
    data.mkdir()
    write_csv(data / "toy.csv", rows)
    write_csv(data / "no_label.csv", [{"text": r["text"], "sentiment": r["label"]} for r in rows[:20]])
    (data / "notes.wav").write_text("this is not audio, just text with a .wav name\n")
    return {"root": root, "runs": runs, "data": data, "encoder": runs / "tiny-encoder"}


@pytest.fixture(scope="session")
def ui_url(ui_dirs):
    """`llmkit ui` as a user starts it, in its own process, on 127.0.0.1."""
    # The default models as `make models` prepared them (as the real_home marker does); fine-tuned ones go to runs.
    from conftest import REAL_HOME

    env = {"LLMKIT_HOME": REAL_HOME, "HF_HUB_OFFLINE": "1"}
    log = ui_dirs["root"] / "server.log"
    with running_ui(["--runs", str(ui_dirs["runs"])], log, env, timeout=120) as url:
        yield url + "/"
    print(log.read_text()[-2000:])


@pytest.fixture(scope="module")  # closed with this module: other modules start Playwright's sync API themselves
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        yield b
        b.close()


@pytest.fixture
def page(browser, ui_url, request):
    ctx = browser.new_context(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    pg.goto(ui_url)
    pg.get_by_role("tab", name="Classify").wait_for()
    yield pg
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    ctx.close()


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()


def wait_text(page, selector: str, needle: str, timeout: float = 60) -> str:
    deadline = time.time() + timeout
    text = ""
    while time.time() < deadline:
        text = page.locator(selector).inner_text()
        if needle.lower() in text.lower():
            return text
        time.sleep(0.25)
    raise AssertionError(f"{needle!r} never appeared in {selector}; last text: {text[-500:]!r}")


def test_classify_sentence_shows_label(page):
    page.locator("#classify-text textarea").fill("great tasty fresh coffee")
    page.locator("#classify-run").click()
    text = wait_text(page, "#classify-labels", "POSITIVE")
    assert "NEGATIVE" in text  # every label with its score bar
    page.locator("#classify-text textarea").fill("   ")
    page.locator("#classify-run").click()
    wait_text(page, "#classify-error", "empty")


def test_classify_explain_highlights_the_words(page):
    """Issue 19: under the label bars, the text with each word coloured by its attribution to the top label."""
    page.locator("#classify-explain input[type=checkbox]").check()
    page.locator("#classify-text textarea").fill("great tasty fresh coffee")
    page.locator("#classify-run").click()
    shown = wait_text(page, "#classify-explanation", "great", timeout=120)
    assert "Why" in shown and "coffee" in shown
    words = page.locator("#classify-explanation .llmkit-attr")
    assert words.count() == 4
    assert page.locator("#classify-explanation .llmkit-attr-for").count() >= 1  # green: words for the label
    assert all(words.nth(i).get_attribute("title")[0] in "+-" for i in range(4))  # each word's score on hover


def test_path_typed_in_model_picker_is_refused(page, ui_dirs):
    model = page.locator("#classify-model input")
    model.fill(str(ui_dirs["root"] / "data"))  # a folder outside the runs folder
    model.press("Enter")
    page.locator("#classify-text textarea").fill("great tasty fresh coffee")
    page.locator("#classify-run").click()
    wait_text(page, "#classify-error", "--allow-any-model")
    assert "Traceback" not in page.content()


def chat_text(page) -> str:
    return page.locator("#chat-box").inner_text()


FAST_CHAT = "smollm2-135m-instruct"  # 6x the default's speed: for tests about the Chat tab, not about its model


def use_chat_model(page, name: str = FAST_CHAT) -> None:
    """Pick ``name`` in the Chat tab's model picker, as a user types it."""
    model = page.locator("#chat-model input")
    model.fill(name)
    model.press("Enter")


def test_chat_streams_answer_from_the_default_chat_model(page):
    from llmkit.task_table import get

    open_tab(page, "Chat")
    assert page.locator("#chat-model input").input_value() == get("text-generation").default_model  # Qwen 1.5B
    page.locator("#chat-message textarea").fill("What is the capital of France? Answer in one sentence.")
    page.locator("#chat-send").click()
    wait_text(page, "#chat-stats", "tok/s", timeout=240)  # its first use loads 1.1 GB
    assert "Paris" in chat_text(page)


def test_chat_shows_token_probabilities(page):
    """Issue 19: the toggle colours the answer's tokens by probability; hovering shows the alternatives."""
    open_tab(page, "Chat")
    use_chat_model(page)
    page.locator("#chat-show-logprobs input[type=checkbox]").check()
    page.locator("#chat-message textarea").fill("What is the capital of France? Answer in one sentence.")
    page.locator("#chat-send").click()
    wait_text(page, "#chat-stats", "tok/s", timeout=90)
    tokens = page.locator("#chat-logprobs .llmkit-token")
    deadline = time.time() + 30
    while not tokens.count() and time.time() < deadline:
        time.sleep(0.25)
    assert tokens.count() >= 3
    assert "Paris" in page.locator("#chat-logprobs").inner_text()
    tip = tokens.first.get_attribute("title")
    assert ";" in tip or tip.replace(".", "").isdigit()  # the alternatives with their probabilities


def test_chat_stop_really_stops(page):
    open_tab(page, "Chat")
    use_chat_model(page)
    box = page.locator("#chat-max-new input[type=number]")
    box.fill("2048")
    box.press("Enter")
    page.locator("#chat-message textarea").fill("Write a very long story about a dragon who learns to cook.")
    page.locator("#chat-send").click()
    deadline = time.time() + 60
    while len(chat_text(page)) < 150 and time.time() < deadline:  # it is streaming
        time.sleep(0.1)
    streaming = len(chat_text(page))
    page.locator("#chat-stop").click()
    stats = wait_text(page, "#chat-stats", "stopped by you", timeout=20)
    frozen = len(chat_text(page))
    time.sleep(2)
    assert len(chat_text(page)) == frozen  # nothing more arrives: the generation itself ended
    tokens = int(stats.split(" tokens")[0].split()[-1])
    assert tokens < 2048 and frozen >= streaming


def test_transcribe_clip_and_download_srt(page, tmp_path):
    from speech_fixtures import have_tools, synthesize

    if not have_tools():
        pytest.skip("needs espeak-ng and sox")
    clip = synthesize("The train to London leaves from platform two in ten minutes.", tmp_path / "clip.wav")
    open_tab(page, "Transcribe")
    page.locator("#asr-audio input[type=file]").set_input_files(str(clip))
    page.locator("#asr-audio audio, #asr-audio .waveform-container, #asr-audio button").first.wait_for()
    page.locator("#asr-run").click()
    wait_text(page, "#asr-status", "done", timeout=120)
    transcript = page.locator("#asr-transcript textarea").input_value()
    assert "london" in transcript.lower()
    assert page.locator("#asr-language textarea, #asr-language input").first.input_value().startswith("en")
    wait_text(page, "#asr-segments", "00:00:0")
    unsure = wait_text(page, "#asr-unsure", "word(s) heard with probability")  # issue 19: unsure words marked
    assert "london" in unsure.lower()
    words = page.locator("#asr-unsure span[title^='probability']")
    assert words.count() >= 8  # every word carries its probability on hover
    links = page.locator('#asr-files a[href*=".srt"], #asr-files a[download*=".srt"]')
    if not links.count():
        (ARTIFACTS / "asr-files.html").write_text(page.locator("#asr-files").inner_html())
    href = links.first.get_attribute("href")
    srt = page.request.get(href if href.startswith("http") else page.url.rstrip("/") + href).text()
    assert "-->" in srt and "London" in srt


def test_finetune_tiny_shows_curve_report_and_model(page, ui_dirs):
    open_tab(page, "Fine-tune")
    page.get_by_label("Upload a file").check()
    page.locator("#ft-upload input[type=file]").set_input_files(str(ui_dirs["data"] / "toy.csv"))
    page.locator("#ft-upload").get_by_text("toy.csv").first.wait_for()
    body = page.locator("#ft-body input")
    body.fill(str(ui_dirs["encoder"]))
    body.press("Enter")
    page.locator("#ft-epochs input").fill("10")
    page.locator("#ft-lr input").fill("0.002")
    page.locator("#ft-name textarea, #ft-name input").first.fill("tiny-from-browser")
    page.locator("#ft-run").click()
    wait_text(page, "#ft-status", "job", timeout=30)
    page.reload()  # the job keeps running; the page re-attaches to it from local storage
    open_tab(page, "Fine-tune")
    wait_text(page, "#ft-status", "done", timeout=150)
    wait_text(page, "#ft-report", "accuracy")
    page.locator("#ft-plot svg, #ft-plot canvas").first.wait_for()
    page.locator("#ft-confusion img").wait_for()
    assert (ui_dirs["runs"] / "tiny-from-browser" / "llmkit.json").exists()
    open_tab(page, "Classify")
    page.locator("#classify-refresh").click()
    model = page.locator("#classify-model input")
    model.click()
    page.get_by_role("option", name="tiny-from-browser").first.click()
    page.locator("#classify-text textarea").fill("awful stale bitter tea")
    page.locator("#classify-run").click()
    wait_text(page, "#classify-labels", "NEGATIVE")
    job = page.locator("#ft-status").inner_text().split("job ")[-1].split()[0]
    page.reload()  # a finished job is still this browser's: the page re-attaches to it by id
    open_tab(page, "Fine-tune")
    wait_text(page, "#ft-status", job)
    wait_text(page, "#ft-report", "accuracy")
    other = page.context.browser.new_page()  # another visitor (no local storage) is not shown this job
    try:
        other.goto(page.url)
        open_tab(other, "Fine-tune")
        other.locator("#ft-run").wait_for()
        time.sleep(2)
        assert job not in other.locator("#ft-status").inner_text()
    finally:
        other.close()
    open_tab(page, "Fine-tune")


def test_multitask_tab_trains_and_reports(page, ui_dirs):
    open_tab(page, "Multi-task")
    body = page.locator("#mt-body input")
    body.fill(str(ui_dirs["encoder"]))
    body.press("Enter")
    page.locator("#mt-weighting input").click()
    page.get_by_role("option", name="pcgrad", exact=True).click()
    page.locator("#mt-limit input").fill("48")
    page.locator("#mt-lr input").fill("0.002")
    page.locator("#mt-name textarea, #mt-name input").first.fill("tiny-multitask")
    page.locator("#mt-run").click()
    wait_text(page, "#mt-status", "job", timeout=30)
    page.reload()  # the job keeps running; the page re-attaches to it
    open_tab(page, "Multi-task")
    wait_text(page, "#mt-status", "done", timeout=240)
    report = wait_text(page, "#mt-report", "Delta_m")
    assert "fine_food_reviews" in report and "fortune_topics" in report and "single" in report.lower()
    page.locator("#mt-chart").scroll_into_view_if_needed()  # the image loads lazily, once it is on screen
    page.locator("#mt-chart img").wait_for()
    assert (ui_dirs["runs"] / "tiny-multitask" / "report.md").exists()


def test_bad_uploads_show_messages(page, ui_dirs):
    open_tab(page, "Fine-tune")
    page.get_by_label("Upload a file").check()
    page.locator("#ft-upload input[type=file]").set_input_files(str(ui_dirs["data"] / "no_label.csv"))
    page.locator("#ft-upload").get_by_text("no_label.csv").first.wait_for()
    page.locator("#ft-run").click()
    text = wait_text(page, "#ft-error", "no 'label' column")
    assert "sentiment" in text and "Traceback" not in page.content()
    open_tab(page, "Transcribe")
    page.locator("#asr-audio input[type=file]").set_input_files(str(ui_dirs["data"] / "notes.wav"))
    time.sleep(1)
    page.locator("#asr-run").click()
    wait_text(page, "#asr-error", "audio", timeout=60)
    assert "Traceback" not in page.content()
