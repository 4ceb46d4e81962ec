"""``bench(name)``: a catalog model measured on this machine, cached per machine and llmkit version.

The work runs in a child process (``probe.py``) so that peak memory is the model's own. A record is a small JSON
file, ``LLMKIT_HOME/bench/<machine fingerprint>/<model>.json``; the fingerprint covers CPU model, cores, memory and
the llmkit version (``hardware.Hardware.fingerprint``), so figures from another machine or version are never
shown as this one's. A record also names the catalog sources it measured: new weights are measured again.

>>> from llmkit.chooser.bench import bench
>>> bench("smollm2-135m-instruct")["tokens_per_s"]    # doctest: +SKIP
95.3
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .. import __version__
from ..allocator import plain_environment
from ..catalog import CATALOG, canonical_name
from ..errors import LlmkitError, ModelNotFoundError
from ..hardware import Hardware, detect
from ..hub import available_models_hint, home, is_installed, resolve

ENCODER_TASKS = ("text-classification", "sentence-embeddings", "feature-extraction")
PROBE_TIMEOUT_S = 1800  # a 1.5B model on two busy cores loads and writes 64 tokens well within this


def bench_dir(hw: Hardware | None = None) -> Path:
    return home() / "bench" / (hw or detect()).fingerprint(__version__)


def _identity(name: str) -> str:
    """What was measured: the catalog's sources (sha256s, recipe version), so new weights invalidate a record."""
    sources = json.dumps(CATALOG[name]["sources"], sort_keys=True)
    return hashlib.sha256(sources.encode()).hexdigest()[:12]


def cached(name: str, hw: Hardware | None = None) -> dict[str, Any] | None:
    """The cached record for a catalog model on this machine and version, or None."""
    try:
        record = json.loads((bench_dir(hw) / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None
    return record if record.get("identity") == _identity(name) else None


def bench(name: str, *, force: bool = False, hw: Hardware | None = None, log=None) -> dict[str, Any]:
    """Measure ``name`` (a catalog name or alias) here, or return the cached record unless ``force``.
    ``log(line)`` gets progress lines (default: stderr)."""
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    key = canonical_name(name)
    if key is None:
        raise ModelNotFoundError(f"unknown model {name!r}. {available_models_hint()}")
    hw = hw or detect()
    if not force and (record := cached(key, hw)) is not None:
        return record
    if not is_installed(key):
        raise ModelNotFoundError(f"{key} is not installed here; get it with `llmkit models pull {key}`, then bench it.")
    with _one_at_a_time(bench_dir(hw)):
        if not force and (record := cached(key, hw)) is not None:  # measured while we waited
            return record
        log(f"llmkit: benching {key} on this machine ({hw.cores} cores; load, warm-up, then fixed work)...")
        return _measure(key, hw)


@contextmanager
def _one_at_a_time(folder: Path):
    """Two benches at once (two web-app users, a CLI next to the app) would each measure half a machine: an
    exclusive lock on the bench folder makes the second wait for the first."""
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _measure(key: str, hw: Hardware) -> dict[str, Any]:
    record = {"model": key, **_probe(key), "size_bytes": size_on_disk(resolve(key, build=False).path),
              "identity": _identity(key), "llmkit_version": __version__, "fingerprint": hw.fingerprint(__version__),
              "machine": hw.to_dict(), "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    target = bench_dir(hw) / f"{key}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    with os.fdopen(fd, "w") as f:
        json.dump(record, f, indent=2)
    os.replace(tmp, target)  # a reader never sees half a record
    return record


def _probe(name: str) -> dict[str, Any]:
    if CATALOG[name]["task"] in ENCODER_TASKS:
        # An encoder's first load exports it to int8 ONNX (once, cached), which needs torch and far more memory
        # than running it: a load of its own first, so the measured run is the steady state a user sees.
        _run_probe(name, "--prepare")
    return _run_probe(name)


def _run_probe(name: str, *flags: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="llmkit-bench-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "llmkit.chooser.probe", name, str(out), *flags]
        try:
            # As `llmkit generate` and `serve` run a model: not under the tcmalloc that `llmkit models` and
            # `llmkit ui` re-execute themselves with (for training; llmkit/allocator.py).
            done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                  timeout=PROBE_TIMEOUT_S, env=plain_environment())
        except subprocess.TimeoutExpired:
            raise LlmkitError(f"benching {name} took over {PROBE_TIMEOUT_S} s; is the machine busy? "
                              "Try again when it is idle.") from None
        if done.returncode != 0 or not out.exists():
            lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
            last = lines[-1] if lines else f"exit code {done.returncode}"
            raise LlmkitError(f"benching {name} failed: {last.removeprefix('llmkit: error: ')}")
        return json.loads(out.read_text())


def size_on_disk(path: Path) -> int:
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
