"""Training commands re-execute themselves under tcmalloc (less heap fragmentation), and can be told not to."""
from __future__ import annotations

import json
import sys

import pytest

from cli_helpers import llmkit
from llmkit import allocator
from tiny import toy_sentiment

TCMALLOC = allocator.find_tcmalloc()


def test_relaunch_plan_keeps_the_command_and_an_existing_preload(monkeypatch):
    if TCMALLOC is None:
        pytest.skip("libtcmalloc-minimal4 is not installed (make test installs it)")
    monkeypatch.delenv(allocator.ENV, raising=False)
    monkeypatch.delenv("LLMKIT_ALLOCATOR_REEXEC", raising=False)
    monkeypatch.setenv("LD_PRELOAD", "/some/other.so")
    command, env = allocator.relaunch_command(["finetune", "--model", "m"])
    assert command == [sys.executable, "-m", "llmkit.cli", "finetune", "--model", "m"]
    assert env["LD_PRELOAD"] == f"{TCMALLOC}:/some/other.so"


@pytest.mark.parametrize("name,value", [("LLMKIT_ALLOCATOR", "system"), ("LLMKIT_ALLOCATOR_REEXEC", "1")])
def test_no_relaunch_when_opted_out_or_already_relaunched(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    assert allocator.relaunch_command(["finetune"]) is None


@pytest.mark.parametrize("setting,expected", [(None, "tcmalloc"), ("system", "system")])
def test_finetune_command_records_the_allocator_it_ran_on(tiny_encoder, tmp_path, setting, expected):
    if expected == "tcmalloc" and TCMALLOC is None:
        pytest.skip("libtcmalloc-minimal4 is not installed (make test installs it)")
    train = tmp_path / "train.jsonl"
    train.write_text("\n".join(json.dumps(r) for r in toy_sentiment(32)))
    env = {allocator.ENV: setting} if setting else {}
    out = tmp_path / "model"
    r = llmkit("finetune", "--model", str(tiny_encoder), "--train", str(train), "--output", str(out), "--epochs", "1",
               "--max-length", "16", "-q", env=env)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    assert json.loads((out / "run_config.json").read_text())["allocator"] == expected
