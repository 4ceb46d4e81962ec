"""`llmkit generate` and `llmkit chat` as a user runs them: exit codes, one-line errors, real model output."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from llmkit.hub import is_installed

FAST = "smollm2-135m-instruct"  # the tests about the CLI name the fast chat model; one runs the default
needs_model = pytest.mark.skipif(not is_installed(FAST), reason="smollm2 GGUF not installed (make test-models)")


@pytest.fixture(scope="module")
def llmkit_home(tmp_path_factory):
    return str(tmp_path_factory.mktemp("llmkit-home"))


def llmkit(home: str, *args: str, stdin: bytes | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "LLMKIT_HOME": home, "HF_HUB_OFFLINE": "1", "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-m", "llmkit.cli", *args], input=stdin if stdin is not None else b"",
                          capture_output=True, env=env, timeout=timeout)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    err = proc.stderr.decode()
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    "args, stdin, code, words",
    [
        (["generate", "   "], None, 2, "empty"),
        (["generate"], b" \n\t\n", 2, "empty"),
        (["generate"], b"caf\xe9 au lait", 2, "UTF-8"),
        (["generate", "Hi", "--temperature", "5"], None, 2, "--temperature"),
        (["generate", "Hi", "--top-p", "0"], None, 2, "--top-p"),
        (["generate", "Hi", "--max-new-tokens", "0"], None, 2, "--max-new-tokens"),
        (["generate", "Hi", "--repetition-penalty", "-1"], None, 2, "--repetition-penalty"),
        (["generate", "Hi", "--temperature", "warm"], None, 2, "--temperature"),
        (["generate", "Hi", "--model", "no-such-model"], None, 3, "Available"),
        (["chat", "--top-k", "-2"], b"Hi\n", 2, "--top-k"),
        (["generate", "Hi", "--context", "8"], None, 2, "--context"),
    ],
)
def test_bad_input_gives_one_line_and_a_nonzero_exit(llmkit_home, args, stdin, code, words):
    proc = llmkit(llmkit_home, *args, stdin=stdin)
    assert proc.returncode == code, proc.stderr.decode()
    assert words in one_line_error(proc)


def test_help_shows_examples(llmkit_home):
    for verb in ("generate", "chat"):
        out = llmkit(llmkit_home, verb, "--help").stdout.decode()
        assert "examples:" in out and f"llmkit {verb}" in out


@needs_model
def test_generate_streams_an_answer_and_json_has_usage(llmkit_home):
    proc = llmkit(llmkit_home, "generate", "What is the capital of France?", "--seed", "0", "--model", FAST,
                  "--system", "You are a helpful assistant.")
    assert proc.returncode == 0, proc.stderr.decode()
    assert "Paris" in proc.stdout.decode()
    proc = llmkit(llmkit_home, "generate", "--json", "--seed", "0", "--max-new-tokens", "12", "--model", FAST,
                  stdin="Name a fruit.".encode())
    assert proc.returncode == 0, proc.stderr.decode()
    out = json.loads(proc.stdout)
    usage = out["usage"]
    assert out["text"] and 1 <= usage["completion_tokens"] <= 12
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


@needs_model
def test_a_prompt_far_over_the_context_is_truncated_and_said_so(llmkit_home):
    prompt = "The quick brown fox jumps over the lazy dog. " * 200  # ~2000 tokens into a 512-token context
    proc = llmkit(llmkit_home, "generate", "--raw", "--json", "--max-new-tokens", "4", "--temperature", "0",
                  "--model", FAST,
                  "--context", "512", stdin=prompt.encode())
    assert proc.returncode == 0, proc.stderr.decode()
    assert "dropped the first" in one_line_error(proc)
    out = json.loads(proc.stdout)
    assert out["truncated_prompt_tokens"] > 1000 and out["usage"]["prompt_tokens"] + 4 <= 512


@needs_model
def test_chat_reads_piped_lines_and_keeps_history(llmkit_home):
    script = "What is the capital of France?\n\n/reset\nAnd of Italy?\n/exit\nnever sent\n"
    proc = llmkit(llmkit_home, "chat", "--json", "--seed", "0", "--max-new-tokens", "24", "--model", FAST,
                  "--system", "You are a helpful assistant.", stdin=script.encode())
    assert proc.returncode == 0, proc.stderr.decode()
    replies = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert len(replies) == 2 and "Paris" in replies[0]["text"]
    # after /reset the second turn is alone in the prompt: fewer prompt tokens than history + question
    assert replies[1]["usage"]["prompt_tokens"] < replies[0]["usage"]["total_tokens"]


@needs_model
def test_chat_refuses_non_utf8_stdin(llmkit_home):
    proc = llmkit(llmkit_home, "chat", "--model", FAST, stdin=b"Hi\n\xff\xfe\n")
    assert proc.returncode == 2 and "UTF-8" in one_line_error(proc)


@pytest.mark.slow
@pytest.mark.real_home  # the default chat model as `make models` prepared it (joined once under LLMKIT_HOME)
def test_generate_and_chat_without_a_model_run_the_default_qwen():
    """No --model: the task table's default chat model, Qwen2.5-Coder 1.5B (chosen by measurement, BENCHMARKS.md)."""
    from conftest import REAL_HOME

    from llmkit.task_table import get

    assert get("text-generation").default_model == "qwen2.5-coder-1.5b-instruct"
    question = "What is the capital of France? Answer in one word."
    proc = llmkit(REAL_HOME, "generate", question, "--json", "--max-new-tokens", "8", "--temperature", "0")
    assert proc.returncode == 0, proc.stderr.decode()
    out = json.loads(proc.stdout)
    assert out["model"] == "qwen2.5-coder-1.5b-instruct" and "Paris" in out["text"]
    proc = llmkit(REAL_HOME, "chat", "--json", "--max-new-tokens", "8", "--temperature", "0",
                  stdin=f"{question}\n".encode())
    assert proc.returncode == 0, proc.stderr.decode()
    reply = json.loads(proc.stdout.decode().splitlines()[0])
    assert reply["model"] == "qwen2.5-coder-1.5b-instruct" and "Paris" in reply["text"]
