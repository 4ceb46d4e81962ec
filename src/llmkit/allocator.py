"""Run training under tcmalloc instead of glibc's malloc.

Length-bucketed training makes tensors of many different sizes, and glibc's heap fragments under them: measured
on a 3-epoch MiniLM fine-tune, peak RSS grew to 2020 MB against 1481 MB for one step, with no speed to gain
(BENCHMARKS.md, "Fine-tuning"). tcmalloc keeps size-classed free lists and peaks ~25% lower at the same speed.
The allocator cannot be swapped inside a running process, so the command line re-executes itself once with
``LD_PRELOAD`` set, as PyTorch's own CPU launcher (``python -m torch.backends.xeon.run_cpu --enable-tcmalloc``)
does. ``LLMKIT_ALLOCATOR=system`` turns this off; a missing library (Debian: ``libtcmalloc-minimal4``) just
leaves glibc in place.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

ENV = "LLMKIT_ALLOCATOR"  # "tcmalloc" (default) or "system"
SYSTEM = ("system", "glibc", "off", "0")  # values of ENV that keep the C library's malloc
_MARK = "LLMKIT_ALLOCATOR_REEXEC"  # set on the re-executed process, so it never loops
LIBRARY = "libtcmalloc_minimal.so.4"
SEARCH = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib")


def find_tcmalloc() -> str | None:
    for folder in SEARCH:
        path = Path(folder) / LIBRARY
        if path.exists():
            return str(path)
    return None


def active() -> str:
    """The allocator this process runs on: "tcmalloc" when it is mapped, else "system"."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return "system"
    return "tcmalloc" if "libtcmalloc" in maps else "system"


def relaunch_command(argv: Sequence[str]) -> tuple[list[str], dict[str, str]] | None:
    """The command and environment to re-run ``llmkit ARGV`` under tcmalloc, or None when it should not."""
    choice = os.environ.get(ENV, "tcmalloc").strip().lower()
    if choice in SYSTEM or os.environ.get(_MARK):
        return None
    if choice != "tcmalloc":
        print(f"llmkit: warning: {ENV}={choice!r} is neither 'tcmalloc' nor 'system'; using tcmalloc.",
              file=sys.stderr)
    if sys.platform != "linux" or active() == "tcmalloc":
        return None
    library = find_tcmalloc()
    if library is None:
        return None
    env = dict(os.environ)
    env["LD_PRELOAD"] = ":".join(p for p in (library, env.get("LD_PRELOAD", "")) if p)
    env[_MARK] = "1"
    return [sys.executable, "-m", "llmkit.cli", *argv], env


def relaunch_under_tcmalloc(argv: Sequence[str]) -> None:
    """Replace this process with the same command under tcmalloc; return only when that is not wanted or
    possible. Call it before any heavy import or any output."""
    plan = relaunch_command(argv)
    if plan is None:
        return
    command, env = plan
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(sys.executable, command, env)
    except OSError:  # could not exec: carry on with glibc
        return


def plain_environment() -> dict[str, str]:
    """This process's environment without what ``relaunch_under_tcmalloc`` added: for a child that should run as
    an inference command (``llmkit generate``, ``serve``) runs, on the C library's malloc."""
    env = dict(os.environ)
    if env.pop(_MARK, None):
        kept = [p for p in env.get("LD_PRELOAD", "").split(":") if p and LIBRARY not in p]
        if kept:
            env["LD_PRELOAD"] = ":".join(kept)
        else:
            env.pop("LD_PRELOAD", None)
    return env
