"""Who may use the web app, and what it may touch (issue 13, items 8 and 16), without a browser: the tabs' handlers
called directly, and `llmkit ui` started as a user starts it and driven over HTTP with httpx."""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip("gradio")
httpx = pytest.importorskip("httpx")

from ui_server import running_ui  # noqa: E402

from llmkit.errors import InputError  # noqa: E402
from llmkit.ui.common import UiContext, UiSettings  # noqa: E402


@pytest.fixture(scope="module")
def place(tmp_path_factory, tiny_encoder):
    """tmp/runs holds a tiny encoder and a tiny classifier; tmp/elsewhere holds a copy of that classifier."""
    from tiny import toy_sentiment

    from llmkit.train.config import TrainConfig
    from llmkit.train.finetune import finetune

    root = tmp_path_factory.mktemp("ui-access")
    runs = root / "runs"
    shutil.copytree(tiny_encoder, runs / "tiny-encoder")
    rows = toy_sentiment(120)
    finetune(tiny_encoder, rows, eval_split=0.2, output=runs / "tiny-clf", progress=False,
             config=TrainConfig(epochs=2, lr=2e-3, batch_size=16, max_length=32))
    shutil.copytree(runs / "tiny-clf", root / "elsewhere" / "tiny-clf")
    with (root / "toy.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["text", "label"])
        w.writeheader()
        w.writerows(rows)
    return {"root": root, "runs": runs, "data": root / "toy.csv"}


def start_finetune(ctx: UiContext, place: dict, body: str, name: str):
    from llmkit.ui import finetune

    return finetune.start_job(ctx, "Upload a file", "", str(place["data"]), "text", "label", body, "full", 1, 2e-3,
                              16, 32, 0, name)


def models_outside(root: Path, runs: Path) -> list[Path]:
    return [p for p in root.rglob("llmkit.json") if runs not in p.parents and "elsewhere" not in p.parts]


@pytest.mark.slow  # trains a tiny model
@pytest.mark.parametrize("name", ["..", "../escaped", "a/b", "a\\b", ".hidden", "/tmp/abs", "-rf"])
def test_run_name_must_be_plain_and_nothing_is_written_outside_runs(place, name):
    from llmkit.ui import multitask

    ctx = UiContext(UiSettings(runs_dir=place["runs"]))
    with pytest.raises(InputError, match="not a plain folder name"):
        start_finetune(ctx, place, str(place["runs"] / "tiny-encoder"), name)
    with pytest.raises(InputError, match="not a plain folder name"):
        multitask.start_job(ctx, ["fine_food_reviews", "austen_novels"], "tiny-encoder", "equal", "proportional",
                            1, 1e-3, 40, False, name)
    assert ctx.jobs._jobs == {}  # no job started
    assert models_outside(place["root"], place["runs"]) == []
    assert not (place["root"] / "llmkit.json").exists() and not (place["root"] / "escaped").exists()


def test_plain_name_rule():
    from llmkit.ui.common import plain_name

    for good in ["my-model", "run_2", "v1.2", "A"]:
        assert plain_name(good) == good
    for bad in ["", ".", "..", "a/b", "a\\b", ".git", "x" * 101, "a b"]:
        with pytest.raises(InputError):
            plain_name(bad)


@pytest.mark.slow  # trains a tiny model
def test_good_run_name_trains_into_runs_folder(place):
    ctx = UiContext(UiSettings(runs_dir=place["runs"]))
    job = start_finetune(ctx, place, "tiny-encoder", "plain-name").wait(180)  # a name relative to the runs folder
    assert job.status == "done", job.error
    assert (place["runs"] / "plain-name" / "llmkit.json").exists()


@pytest.mark.slow  # trains a tiny model
def test_model_pickers_refuse_paths_outside_runs_unless_allowed(place):
    from llmkit.ui import chat, classify, transcribe

    outside = str(place["root"] / "elsewhere" / "tiny-clf")
    sneaky = str(place["runs"] / ".." / "elsewhere" / "tiny-clf")
    ctx = UiContext(UiSettings(runs_dir=place["runs"]))
    for model in (outside, sneaky, "some-org/some-hub-model"):
        labels, _, error = classify.classify_text(ctx, model, None, "great tasty coffee")
        assert labels is None and "--allow-any-model" in error and "Traceback" not in error
    assert classify.heads_of(ctx, outside) == []
    with pytest.raises(InputError, match="--allow-any-model"):
        start_finetune(ctx, place, outside, "never")
    with pytest.raises(InputError, match="--allow-any-model"):
        transcribe.start_job(ctx, str(place["data"]), outside, "auto")
    *_, (_, _, error) = chat.respond(ctx, threading.Event(), outside, [{"role": "user", "content": "hi"}], "", {})
    assert "--allow-any-model" in error
    assert not (place["runs"] / "never").exists()

    labels, _, error = classify.classify_text(ctx, str(place["runs"] / "tiny-clf"), None, "great tasty coffee")
    assert error == "" and set(labels) == {"POSITIVE", "NEGATIVE"}  # the runs folder is always open
    labels, _, error = classify.classify_text(ctx, "tiny-clf", None, "great tasty coffee")
    assert error == "" and set(labels) == {"POSITIVE", "NEGATIVE"}  # ... also by its name there

    anything = UiContext(UiSettings(runs_dir=place["runs"], allow_any_model=True))
    labels, _, error = classify.classify_text(anything, outside, None, "great tasty coffee")
    assert error == "" and set(labels) == {"POSITIVE", "NEGATIVE"}
    assert classify.heads_of(anything, outside) != []


def test_auth_comes_from_flag_or_environment(monkeypatch):
    monkeypatch.delenv("LLMKIT_UI_AUTH", raising=False)
    assert UiSettings().credentials() is None
    assert UiSettings(auth="me:se:cret").credentials() == ("me", "se:cret")
    monkeypatch.setenv("LLMKIT_UI_AUTH", "you:pw")
    assert UiSettings().credentials() == ("you", "pw")
    with pytest.raises(InputError, match="USER:PASSWORD"):
        UiSettings(auth="nocolon")


@pytest.mark.parametrize("args", [["--host", "0.0.0.0"], ["--host", "192.168.1.20"], ["--share"],
                                  ["--auth", "nocolon"]])
def test_cli_refuses_open_app_without_login(args, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "LLMKIT_UI_AUTH"}
    r = subprocess.run([sys.executable, "-m", "llmkit.cli", "ui", "--port", "1", "--runs", str(tmp_path), *args],
                       capture_output=True, env=env, timeout=120)
    err = r.stderr.decode()
    assert r.returncode == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "--auth" in err and not r.stdout.strip()  # nothing announced


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """`llmkit ui` with a login and two extra host names, in its own process on 127.0.0.1."""
    root = tmp_path_factory.mktemp("ui-app")
    with running_ui(["--runs", str(root / "runs"), "--auth", "me:s3cret", "--allowed-hosts", "mybox.lan,other.lan"],
                    root / "app.log") as url:
        yield url


@pytest.mark.slow  # starts the app (~20 s)
def test_host_header_must_name_this_machine(app_url):
    port = app_url.rsplit(":", 1)[1]
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.nip.io"):  # a DNS-rebinding page's Host
        r = httpx.get(app_url + "/", headers={"Host": host})
        assert r.status_code == 403 and "--allowed-hosts" in r.text, host
        r = httpx.post(app_url + "/login", headers={"Host": host}, data={"username": "me", "password": "s3cret"})
        assert r.status_code == 403
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "mybox.lan", f"other.lan:{port}"):
        assert httpx.get(app_url + "/", headers={"Host": host}).status_code == 200, host


@pytest.mark.slow  # starts the app (~20 s)
def test_login_guards_pages_and_api(app_url):
    for method, path in [("GET", "/config"), ("GET", "/gradio_api/info"), ("GET", "/gradio_api/openapi.json"),
                         ("POST", "/gradio_api/queue/join"), ("POST", "/gradio_api/run/predict"),
                         ("POST", "/gradio_api/call/classify_text")]:
        r = httpx.request(method, app_url + path, json={"data": [], "fn_index": 0, "session_hash": "x"})
        assert r.status_code == 401, (path, r.status_code, r.text[:200])
    r = httpx.post(app_url + "/gradio_api/upload", files={"files": ("a.csv", b"text,label\n")})
    assert r.status_code == 401
    with httpx.Client(base_url=app_url) as client:
        assert client.post("/login", data={"username": "me", "password": "wrong"}).status_code >= 400
        assert client.get("/config").status_code == 401
        assert client.post("/login", data={"username": "me", "password": "s3cret"}).status_code == 200
        assert client.get("/config").status_code == 200
        assert "named_endpoints" in client.get("/gradio_api/info").json()
