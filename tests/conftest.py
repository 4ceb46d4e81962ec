"""Shared fixtures. State is isolated: each test session gets its own LLMKIT_HOME, unless it needs the real
default models, which `make models` prepares once under the user's LLMKIT_HOME (see `real_home`)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

REAL_HOME = os.environ.get("LLMKIT_HOME") or str(Path.home() / ".cache" / "llmkit")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch, request):
    """Every test runs with a temporary LLMKIT_HOME unless marked ``real_home``."""
    if request.node.get_closest_marker("real_home"):
        monkeypatch.setenv("LLMKIT_HOME", REAL_HOME)
    else:
        monkeypatch.setenv("LLMKIT_HOME", str(tmp_path_factory.mktemp("llmkit-home")))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> Path:
    from tiny import make_tiny_encoder

    return make_tiny_encoder(tmp_path_factory.mktemp("tiny-encoder"))


def pytest_configure(config):
    config.addinivalue_line("markers", "real_home: use the real LLMKIT_HOME with the prepared default models")
