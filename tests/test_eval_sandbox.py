"""The sandbox that runs generated code: each hazard a model's code can be (a fork bomb, an endless loop, a full
disk, ``os.system`` writing outside, a huge allocation, a socket) is contained, reported as not passed, leaves
nothing behind, and the next program runs normally. Both modes: namespaces (unshare) and rlimits only."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from llmkit.evals import sandbox
from llmkit.evals.sandbox import SandboxLimits, run_python

LIMITS = SandboxLimits(timeout=4, cpu_seconds=4)


@pytest.fixture(params=["namespaces", "rlimits"])
def mode(request, monkeypatch):
    sandbox.sandbox_mode.cache_clear()
    if request.param == "namespaces" and sandbox.sandbox_mode() != "namespaces":
        pytest.skip("unshare cannot make namespaces here")
    monkeypatch.setenv("LLMKIT_SANDBOX_MODE", request.param)
    sandbox.sandbox_mode.cache_clear()
    yield request.param
    sandbox.sandbox_mode.cache_clear()


def leftovers() -> set[str]:
    return {p.name for p in Path(os.environ.get("TMPDIR", "/tmp")).glob("llmkit-sandbox-*")}


def assert_contained(result, mode, before):
    assert not result.passed
    assert result.mode == mode
    assert leftovers() <= before, "the work directory was not removed"
    assert run_python("assert sum(range(4)) == 6", LIMITS).passed, "the next program must still run"


def test_a_correct_program_passes_and_a_wrong_one_fails(mode):
    assert run_python("def f(x):\n    return x * 2\nassert f(2) == 4", LIMITS).passed
    failed = run_python("assert 1 == 2, 'wrong answer'", LIMITS)
    assert failed.status == "failed" and "wrong answer" in failed.detail


def test_exiting_early_with_status_0_is_not_a_pass(mode):
    result = run_python("import os\nos._exit(0)\nassert False", LIMITS)
    assert result.status == "failed"


def test_an_endless_loop_is_killed_at_the_limit(mode):
    before = leftovers()
    result = run_python("while True:\n    pass", LIMITS)
    assert result.status in ("timeout", "killed")
    assert_contained(result, mode, before)


def test_a_fork_bomb_is_contained_and_every_process_dies(mode):
    before = leftovers()
    marker = uuid.uuid4().hex
    code = (f"import os, time\nMARK = '{marker}'\nfor _ in range(10000):\n    try:\n        os.fork()\n"
            "    except OSError:\n        pass\ntime.sleep(60)")
    result = run_python(code, LIMITS)
    assert_contained(result, mode, before)
    alive = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if b"llmkit-sandbox-" in cmdline.read_bytes():
                alive.append(cmdline.parent.name)
        except OSError:
            pass
    assert not alive, f"sandboxed processes outlived the program: {alive}"


def test_filling_the_disk_stops_at_the_file_size_limit(mode):
    before = leftovers()
    code = "f = open('big', 'wb')\nwhile True:\n    f.write(b'x' * 1_000_000)\n    f.flush()"
    result = run_python(code, SandboxLimits(timeout=4, cpu_seconds=4, file_mb=8))
    assert "file" in result.detail.lower() or "large" in result.detail.lower() or result.status == "killed"
    assert_contained(result, mode, before)


def test_os_system_cannot_write_outside(mode, tmp_path):
    if mode == "rlimits" and os.geteuid() != 0:
        pytest.skip("with rlimits only, the program runs as the same user, who may write its own files")
    before = leftovers()
    outside = tmp_path / f"pwned-{uuid.uuid4().hex}"
    shared_tmp = Path("/tmp") / f"llmkit-pwned-{uuid.uuid4().hex}"
    code = f"import os\nos.system('touch {outside}; touch {shared_tmp}')\nassert os.path.exists('{outside}')"
    result = run_python(code, LIMITS)
    assert_contained(result, mode, before)
    assert not outside.exists()
    if mode == "namespaces":  # /tmp is a private tmpfs; with rlimits only it is the real one (documented)
        assert not shared_tmp.exists()
    shared_tmp.unlink(missing_ok=True)


def test_a_huge_allocation_fails_inside(mode):
    before = leftovers()
    result = run_python("x = bytearray(20 * 2**30)", LIMITS)
    assert "MemoryError" in result.detail
    assert_contained(result, mode, before)


def test_no_network(mode):
    before = leftovers()
    code = "import socket\ns = socket.create_connection(('1.1.1.1', 80), timeout=2)"
    result = run_python(code, LIMITS)
    assert result.status == "failed"
    assert "network" in result.detail.lower() or "unreachable" in result.detail.lower()
    assert_contained(result, mode, before)


def test_the_environment_is_clean(mode, monkeypatch):
    monkeypatch.setenv("LLMKIT_SECRET_FOR_TEST", "s3cret")
    code = "import os\nassert 'LLMKIT_SECRET_FOR_TEST' not in os.environ\nassert os.listdir('.') == []"
    assert run_python(code, LIMITS).passed


def test_limits_are_validated():
    with pytest.raises(Exception, match="timeout"):
        SandboxLimits(timeout=0)
