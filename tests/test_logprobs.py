"""top_logprobs (chat) and logprobs=N (completions): the alternatives at each step, in OpenAI's shape, from the
llama.cpp engine through a real server and the official openai SDK; and from the torch engine."""
from __future__ import annotations

import pytest

openai = pytest.importorskip("openai")
pytest.importorskip("fastapi")

from conftest import REAL_HOME  # noqa: E402
from llmkit.serve import ServeSettings  # noqa: E402
from llmkit.serve.background import running  # noqa: E402

pytestmark = [pytest.mark.real_home]
CHAT = "smollm2-135m-instruct"
HI = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]


@pytest.fixture(scope="module")
def client():
    settings = ServeSettings(port=0, api_keys=["k"], max_tokens=64)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LLMKIT_HOME", REAL_HOME)
        with running(settings) as url:
            yield openai.OpenAI(base_url=url + "/v1", api_key="k", max_retries=0, timeout=120)


def test_chat_top_logprobs_lists_the_alternatives_best_first(client):
    r = client.chat.completions.create(model=CHAT, messages=HI, max_tokens=8, temperature=0, logprobs=True,
                                       top_logprobs=5)
    content = r.choices[0].logprobs.content
    assert content
    for t in content:
        alts = t.top_logprobs
        assert len(alts) == 5
        lps = [a.logprob for a in alts]
        assert lps == sorted(lps, reverse=True) and all(lp <= 0 for lp in lps)
        assert alts[0].token == t.token and alts[0].logprob == pytest.approx(t.logprob, abs=1e-3)  # greedy
        assert alts[0].bytes == list(alts[0].token.encode("utf-8"))
    streamed = client.chat.completions.create(model=CHAT, messages=HI, max_tokens=8, temperature=0, logprobs=True,
                                              top_logprobs=5, stream=True)
    tail = [c.choices[0].logprobs for c in streamed if c.choices and c.choices[0].logprobs]
    assert [[a.token for a in t.top_logprobs] for t in tail[-1].content] == [
        [a.token for a in t.top_logprobs] for t in content]  # the stream's last chunk lists the same alternatives
    plain = client.chat.completions.create(model=CHAT, messages=HI, max_tokens=8, temperature=0, logprobs=True)
    assert all(t.top_logprobs == [] for t in plain.choices[0].logprobs.content)


def test_completions_logprobs_n_gives_top_logprobs_dicts(client):
    r = client.completions.create(model=CHAT, prompt="The capital of France is", max_tokens=5, temperature=0,
                                  logprobs=3)
    lp = r.choices[0].logprobs
    assert len(lp.top_logprobs) == len(lp.tokens) > 0
    for token, chosen, alts in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs):
        assert len(alts) == 3 and token in alts and alts[token] == pytest.approx(chosen, abs=1e-3)


def test_bad_top_logprobs_are_the_api_error_shape(client):
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=CHAT, messages=HI, max_tokens=2, logprobs=True, top_logprobs=21)
    with pytest.raises(openai.BadRequestError, match="top_logprobs needs logprobs"):
        client.chat.completions.create(model=CHAT, messages=HI, max_tokens=2, top_logprobs=2)


def test_cli_show_logprobs_marks_unsure_tokens_and_json_has_alternatives():
    import json
    import math

    from cli_helpers import llmkit

    env = {"LLMKIT_HOME": REAL_HOME}
    r = llmkit("generate", "The capital of France is", "--model", CHAT, "--raw", "--show-logprobs",
               "--max-new-tokens", "12", "--temperature", "0", env=env)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    out = r.stdout.decode()
    assert "\033[" not in out and "|0." in out  # not a terminal: unsure tokens as [token|p], no colour codes
    r = llmkit("generate", "The capital of France is", "--model", CHAT, "--raw", "--json", "--logprobs",
               "--top-logprobs", "2", "--max-new-tokens", "3", "--temperature", "0", env=env)
    rows = json.loads(r.stdout)["logprobs"]
    assert rows and all(len(t["top_logprobs"]) == 2 and t["top_logprobs"][0]["token"] == t["token"] for t in rows)
    assert all(math.exp(t["logprob"]) <= 1 for t in rows)
    bad = llmkit("generate", "Hi", "--model", CHAT, "--logprobs", "--top-logprobs", "21", env=env)
    assert bad.returncode == 2 and "top_logprobs" in bad.stderr.decode() and "Traceback" not in bad.stderr.decode()
