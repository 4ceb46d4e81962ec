"""What this machine is: CPU model, cores, memory, the instruction sets engines care about, and a GPU if any.

``detect()`` is cheap (a few small files under /proc and /sys, ``nvidia-smi`` only when it is on PATH; torch is
never imported for this) and is what ``llmkit models bench`` keys its cache on: a figure measured on one machine
says little about another.

>>> from llmkit.hardware import detect
>>> hw = detect()
>>> hw.cores >= 1 and hw.memory_bytes > 0
True
"""
from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Flags that change which kernels llama.cpp, ONNX Runtime and CTranslate2 pick (and so their speed), by the
# names Linux's /proc/cpuinfo uses. ARM's "asimd" is NEON.
FLAGS = {"avx": "avx", "avx2": "avx2", "fma": "fma", "f16c": "f16c", "avx512f": "avx512", "avx512_vnni": "avx512-vnni",
         "avx_vnni": "avx-vnni", "avx512_bf16": "avx512-bf16", "amx_int8": "amx", "asimd": "neon", "neon": "neon",
         "asimddp": "neon-dotprod", "sve": "sve"}


@dataclass(frozen=True)
class Gpu:
    name: str
    memory_bytes: int


@dataclass(frozen=True)
class Hardware:
    cpu: str  # model name
    arch: str  # x86_64, aarch64, arm64
    cores: int  # logical CPUs this process may use
    memory_bytes: int  # total RAM, or the container's limit when lower
    flags: tuple[str, ...] = ()
    gpus: tuple[Gpu, ...] = field(default_factory=tuple)

    def fingerprint(self, version: str) -> str:
        """A short id of what makes a speed figure comparable: CPU model, cores, memory (to the GiB; the kernel's
        total moves by a few MB between boots) and the llmkit version that measured it."""
        key = f"{self.cpu}|{self.arch}|{self.cores}|{round(self.memory_bytes / 2**30)}|{version}"
        return hashlib.sha256(key.encode()).hexdigest()[:12]

    def summary(self) -> str:
        gpu = ", ".join(f"{g.name} ({g.memory_bytes / 2**30:.0f} GiB)" for g in self.gpus) or "no GPU"
        flags = " ".join(self.flags) or "no SIMD flags seen"
        return f"{self.cpu} · {self.cores} cores · {self.memory_bytes / 2**30:.1f} GiB · {flags} · {gpu}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "flags": list(self.flags), "gpus": [asdict(g) for g in self.gpus]}


def detect() -> Hardware:
    cpuinfo = _read("/proc/cpuinfo")
    return Hardware(cpu=_cpu_model(cpuinfo), arch=platform.machine(), cores=_cores(),
                    memory_bytes=_memory(), flags=_flags(cpuinfo), gpus=_gpus())


def _read(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def _cpu_model(cpuinfo: str) -> str:
    for key in ("model name", "Hardware", "Processor", "cpu model"):
        m = re.search(rf"^{key}\s*:\s*(.+)$", cpuinfo, re.M)
        if m:
            return m[1].strip()
    if platform.system() == "Darwin":
        out = _run(["sysctl", "-n", "machdep.cpu.brand_string"])
        if out:
            return out.strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # what a container or taskset leaves us, not the host's count
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def _memory() -> int:
    total = 0
    m = re.search(r"^MemTotal:\s+(\d+) kB", _read("/proc/meminfo"), re.M)
    if m:
        total = int(m[1]) * 1024
    elif hasattr(os, "sysconf") and "SC_PHYS_PAGES" in os.sysconf_names:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    # A container's limit (cgroup v2, then v1) is what a model can really use.
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        limit = _read(limit_file).strip()
        if limit.isdigit() and 0 < int(limit) < total:
            total = int(limit)
    return total


def _flags(cpuinfo: str) -> tuple[str, ...]:
    m = re.search(r"^(?:flags|Features)\s*:\s*(.+)$", cpuinfo, re.M)
    raw = set(m[1].split()) if m else set()
    if platform.machine() in ("arm64", "aarch64") and not raw:  # macOS on Apple silicon: NEON is always there
        raw = {"neon"}
    return tuple(dict.fromkeys(FLAGS[f] for f in FLAGS if f in raw))


def _gpus() -> tuple[Gpu, ...]:
    if not shutil.which("nvidia-smi"):
        return ()
    out = _run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"])
    gpus = []
    for line in (out or "").splitlines():
        name, _, mib = line.rpartition(",")
        if name and mib.strip().isdigit():
            gpus.append(Gpu(name.strip(), int(mib) * 2**20))
    return tuple(gpus)


def _run(cmd: list[str]) -> str | None:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
