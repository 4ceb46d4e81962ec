"""Prompt reuse (llama.cpp's per-slot KV cache and host prompt cache, ``--prompt-cache-mib``): later turns read only
their new tokens; an edited earlier message is re-read rather than served from a stale prefix; conversations
interleaved on the server (more conversations than slots) each answer exactly as they do alone; and the same
conversations with reuse on and off give the same greedy text on the Qwen2.5-Coder 0.5B (the default chat model's
family and quantisation) with ``repack=False``, as docs/generation.md promises; SmolLM2's Q4_1 file does not (xfail,
see there). Real weights."""
from __future__ import annotations

import httpx
import pytest

from llmkit import pipeline

pytestmark = [pytest.mark.slow, pytest.mark.real_home]

CHAT = "smollm2-135m-instruct"
SYSTEM = "You are a concise assistant."
TURNS = {
    "fruit": ["Name a red fruit.", "What colour is it inside?", "Give one recipe with it."],
    "city": ["Name the capital of Italy.", "Name a river there.", "Name a famous building there."],
    "maths": ["What is 12 plus 7?", "Multiply that by 2.", "Is the result even?"],
}
NEW = 20  # tokens per answer: enough to differ, short enough for a busy 2-core machine


def answers(pipe, turns: list[str], first: str | None = None) -> list[str]:
    conv = pipe.chat(system=SYSTEM)
    out = []
    for i, text in enumerate(turns):
        out.append(conv.send(first if i == 0 and first else text, temperature=0, max_new_tokens=NEW).text)
    return out


@pytest.fixture(scope="module")
def reuse():
    return pipeline("text-generation", model=CHAT, engine="llamacpp", n_ctx=1024)


@pytest.fixture(scope="module")
def fresh():
    """Reuse off: every prompt is read from its first token (the reference)."""
    return pipeline("text-generation", model=CHAT, engine="llamacpp", n_ctx=1024, prompt_cache_mib=0)


@pytest.fixture(scope="module")
def alone(fresh):
    return {name: answers(fresh, turns) for name, turns in TURNS.items()}


@pytest.fixture(scope="module")
def alone_reusing(reuse):
    return {name: answers(reuse, turns) for name, turns in TURNS.items()}


EXACT = "qwen2.5-coder-0.5b-instruct"  # Q4_K_M (Q4_K, Q5_0, Q6_K, Q8_0 tensors), as the default 1.5B


def test_same_conversations_same_greedy_answers_with_and_without_reuse():
    """With repacking off (the exact-greedy setting, docs/generation.md) a turn read mostly from the cache gives the
    same tokens as the whole history read from its first token: every turn of the three chats."""
    def run(**kw):
        pipe = pipeline("text-generation", model=EXACT, engine="llamacpp", n_ctx=1024, repack=False, **kw)
        return {name: answers(pipe, turns) for name, turns in TURNS.items()}

    assert run() == run(prompt_cache_mib=0)


@pytest.mark.xfail(strict=False, reason="SmolLM2's Q4_1 file: a turn read partly from the cache answers differently "
                   "from the same history read whole in 3 of 9 turns, at 1 and 2 threads, with repacking on or off "
                   "(Q4_1 is not repacked); the Qwen Q4_K_M files agree (the test above)")
def test_smollm2_q4_1_same_greedy_answers_with_and_without_reuse(alone_reusing, alone):
    assert alone_reusing == alone


def test_reuse_gives_the_same_first_turns_as_reading_whole(alone_reusing, alone):
    """A first turn reuses only the shared system prompt (read as a batch both ways): the same bits."""
    assert {n: a[0] for n, a in alone_reusing.items()} == {n: a[0] for n, a in alone.items()}


def test_an_edited_earlier_message_is_read_again_not_served_from_the_cache(reuse):
    """After the original chat is cached, the edited one must answer as it does on a cold engine."""
    turns = TURNS["fruit"]
    answers(reuse, turns)  # the cache now holds this conversation
    edited = "Name a yellow fruit."
    cold = pipeline("text-generation", model=CHAT, engine="llamacpp", n_ctx=1024)
    assert answers(reuse, turns, first=edited) == answers(cold, turns, first=edited)


def test_a_later_turn_reads_only_its_new_tokens(reuse, fresh):
    """llama.cpp reports how many prompt tokens came from the cache (timings.cache_n) and how many it read."""
    from llmkit.engines.llamacpp import request
    from llmkit.tasks.generate_options import GenerationOptions

    first = "<|im_start|>user\nTell me about tea and where it grows.<|im_end|>\n"
    history = reuse.engine.tokenize(first)
    longer = reuse.engine.tokenize(first + "<|im_start|>user\nAnd coffee?<|im_end|>\n")
    assert longer[:len(history)] == history

    def timings(pipe, ids):
        body = {**request(ids, GenerationOptions(temperature=0), 2, reuse=pipe.engine.reuse), "stream": False}
        return pipe.engine.server.handle_completions(body)["timings"]

    timings(reuse, history)
    again = timings(reuse, longer)
    assert again["cache_n"] >= len(history) - 1 and again["prompt_n"] <= len(longer) - len(history) + 1
    timings(fresh, history)
    assert timings(fresh, longer)["cache_n"] == 0


def test_interleaved_conversations_on_the_server_answer_as_alone(alone_reusing):
    """Three conversations round-robin over two slots: slot affinity keeps two, the host cache brings the third
    back; every answer must equal the conversation's own run, alone, in-process."""
    from serve_helpers import real_server

    with real_server(generation_slots=2, n_ctx=1024, default_max_tokens=NEW) as url:
        history = {name: [{"role": "system", "content": SYSTEM}] for name in TURNS}
        got: dict[str, list[str]] = {name: [] for name in TURNS}
        with httpx.Client(base_url=url, timeout=300) as client:
            for i in range(3):
                for name, turns in TURNS.items():
                    history[name].append({"role": "user", "content": turns[i]})
                    r = client.post("/v1/chat/completions", json={
                        "model": CHAT, "messages": history[name], "temperature": 0, "max_tokens": NEW})
                    assert r.status_code == 200, r.text
                    text = r.json()["choices"][0]["message"]["content"]
                    history[name].append({"role": "assistant", "content": text})
                    got[name].append(text)
    assert got == alone_reusing


def test_a_budget_too_small_for_one_prompt_is_one_clear_line():
    from cli_helpers import llmkit

    r = llmkit("generate", "hi", "-m", CHAT, "--prompt-cache-mib", "10")
    assert r.returncode == 2
    stderr = r.stderr.decode()
    assert "--prompt-cache-mib 10 cannot hold one prompt" in stderr and "0 to turn prompt reuse off" in stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1
