"""Remote models (docs/remote.md) without weights: references, opt-in, keys, redaction, the audit log and error
lines, against real HTTP servers on 127.0.0.1 (a small recording server written here, in OpenAI's and Anthropic's
wire shapes, shows what arrived on the server's side). End to end with llmkit serve: tests/test_remote_serve.py."""
from __future__ import annotations

import json
import socket

import pytest
from remote_helpers import Recorder, _Handler

pytest.importorskip("openai")
pytest.importorskip("presidio_analyzer")

from cli_helpers import llmkit  # noqa: E402
from llmkit import pipeline  # noqa: E402
from llmkit.errors import InputError, RemoteError  # noqa: E402
from llmkit.providers import parse  # noqa: E402
from llmkit.redact import Redactor  # noqa: E402

PII = {"email": "ann.lee@example.com", "phone": "+1 212-555-0199", "card": "4111 1111 1111 1111",
       "iban": "DE89 3704 0044 0532 0130 00", "ip": "192.168.10.24", "url": "https://intranet.example.org/x"}
SECRET_TEXT = (f"Mail {PII['email']} or call {PII['phone']}. Card {PII['card']}, IBAN {PII['iban']}, "
               f"host {PII['ip']}, wiki {PII['url']}. Again: {PII['email']}.")


@pytest.fixture
def recorder():
    server = Recorder()
    yield server
    server.shutdown()


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A private LLMKIT_HOME whose config retries nothing (the error tests would otherwise back off for seconds)."""
    monkeypatch.setenv("LLMKIT_HOME", str(tmp_path))
    monkeypatch.delenv("LLMKIT_ALLOW_REMOTE", raising=False)
    monkeypatch.delenv("LLMKIT_REDACT", raising=False)
    (tmp_path / "config.toml").write_text("[remote.openai]\nmax_retries = 0\ntimeout = 20\n"
                                          "[remote.anthropic]\nmax_retries = 0\ntimeout = 20\n")
    return tmp_path


def audit_lines(home) -> list[dict]:
    return [json.loads(x) for x in (home / "audit" / "remote.jsonl").read_text().splitlines()]


# ------------------------------------------------------------------------------------------ references


def test_reference_syntax():
    assert parse("openai:gpt-4o-mini").model == "gpt-4o-mini" and parse("openai:gpt-4o-mini").base_url is None
    spec = parse("openai:qwen2.5:0.5b@http://127.0.0.1:11434/v1")
    assert (spec.provider, spec.model, spec.base_url) == ("openai", "qwen2.5:0.5b", "http://127.0.0.1:11434/v1")
    assert parse("anthropic:claude-3-5-haiku-latest").provider == "anthropic"
    assert parse("user@example.org") is None and parse("smollm2-135m-instruct") is None
    with pytest.raises(InputError, match="names no model"):
        parse("openai:")


def test_config_alias(home, recorder):
    (home / "config.toml").write_text(f'[remote]\nallow = true\n[remote.models.office]\nprovider = "openai"\n'
                                      f'model = "m"\nbase_url = "{recorder.url}/v1"\napi_key = "sk-alias"\n')
    gen = pipeline("text-generation", model="office")
    assert gen("hello", max_new_tokens=8)[0]["generated_text"] == "helloYou said: hello"
    assert recorder.bodies[0]["model"] == "m"


# ------------------------------------------------------------------------------------------ opt-in, keys


def test_no_opt_in_means_no_connection(home):
    """Without --allow-remote the CLI refuses in one line, exit 2, and nothing connects to the endpoint."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.5)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
        r = llmkit("generate", f"my mail is {PII['email']}", "--model", f"openai:m@{url}")
        assert r.returncode == 2, r.stderr
        err = r.stderr.decode().strip()
        assert len(err.splitlines()) == 1 and "--allow-remote" in err and "Traceback" not in err
        with pytest.raises(socket.timeout):
            listener.accept()


def test_opt_in_by_env_and_config(home, recorder, monkeypatch):
    ref = f"openai:m@{recorder.url}/v1"
    with pytest.raises(InputError, match="remote model"):
        pipeline("text-generation", model=ref)
    monkeypatch.setenv("LLMKIT_ALLOW_REMOTE", "1")
    pipeline("text-generation", model=ref)
    monkeypatch.delenv("LLMKIT_ALLOW_REMOTE")
    (home / "config.toml").write_text("[remote]\nallow = true\n")
    pipeline("text-generation", model=ref)
    assert recorder.bodies == []  # building a pipeline sends nothing


def test_missing_key_is_one_line(home, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    r = llmkit("generate", "hi", "--model", "openai:gpt-4o-mini", "--allow-remote", env={"OPENAI_API_KEY": ""})
    assert r.returncode == 2 and "OPENAI_API_KEY" in r.stderr.decode() and len(r.stderr.splitlines()) == 1


def test_provider_key_not_sent_to_a_custom_endpoint(home, recorder, monkeypatch):
    """OPENAI_API_KEY is for api.openai.com: another base URL gets LLMKIT_REMOTE_API_KEY (or none)."""
    seen: list[str] = []
    original = _Handler.do_POST

    def do_post(self):
        seen.append(self.headers.get("Authorization", ""))
        original(self)

    monkeypatch.setattr(_Handler, "do_POST", do_post)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-openai-key")
    pipeline("text-generation", model=f"openai:m@{recorder.url}/v1", allow_remote=True).generate("hi")
    monkeypatch.setenv("LLMKIT_REMOTE_API_KEY", "sk-endpoint")
    pipeline("text-generation", model=f"openai:m@{recorder.url}/v1", allow_remote=True).generate("hi")
    assert seen == ["Bearer no-key", "Bearer sk-endpoint"]


# ------------------------------------------------------------------------------------------ redaction


def test_redactor_consistent_and_restored():
    r = Redactor()
    out = r.redact(SECRET_TEXT)
    assert not any(v in out for v in PII.values()), out
    assert out.count("<EMAIL_1>") == 2 and "<EMAIL_2>" not in out
    for label in ("PHONE_1", "CREDIT_CARD_1", "IBAN_1", "IP_ADDRESS_1", "URL_1"):
        assert f"<{label}>" in out
    assert r.restore(out) == SECRET_TEXT
    assert r.redact(f"and {PII['phone']}") == "and <PHONE_1>"  # later turns keep the numbering


def test_stream_restore_across_every_cut():
    r = Redactor()
    redacted = r.redact(SECRET_TEXT)
    for cut in range(1, len(redacted)):
        s = r.restorer()
        assert s.feed(redacted[:cut]) + s.feed(redacted[cut:]) + s.finish() == SECRET_TEXT
    s = r.restorer()  # text that only looks like the start of a placeholder is not held forever
    assert s.feed("a < b <EM") + s.feed("pty") + s.finish() == "a < b <EMpty"


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_no_planted_pii_reaches_the_server(home, recorder, provider):
    gen = pipeline("text-generation", model=f"{provider}:m@{recorder.url}" + ("/v1" if provider == "openai" else ""),
                   allow_remote=True)
    chat = [{"role": "system", "content": f"The user's address is {PII['email']}."},
            {"role": "user", "content": SECRET_TEXT}]
    pieces = list(gen.stream(chat, max_new_tokens=64))
    assert "".join(pieces) == "You said: " + SECRET_TEXT  # placeholders restored, across 3-character pieces
    sent = json.dumps(recorder.bodies)
    assert not any(v in sent for v in PII.values()), sent
    assert "<EMAIL_1>" in sent and sent.count("<EMAIL_1>") == 3  # system + twice in the user message
    log = (home / "audit" / "remote.jsonl").read_text()
    assert not any(v in log for v in PII.values()) and "You said" not in log
    (entry,) = audit_lines(home)
    assert entry["provider"] == provider and entry["model"] == "m" and entry["redacted"] is True
    assert entry["redactions"]["EMAIL"] == 1 and entry["status"] == "stop"
    assert entry["prompt_tokens"] in (9, 11) and entry["completion_tokens"] > 0
    from llmkit.audit import digest

    body = recorder.bodies[0]
    sent_messages = body["messages"] if provider == "openai" else [{"role": "system", "content": body["system"]},
                                                                   *body["messages"]]
    assert entry["sha256"] == digest(sent_messages)


def test_conversation_keeps_placeholders_and_history(home, recorder):
    conv = pipeline("text-generation", model=f"openai:m@{recorder.url}/v1", allow_remote=True).chat()
    assert conv.send(f"I am {PII['email']}").text == f"You said: I am {PII['email']}"
    conv.send(f"and {PII['ip']}, still {PII['email']}")
    second = json.dumps(recorder.bodies[1]["messages"])
    assert "<EMAIL_1>" in second and "<IP_ADDRESS_1>" in second and PII["email"] not in second
    assert conv.last.usage.prompt_tokens == 11 and conv.last.finish_reason == "stop"


def test_no_redact_sends_text_as_is(home, recorder):
    r = llmkit("generate", SECRET_TEXT, "--model", f"openai:m@{recorder.url}/v1", "--allow-remote", "--no-redact",
               "--json")
    assert r.returncode == 0, r.stderr
    assert PII["card"] in json.dumps(recorder.bodies) and audit_lines(home)[0]["redacted"] is False
    out = json.loads(r.stdout)
    assert out["text"] == "You said: " + SECRET_TEXT and out["usage"]["prompt_tokens"] == 11


def test_redaction_switch_is_one_option_everywhere(home, recorder, monkeypatch):
    """``--redact/--no-redact`` come from ``RemoteOptions`` on every verb that runs a remote model, serve's
    ``redact`` setting too (flag, env); the explicit choice beats LLMKIT_REDACT, which beats the config."""
    import argparse

    from llmkit.commands import serve

    for verb in ("generate", "chat", "compare", "ui", "serve", "eval", "batch generate"):
        shown = llmkit(*verb.split(), "--help").stdout.decode()
        assert "--no-redact" in shown and "--allow-remote" in shown, verb
    parser = argparse.ArgumentParser()
    serve.add_arguments(parser)
    assert serve.settings_from_args(parser.parse_args(["--no-redact"])).redact is False
    assert serve.settings_from_args(parser.parse_args([])).redact is None  # not said: env, config, else on
    monkeypatch.setenv("LLMKIT_SERVE_REDACT", "0")
    assert serve.settings_from_args(parser.parse_args([])).redact is False

    def sent(**kw) -> str:
        pipeline("text-generation", model=f"openai:m@{recorder.url}/v1", allow_remote=True, **kw).generate(
            f"Mail {PII['email']}", max_new_tokens=4)
        return recorder.bodies[-1]["messages"][-1]["content"]

    (home / "config.toml").write_text("[remote]\nredact = false\n[remote.openai]\nmax_retries = 0\n")
    assert sent() == f"Mail {PII['email']}" and sent(redact=True) == "Mail <EMAIL_1>"
    monkeypatch.setenv("LLMKIT_REDACT", "1")
    assert sent() == "Mail <EMAIL_1>" and sent(redact=False) == f"Mail {PII['email']}"


def test_compare_no_redact_reaches_its_workers(home, recorder, tmp_path):
    prompts = tmp_path / "p.txt"
    prompts.write_text(f"write to {PII['email']}\n")
    models = [f"openai:a@{recorder.url}/v1", f"anthropic:b@{recorder.url}"]
    r = llmkit("compare", *models, "--prompts", str(prompts), "--output", str(tmp_path / "out"), "--allow-remote",
               "--no-redact")
    assert r.returncode == 0, r.stderr
    assert len(recorder.bodies) == 4 and all(PII["email"] in json.dumps(b) for b in recorder.bodies)
    assert not any(e["redaction"] for e in audit_lines(home))


# ------------------------------------------------------------------------------------------ errors


def test_quota_is_one_line(home, recorder):
    recorder.status = (429, {"error": {"message": "You exceeded your current quota", "type": "insufficient_quota",
                                       "param": None, "code": "insufficient_quota"}})
    r = llmkit("generate", "hi", "--model", f"openai:m@{recorder.url}/v1", "--allow-remote")
    assert r.returncode == 7 and "quota" in r.stderr.decode() and len(r.stderr.splitlines()) == 1
    assert audit_lines(home)[0]["status"] == "error"


def test_network_down_is_one_line(home):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gen = pipeline("text-generation", model=f"openai:m@http://127.0.0.1:{port}/v1", allow_remote=True)
    with pytest.raises(RemoteError, match="cannot reach http://127.0.0.1"):
        gen.generate("hi")
    r = llmkit("generate", "hi", "--model", f"anthropic:m@http://127.0.0.1:{port}", "--allow-remote")
    assert r.returncode == 7 and "cannot reach" in r.stderr.decode() and len(r.stderr.splitlines()) == 1


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_stream_cut_mid_answer_is_an_error_not_an_answer(home, recorder, provider):
    """A provider that stops mid-stream (no finish_reason / stop_reason) fails the call with one line: the pieces
    that came are not passed off as a complete answer."""
    recorder.cut = 4
    model = f"openai:m@{recorder.url}/v1" if provider == "openai" else f"anthropic:m@{recorder.url}"
    with pytest.raises(RemoteError, match="closed the stream before the answer was complete"):
        pipeline("text-generation", model=model, allow_remote=True).generate("hello there, how are you?")
    r = llmkit("generate", "hello there, how are you?", "--model", model, "--allow-remote")
    err = r.stderr.decode().strip()
    assert r.returncode == 7 and "before the answer was complete" in err and len(err.splitlines()) == 1, err
    r = llmkit("generate", "hello there, how are you?", "--model", model, "--allow-remote", "--json")
    assert r.returncode == 7 and r.stdout == b""  # no JSON answer for an incomplete one
    assert [e["status"] for e in audit_lines(home)] == ["error"] * 3


def test_stop_strings_and_options_are_sent(home, recorder):
    gen = pipeline("text-generation", model=f"openai:m@{recorder.url}/v1", allow_remote=True)
    result = gen.generate("hello there", stop=["there"], temperature=0, top_p=0.5, seed=3, max_new_tokens=9)
    assert result.text == "You said: hello " and result.finish_reason == "stop"  # cut locally too
    body = recorder.bodies[0]
    assert (body["stop"], body["temperature"], body["top_p"], body["seed"], body["max_tokens"]) == (
        ["there"], 0.0, 0.5, 3, 9)
    assert "top_k" not in body and body["stream_options"] == {"include_usage": True}


def test_timeout_is_one_line(home, recorder):
    (home / "config.toml").write_text("[remote.openai]\nmax_retries = 0\ntimeout = 1\n")
    recorder.delay = 3
    with pytest.raises(RemoteError, match="did not answer within 1 s"):
        pipeline("text-generation", model=f"openai:m@{recorder.url}/v1", allow_remote=True).generate("hi")


def test_compare_remote_models(home, recorder, tmp_path):
    """`llmkit compare` takes remote models (opt-in from env/config): refused before anything runs without it."""
    prompts = tmp_path / "p.txt"
    prompts.write_text(f"write to {PII['email']}\n")
    models = [f"openai:a@{recorder.url}/v1", f"anthropic:b@{recorder.url}"]
    r = llmkit("compare", *models, "--prompts", str(prompts), "--output", str(tmp_path / "out"))
    assert r.returncode == 2 and "--allow-remote" in r.stderr.decode() and recorder.bodies == []
    r = llmkit("compare", *models, "--prompts", str(prompts), "--output", str(tmp_path / "out"), "--allow-remote")
    assert r.returncode == 0, r.stderr  # the flag the refusal names exists and opts the workers in
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert f"You said: write to {PII['email']}" in json.dumps(report)
    assert PII["email"] not in json.dumps(recorder.bodies) and len(recorder.bodies) == 4  # warm-up + prompt each


def test_credentials_in_a_base_url_are_never_shown(home):
    from llmkit.providers import shown

    assert shown("https://user:sk-secret@host.example:8443/v1?key=sk-q") == "https://host.example:8443/v1"
    r = llmkit("generate", "hi", "--model", "openai:m@https://user:sk-secret@host.example/v1?key=sk-q")
    assert r.returncode == 2 and b"sk-" not in r.stderr and b"host.example/v1" in r.stderr


# ------------------------------------------------------------------------------- batch, eval, serve's old key


def test_eval_remote_model(home, recorder, tmp_path):
    """`llmkit eval` has the flag its refusal names; results go under the provider and model, never the URL."""
    ref = f"openai:org/m@http://user:sk-pw@127.0.0.1:{recorder.server_address[1]}/v1"
    r = llmkit("eval", ref, "--suite", "chat", "--limit", "2", "-q")
    assert r.returncode == 2 and "--allow-remote" in r.stderr.decode() and recorder.bodies == []
    r = llmkit("eval", ref, "--suite", "chat", "--limit", "2", "-q", "--allow-remote", "--no-redact")
    assert r.returncode == 0, r.stderr
    assert [p.name for p in (home / "evals").iterdir()] == ["openai-org-m"]
    saved = (home / "evals" / "openai-org-m" / "chat-first2.json").read_text()  # a --limit run, saved apart
    assert json.loads(saved)["model"] == f"openai:org/m@{recorder.url}/v1" and "sk-pw" not in saved
    assert len(recorder.bodies) == 2 and recorder.bodies[0]["model"] == "org/m"
    assert not any(e["redaction"] for e in audit_lines(home))  # --no-redact reached the suite's pipeline


@pytest.mark.slow
def test_batch_generate_remote_model(home, recorder, tmp_path):
    """`llmkit batch generate` refuses a remote model before Ray starts unless --allow-remote, which reaches the
    Ray workers with --redact/--no-redact: what arrives is redacted, the answers come back restored."""
    pytest.importorskip("ray")
    rows = tmp_path / "in.jsonl"
    rows.write_text("".join(json.dumps({"id": i, "text": f"row {i}: mail {PII['email']}"}) + "\n" for i in range(3)))
    ref = f"openai:m@http://user:sk-pw@127.0.0.1:{recorder.server_address[1]}/v1"
    cmd = ["batch", "generate", "--input", str(rows), "--output", str(tmp_path / "out"), "--model", ref,
           "--workers", "1", "--format", "jsonl"]
    r = llmkit(*cmd)
    err = r.stderr.decode().strip()
    assert r.returncode == 2 and "--allow-remote" in err and len(err.splitlines()) == 1, err
    assert recorder.bodies == [] and not (tmp_path / "out").exists()
    r = llmkit(*cmd, "--allow-remote")
    assert r.returncode == 0, r.stderr
    parts = (tmp_path / "out").glob("part-*.jsonl")
    out = sorted(json.loads(line)["text"] for p in parts for line in p.read_text().splitlines() if line)
    assert out == [f"You said: row {i}: mail {PII['email']}" for i in range(3)]
    assert len(recorder.bodies) == 3 and PII["email"] not in json.dumps(recorder.bodies)
    assert "sk-pw" not in (tmp_path / "out" / "llmkit-batch.json").read_text()


def test_serve_old_no_redact_key_and_env(tmp_path, monkeypatch):
    """`no_redact` (YAML) and LLMKIT_SERVE_NO_REDACT, from before the rename to `redact`, still work, inverted;
    given with the new name too, one line names the new one."""
    from llmkit.serve.settings import load_settings

    monkeypatch.delenv("LLMKIT_SERVE_REDACT", raising=False)
    old = tmp_path / "old.yaml"
    old.write_text("no_redact: true\n")
    assert load_settings(old).redact is False
    monkeypatch.setenv("LLMKIT_SERVE_NO_REDACT", "0")  # the environment beats the file, as for every setting
    assert load_settings(old).redact is True and load_settings().redact is True
    monkeypatch.delenv("LLMKIT_SERVE_NO_REDACT")
    both = tmp_path / "both.yaml"
    both.write_text("no_redact: true\nredact: true\n")
    r = llmkit("serve", "--config", str(both))
    err = r.stderr.decode().strip()
    assert r.returncode == 2 and len(err.splitlines()) == 1 and "give redact alone" in err, err
