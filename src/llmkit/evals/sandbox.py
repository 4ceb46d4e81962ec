"""Run untrusted Python (a model's generated code) so that a crash, a hang, a fork bomb, a full disk, a network call
or ``os.system`` harms nothing: a separate process per program, resource limits, a throw-away working directory.

>>> from llmkit.evals.sandbox import run_python
>>> run_python("assert 1 + 1 == 2").passed
True
>>> run_python("while True: pass", SandboxLimits(timeout=1)).status
'timeout'

What contains what (the ``mode`` of a result says which layers were available):

* every mode: a new session (process group) killed as a whole at the wall-clock timeout; RLIMIT_CPU (CPU seconds),
  RLIMIT_AS (address space), RLIMIT_FSIZE (largest file written, stdout included), RLIMIT_NPROC (processes), no
  core dumps; a clean environment (PATH, LANG, HOME/TMPDIR = the work directory, nothing else) and ``python -I``;
  the cwd is a new temporary directory, removed afterwards; when llmkit runs as root the program runs as
  ``nobody`` (root ignores RLIMIT_NPROC and may write anywhere).
* ``namespaces`` (``unshare`` works here): also a user, network, PID and mount namespace: no network interface but
  a down loopback, every process of the program dies with it, and the work directory, /tmp, /var/tmp and /dev/shm
  are small private tmpfs mounts (``size`` below), so even many files cannot fill the real disk.
* ``rlimits`` (no usable ``unshare``): ``socket.socket`` and friends are replaced by a function that raises before
  the program starts. That stops ordinary code, not a determined attacker (ctypes, a subprocess); /tmp is the real
  one. Use a container or VM for hostile code.
"""
from __future__ import annotations

import functools
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

NOBODY = 65534


@dataclass(frozen=True)
class SandboxLimits:
    timeout: float = 10.0  # wall-clock seconds, then the whole process group (and PID namespace) is killed
    cpu_seconds: int = 10
    memory_mb: int = 1024  # address space (RLIMIT_AS), per process
    file_mb: int = 16  # largest file a process may write (RLIMIT_FSIZE); also caps the captured output
    processes: int = 32  # processes the program may start (RLIMIT_NPROC, on top of its user's existing ones)
    tmpfs_mb: int = 64  # size of each private tmpfs (namespaces mode)

    def __post_init__(self) -> None:
        for name in ("timeout", "cpu_seconds", "memory_mb", "file_mb", "processes", "tmpfs_mb"):
            if not getattr(self, name) > 0:
                raise InputError(f"sandbox limit {name} must be positive (got {getattr(self, name)!r}).")


@dataclass(frozen=True)
class SandboxResult:
    status: str  # "passed", "failed" (an exception or a non-zero exit), "timeout", "killed" (a signal: CPU, file size)
    detail: str  # the last lines of stderr, or what killed it
    seconds: float
    mode: str  # "namespaces" or "rlimits"

    @property
    def passed(self) -> bool:
        return self.status == "passed"


# The child's first code: limits, then (rlimits mode) no sockets, then the program, then the token that proves it
# ran to the end (code that calls sys.exit(0) or os._exit(0) early does not pass).
_BOOT = r"""
import os, resource, sys
argv = sys.argv[1:]
prog, token, mounts = argv[0], argv[1], argv[2]
cpu, mem, fsize, nproc, tmpfs_mb = map(int, argv[3:8])
source = open(prog, encoding="utf-8").read()
if mounts == "1":  # private tmpfs: the work directory first (then the cwd), then /tmp & co, which hide the rest
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    for where in (os.environ["HOME"], "/tmp", "/var/tmp", "/dev/shm"):
        if os.path.isdir(where) and libc.mount(b"tmpfs", where.encode(), b"tmpfs", 6, f"size={tmpfs_mb}m".encode()):
            sys.exit(f"sandbox: cannot mount a tmpfs on {where} (errno {ctypes.get_errno()})")  # 6: nosuid, nodev
        if where == os.environ["HOME"]:
            os.chdir(where)
    os.environ["HOME"] = os.environ["TMPDIR"] = "/tmp"
for limit, value in ((resource.RLIMIT_CPU, cpu), (resource.RLIMIT_AS, mem), (resource.RLIMIT_FSIZE, fsize),
                     (resource.RLIMIT_NPROC, nproc), (resource.RLIMIT_CORE, 0)):
    resource.setrlimit(limit, (value, value))
if mounts != "1":
    import socket
    def _no_network(*a, **k):
        raise OSError("network access is disabled in the llmkit sandbox")
    socket.socket = socket.create_connection = socket.socketpair = socket.fromfd = _no_network
    socket.getaddrinfo = socket.create_server = _no_network
del argv, prog, limit, value, mounts
exec(compile(source, "solution.py", "exec"), {"__name__": "__sandbox__", "__builtins__": __builtins__})
sys.stdout.flush()
os.write(1, ("\n" + token + "\n").encode())
"""


def run_python(source: str, limits: SandboxLimits | None = None) -> SandboxResult:
    """Run ``source`` in the sandbox; ``passed`` when it runs to its end without an exception."""
    limits = limits or SandboxLimits()
    mode = sandbox_mode()
    root = Path(tempfile.mkdtemp(prefix="llmkit-sandbox-"))
    try:
        return _run(source, limits, mode, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _run(source: str, limits: SandboxLimits, mode: str, root: Path) -> SandboxResult:
    work = root / "work"
    work.mkdir()
    (root / "solution.py").write_text(source, encoding="utf-8")
    (root / "boot.py").write_text(_BOOT, encoding="utf-8")
    python, as_nobody = _interpreter()
    if as_nobody:  # the program may read its files and write only its work directory
        for p in (root, work, root / "solution.py", root / "boot.py"):
            os.chown(p, NOBODY, NOBODY)
    token = secrets.token_hex(16)
    nproc = limits.processes + _processes_of(NOBODY if as_nobody else os.getuid())
    argv = [python, "-I", str(root / "boot.py"), str(root / "solution.py"), token,
            "1" if mode == "namespaces" else "0", str(limits.cpu_seconds), str(limits.memory_mb << 20),
            str(limits.file_mb << 20), str(nproc), str(limits.tmpfs_mb)]
    if mode == "namespaces":
        argv = [*_UNSHARE, *argv]
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(work), "TMPDIR": str(work),
           "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    out_path, err_path = root / "stdout", root / "stderr"
    start = time.monotonic()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        kw = {"user": NOBODY, "group": NOBODY, "extra_groups": []} if as_nobody else {}
        proc = subprocess.Popen(argv, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                start_new_session=True, close_fds=True, **kw)
        try:
            code = proc.wait(timeout=limits.timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            _kill_group(proc)
    seconds = time.monotonic() - start
    stdout = _tail(out_path, 4096)
    stderr = _tail(err_path, 2000).strip()
    if timed_out:
        return SandboxResult("timeout", f"still running after {limits.timeout:g} s; killed", seconds, mode)
    if code == 0 and token in stdout:
        return SandboxResult("passed", "", seconds, mode)
    if code < 0:
        name = signal.Signals(-code).name
        why = {"SIGXCPU": "CPU time limit", "SIGXFSZ": "file size limit", "SIGKILL": "killed"}.get(name, name)
        return SandboxResult("killed", f"{name} ({why})", seconds, mode)
    last = stderr.splitlines()[-1] if stderr else ("exited early, before the end of the program" if code == 0
                                                   else f"exit status {code}")
    return SandboxResult("failed", last, seconds, mode)


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the program's whole session (what setsid made); in namespaces mode the PID namespace dies with its
    first process anyway, forked grandchildren included."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _tail(path: Path, size: int) -> str:
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - size))
        return f.read().decode("utf-8", "replace")


def _processes_of(uid: int) -> int:
    """How many processes ``uid`` runs now: RLIMIT_NPROC counts them all, not only the program's."""
    n = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            for line in status.read_text().splitlines():
                if line.startswith("Uid:"):
                    n += int(line.split()[1]) == uid
                    break
        except OSError:
            continue
    return n


@functools.lru_cache(maxsize=1)
def _interpreter() -> tuple[str, bool]:
    """(python, run as nobody?). As root the program runs as ``nobody``, with the first Python that ``nobody`` may
    run (llmkit's own may sit in a private home: then the system's python3, which has the standard library)."""
    if os.geteuid() != 0:
        return sys.executable, False
    for python in dict.fromkeys((sys.executable, getattr(sys, "_base_executable", ""),
                                 shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin") or "")):
        try:
            ok = python and subprocess.run([python, "-I", "-c", "pass"], user=NOBODY, group=NOBODY, extra_groups=[],
                                           cwd="/", env={}, capture_output=True, timeout=30).returncode == 0
        except (OSError, subprocess.SubprocessError):
            ok = False
        if ok:
            return python, True
    return sys.executable, False  # no Python nobody may run: the program runs as root, with the limits only


# user (maps the program's user to root inside, which may mount), network (nothing reachable), PID (one kill ends
# every descendant: --kill-child) and mount namespaces (private tmpfs).
_UNSHARE = ["unshare", "--user", "--map-root-user", "--net", "--pid", "--fork", "--kill-child", "--mount"]


@functools.lru_cache(maxsize=1)
def sandbox_mode() -> str:
    """"namespaces" when ``unshare`` works for the sandbox's user here (probed once), else "rlimits"."""
    forced = os.environ.get("LLMKIT_SANDBOX_MODE")
    if forced in ("namespaces", "rlimits"):
        return forced
    if not shutil.which("unshare"):
        return "rlimits"
    root = Path(tempfile.mkdtemp(prefix="llmkit-sandbox-"))
    try:
        probe = _run("import socket\ntry:\n    socket.create_connection(('10.255.255.1', 9), 1)\n"
                     "except OSError: pass\nelse: raise SystemExit('network reachable')",
                     SandboxLimits(timeout=20), "namespaces", root)
    except OSError:
        return "rlimits"
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return "namespaces" if probe.passed else "rlimits"
