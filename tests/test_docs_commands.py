"""Every `llmkit` command line shown in README.md and docs/*.md runs, as a user would type it, on small inputs.

Command lines are found, not listed: in each fenced shell block (```bash, ```sh, ```console or a bare ```),
a line that starts with `llmkit `, `$ llmkit ` or pipes into `llmkit` (lines ending in `\\` are joined).
A line added to the docs is run here with no change to this file. Each doc's lines run in order in a fresh
working directory that holds the inputs the docs name (INPUTS); the docs run side by side, except those that
share a folder (TOGETHER). A line shown twice runs once: in its folder, or anywhere when it touches no file there.
Bash runs each line (pipes, `>` and `#` comments work as typed), with `llmkit` meaning `python -m llmkit.cli` of
this interpreter. A command fails the test on an exit code other than 0 (or the one EXIT_CODES expects) or on a
"Traceback".

What the test changes, and why (one table each): INPUTS (the files the docs name, in docs_inputs.py), VALUES (text swapped in a
line: the home folder), SPEED_FLAGS (appended to training lines, so they run seconds instead of minutes),
LINE_FLAGS (the same for single lines, such as a generation with no length limit), STDIN (what a user types into
interactive commands), LONG_RUNNING (servers: started, checked ready, stopped; their port is swapped for a free
one), CANNOT_RUN (lines that cannot run in a test, with the reason).

The default models are the prepared ones (`real_home`), seen through a temporary LLMKIT_HOME of symbolic links,
so that `models pull --force` re-joins whisper-base in the temporary home, not in yours.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import REAL_HOME
from docs_inputs import make_inputs
from speech_fixtures import have_tools

pytestmark = [pytest.mark.slow, pytest.mark.real_home]

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_BLOCKS = {"", "bash", "sh", "shell", "console"}

# Text swapped in a command line before it runs.
VALUES: dict[str, str] = {"~/my-runs": "my-runs"}  # not the user's home folder
# Appended to every line of these verbs: the docs' runs train for minutes; one step shows the command works.
SPEED_FLAGS: dict[str, list[str]] = {
    "finetune": ["--epochs", "0.01", "--max-length", "32", "--quiet"],
    "multitask": ["--epochs", "0.01", "--max-length", "32", "--quiet"],
}
# Appended to single lines, matched by their start: a base model's greedy story has no end and runs to the default
# 256 tokens (the suite's slowest generate line); 32 show the line works.
LINE_FLAGS: dict[str, list[str]] = {'llmkit generate "Once upon a time" --raw': ["--max-new-tokens", "32"]}
# The docs' training lines are alternatives that write the same folder: each starts afresh (--resume continues).
FRESH_OUTPUT = {"finetune", "multitask"}
# What a user types into an interactive command (when the line does not pipe its own input).
STDIN: dict[str, str] = {
    "chat": "What is the capital of France?\n/exit\n",
    "demo": "I love it\n\nWhat is the capital of France?\n\n",
}
# Servers: started with a free port, ready when this path answers 200, then stopped.
LONG_RUNNING: dict[str, str] = {"serve": "/health", "ui": "/"}
# Lines that cannot run in a test, matched by their start: the reason.
CANNOT_RUN: dict[str, str] = {
    "llmkit generate \"Hi\" --system \"Answer in French.\" --engine torch":
        "the torch engine loads the default model's transformers weights from the hub (network); test_generate_unit "
        "covers the torch engine on a tiny model",
    # --resume continues a run that crashed; after a finished run it refuses (the model is there). test_finetune
    # and test_multitask interrupt a run and resume it.
    "llmkit finetune --config run.yaml --resume": "continues a crashed run (tested in test_finetune.py)",
    "llmkit multitask --config tasks.yaml --output runs/multi --resume":
        "continues a crashed run (tested in test_multitask.py)",
    "llmkit serve --replicas 2": "starts a Ray cluster with 2 replicas (minutes here); test_ray_serve.py runs it",
    # remote models need a provider's key and the network; test_remote_serve.py runs them against llmkit serve
    "llmkit generate \"Summarise: ...\" --model openai:gpt-4o-mini --allow-remote": "needs an OpenAI key",
    "llmkit chat --model anthropic:claude-3-5-haiku-latest --allow-remote --max-new-tokens 300":
        "needs an Anthropic key",
}
# Docs that show the same lines with state between them share one working folder and run one after the other, so
# that a line shown twice runs once: finetune.md trains runs/food and evaluates it as README.md does. (Elsewhere
# each doc has a folder of its own.)
TOGETHER: list[tuple[str, ...]] = [("README.md", "finetune.md")]
# Lines the docs show failing on purpose: the exit code they must give (still one line, no traceback).
EXIT_CODES: dict[str, int] = {"llmkit transcribe calls/ --output-dir out": 2,
                              "llmkit generate \"Hi\" --model openai:gpt-4o-mini": 2}  # a remote model, no opt-in  # calls/broken.wav is not audio


# ---------------------------------------------------------------------------------------------- extraction

def doc_commands(path: Path) -> list[str]:
    """The llmkit command lines in a Markdown file's fenced shell blocks, in order, continuations joined."""
    commands, block, pending = [], None, ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        fence = re.match(r"\s*```\s*([\w-]*)", raw)
        if fence:
            block = None if block is not None else fence.group(1).lower()
            continue
        if block is None or block not in SHELL_BLOCKS:
            continue
        line = pending + raw.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        line = re.sub(r"^\$\s+", "", line)
        if re.match(r"llmkit\s", line) or re.search(r"\|\s*llmkit\s", line):
            commands.append(line)
    return commands


def _verb(command: str) -> str:
    words = shlex.split(command[command.index("llmkit"):], comments=True)
    return words[1] if len(words) > 1 else ""


def _skip_reason(command: str) -> str | None:
    return next((why for start, why in CANNOT_RUN.items() if command.startswith(start)), None)


# ---------------------------------------------------------------------------------------------- inputs

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """Every input of INPUTS (docs_inputs.py), made once; each doc's working directory links to them."""
    if not have_tools():
        pytest.skip("espeak-ng and sox are needed to make the audio inputs")
    return make_inputs(tmp_path_factory.mktemp("doc-inputs"))


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """A temporary LLMKIT_HOME that links to the prepared models (except whisper-base, joined here) and to the
    export cache (content-addressed); the rest (eval results, bench records, votes, runs) is copied, so that what
    the docs' lines write (`eval --limit 3`, `models bench`) never lands in the real home."""
    home = tmp_path_factory.mktemp("doc-home")
    real = Path(REAL_HOME)
    (home / "models").mkdir()
    for entry in real.iterdir():
        if entry.name == "models":
            for model in entry.iterdir():
                if model.name != "whisper-base":
                    (home / "models" / model.name).symlink_to(model)
        elif entry.name == "cache":
            (home / entry.name).symlink_to(entry)
        elif entry.is_dir():
            shutil.copytree(entry, home / entry.name, symlinks=True)
        else:
            shutil.copy2(entry, home / entry.name)
    return home


# ---------------------------------------------------------------------------------------------- running

def _prepare(command: str) -> tuple[str, int | None]:
    """The line as the test runs it (VALUES, SPEED_FLAGS, a free port for servers) and that port."""
    for placeholder, value in VALUES.items():
        command = command.replace(placeholder, value)
    code = _without_comment(command)
    verb = _verb(code)
    port = None
    if verb in LONG_RUNNING:
        port = _free_port()
        code = re.sub(r"--port\s+\d+", "", code) + f" --port {port}"
    extra = SPEED_FLAGS.get(verb, []) + next((f for start, f in LINE_FLAGS.items() if command.startswith(start)), [])
    code = code.rstrip() + "".join(f" {shlex.quote(f)}" for f in extra)
    return code, port


def _without_comment(line: str) -> str:
    """The line up to a shell comment (a # after a blank, outside quotes), so that flags go before it."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line


def _shell(command: str) -> list[str]:
    prelude = f'llmkit() {{ {shlex.quote(sys.executable)} -m llmkit.cli "$@"; }}; set -o pipefail; '
    return ["bash", "-c", prelude + command]


def _run_line(command: str, cwd: Path, env: dict) -> str | None:
    """None when the line ran as the docs promise, else what went wrong."""
    code, port = _prepare(command)
    verb = _verb(code)
    if port is not None:
        return _run_server(code, port, LONG_RUNNING[verb], cwd, env)
    output = re.search(r"--output\s+(\S+)", code)
    if verb in FRESH_OUTPUT and output and "--resume" not in code:
        shutil.rmtree(cwd / output.group(1), ignore_errors=True)
    piped = bool(re.search(r"\|\s*llmkit\s", code))
    stdin = None if piped or verb not in STDIN else STDIN[verb].encode()
    r = subprocess.run(_shell(code), cwd=cwd, env=env, input=stdin if stdin is not None else b"",
                       capture_output=True, timeout=600)
    err = r.stderr.decode("utf-8", "replace")
    want = next((c for start, c in EXIT_CODES.items() if command.startswith(start)), 0)
    if r.returncode != want or "Traceback" in err:
        return f"exit {r.returncode} (want {want}):\n{err[-3000:]}"
    return None


def _run_server(code: str, port: int, path: str, cwd: Path, env: dict) -> str | None:
    proc = subprocess.Popen(_shell(code), cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    ready, deadline = False, time.monotonic() + 240
    while not ready and proc.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
                ready = reply.status == 200
        except OSError:
            time.sleep(0.5)
    exited = proc.poll()
    if exited is None:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C, as a user stops it
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    err = proc.stderr.read().decode("utf-8", "replace")
    if not ready or exited is not None or "Traceback" in err:
        return f"{'never ready' if not ready else f'exited {exited}'} on port {port}:\n{err[-3000:]}"
    return None


def _run_docs(docs: list[Path], inputs: Path, work: Path, env: dict) -> list[str]:
    """Run the docs' lines in order in one folder, a line that ran already there once; the failures, each with its
    line and why."""
    work.mkdir()
    for entry in inputs.iterdir():
        if not entry.name.startswith("."):
            (work / entry.name).symlink_to(entry) if entry.is_file() or entry.is_symlink() else \
                shutil.copytree(entry, work / entry.name, symlinks=True)
    failures, ran = [], set()
    for doc in docs:
        for command in doc_commands(doc):
            typed = _without_comment(command)
            if _skip_reason(command) is not None or typed in ran or _ran_elsewhere(typed, work):
                continue
            ran.add(typed)
            t0 = time.monotonic()
            problem = _run_line(command, work, env)
            TIMES.append((time.monotonic() - t0, f"{doc.name}: {command}"))
            if problem:
                failures.append(f"{doc.relative_to(ROOT)}: {command}\n  -> {problem}")
    return failures


_RAN_FILELESS: set[str] = set()
_LOCK = threading.Lock()


def _ran_elsewhere(typed: str, work: Path) -> bool:
    """True for a line that another folder ran (or is running) already and that reads and writes no file of its
    folder (`llmkit chat`, `llmkit ui`): it would do the same work again. Else it is recorded as run."""
    words = shlex.split(typed, comments=True)
    if any(w in (">", ">>") or w.startswith(("-o", "--output")) or (work / w).exists() for w in words):
        return False
    with _LOCK:
        seen = typed in _RAN_FILELESS
        _RAN_FILELESS.add(typed)
    return seen


def _folders() -> list[list[Path]]:
    """The docs, grouped by working folder (TOGETHER), in DOCS order."""
    groups: dict[str, list[Path]] = {}
    for doc in DOCS:
        first = next((group[0] for group in TOGETHER if doc.name in group), doc.name)
        groups.setdefault(first, []).append(doc)
    return list(groups.values())


TIMES: list[tuple[float, str]] = []  # (seconds, line): the slowest are printed, for whoever trims the suite's time


def _env(home: Path) -> dict:
    src = str(ROOT / "src")
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "LLMKIT_HOME": str(home), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
            "PYTHONPATH": src + (os.pathsep + path if path else ""), "PYTHONIOENCODING": "utf-8"}


# ---------------------------------------------------------------------------------------------- tests

def test_the_docs_show_commands_and_the_tables_match_them():
    commands = [c for doc in DOCS for c in doc_commands(doc)]
    assert len(commands) > 40, commands  # the extraction finds the docs' commands
    assert any(c.startswith("printf") for c in commands) and any("calls/" in c for c in commands)
    assert {name for group in TOGETHER for name in group} <= {doc.name for doc in DOCS}
    for start in [*CANNOT_RUN, *EXIT_CODES, *LINE_FLAGS]:  # a stale entry would hide nothing; keep the tables true
        assert any(c.startswith(start) for c in commands), f"no docs line starts with {start!r} any more"


def test_every_command_line_in_the_docs_runs(inputs, home, tmp_path):
    env = _env(home)
    # Two folders at a time: each doc's lines depend on each other (train, then evaluate), the folders do not.
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda ds: _run_docs(ds, inputs, tmp_path / ds[0].stem, env), _folders()))
    failures = [f for r in results for f in r]
    print("\n".join(f"{t:6.1f} s  {line}" for t, line in sorted(TIMES, reverse=True)))  # pytest -s shows them
    assert not failures, "\n\n".join(failures)


def test_the_readme_python_example_runs(inputs, home, tmp_path):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    code = re.search(r"## Thirty seconds of Python\s+```python\n(.*?)```", text, re.S).group(1)
    work = tmp_path / "py"
    work.mkdir()
    (work / "meeting.wav").symlink_to(inputs / "meeting.wav")
    r = subprocess.run([sys.executable, "-c", code], cwd=work, env=_env(home), capture_output=True, timeout=600)
    assert r.returncode == 0, r.stderr.decode()
    assert "morning" in r.stdout.decode().lower()  # the last line prints the transcription of meeting.wav
