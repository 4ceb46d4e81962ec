"""Server settings and who may reach the server, each on a server of its own (no shared model server): the Host
check against DNS rebinding, the bind rule, duplicate folder names, the body timeout, and every setting's flag."""
from __future__ import annotations

import socket

import httpx
import pytest

pytest.importorskip("fastapi")

from llmkit.serve import ServeSettings  # noqa: E402
from llmkit.serve.background import running  # noqa: E402
from test_serve import KEY, chunked, error_of  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.real_home]


def test_two_model_folders_with_one_name_are_refused(tmp_path):
    from llmkit.errors import InputError
    from llmkit.serve import create_app

    for d in ("a/toy", "b/toy", "c/all-minilm-l6-v2"):
        (tmp_path / d).mkdir(parents=True)
    for pair in (["a/toy", "b/toy"], ["c/all-minilm-l6-v2"]):
        with pytest.raises(InputError, match="rename the folder"):
            create_app(ServeSettings(models=[str(tmp_path / d) for d in pair]))


def test_a_foreign_host_header_is_refused_without_a_key():
    """DNS rebinding: a page on evil.example that resolves to 127.0.0.1 sends `Host: evil.example`."""
    with running(ServeSettings(port=0)) as url:
        port = url.rsplit(":", 1)[1]
        evil = httpx.get(url + "/v1/models", headers={"Host": "evil.example"})
        assert evil.status_code == 403 and error_of(evil)["code"] == "host_not_allowed"
        assert "--allowed-hosts evil.example" in error_of(evil)["message"]
        assert httpx.post(url + "/v1/embeddings", json={"input": "x"},
                          headers={"Host": f"evil.example:{port}"}).status_code == 403
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", "localhost"):
            assert httpx.get(url + "/v1/models", headers={"Host": host}).status_code == 200, host
    with running(ServeSettings(port=0, allowed_hosts=["llm.lan,evil.example"])) as url:
        assert httpx.get(url + "/v1/models", headers={"Host": "evil.example"}).status_code == 200
        assert httpx.get(url + "/v1/models", headers={"Host": "other.example"}).status_code == 403


def test_a_network_host_without_a_key_is_refused_by_every_entry_point(monkeypatch):
    from cli_helpers import llmkit

    from llmkit.errors import InputError
    from llmkit.serve import create_app, serve

    # A guard, not a mock of the behaviour under test: if the check were missing, serve() would start a server
    # on every interface and never return.
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: pytest.fail("serve() started a server on 0.0.0.0"))
    for call in (lambda: serve(host="0.0.0.0", port=0), lambda: create_app(ServeSettings(host="0.0.0.0")),
                 lambda: serve(ServeSettings(host="192.168.1.7"))):
        with pytest.raises(InputError, match="--api-key KEY"):
            call()
    create_app(ServeSettings(host="0.0.0.0", api_keys=[KEY]))  # with a key it is allowed
    r = llmkit("serve", "--host", "0.0.0.0", "--port", "1")
    err = r.stderr.decode()
    assert r.returncode == 2 and len(err.strip().splitlines()) == 1 and "--api-key KEY" in err, err


def test_a_stalled_or_trickling_body_times_out():
    """--body-timeout-s: the whole body must arrive in time (1 s here), or the server answers 408 and moves on."""
    with running(ServeSettings(port=0, body_timeout_s=1)) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:  # promises 100 bytes, sends 9
            sock.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100\r\n\r\n{\"input\":")
            answer = sock.recv(65536).decode()
        assert answer.startswith("HTTP/1.1 408") and "--body-timeout-s" in answer, answer
        trickle = chunked(b'{"input": ', *[b" "] * 8, b'"x"}', pause=0.25)  # 2.5 s, a byte at a time
        r = httpx.post(url + "/v1/embeddings", content=trickle, headers={"content-type": "application/json"})
        assert r.status_code == 408 and error_of(r)["code"] == "request_timeout", r.text
        assert httpx.get(url + "/health").status_code == 200


def test_every_setting_has_the_flag_its_errors_name():
    """Errors name a setting as --its-name (load_settings, the routes' limit errors): each must be a real flag."""
    import argparse

    from llmkit.commands.serve import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    flags = {o for a in parser._actions for o in a.option_strings}
    spelled = {"models": "--model", "api_keys": "--api-key"}
    missing = [f for f in ServeSettings.model_fields if spelled.get(f, "--" + f.replace("_", "-")) not in flags]
    assert not missing, missing


def test_bad_server_settings_name_the_flag():
    from cli_helpers import llmkit

    r = llmkit("serve", "--generation-slots", "0", "--port", "99999")
    err = r.stderr.decode()
    assert r.returncode == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert ("--generation-slots (or LLMKIT_SERVE_GENERATION_SLOTS): input should be greater than or equal to 1 "
            "(got 0)") in err
    assert "--port (or LLMKIT_SERVE_PORT): input should be less than or equal to 65535 (got 99999)" in err
    r = llmkit("serve", "--max-input-chars", "3")
    assert r.returncode == 2 and "--max-input-chars (or LLMKIT_SERVE_MAX_INPUT_CHARS)" in r.stderr.decode()
