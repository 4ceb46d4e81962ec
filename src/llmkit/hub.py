"""Resolve a model name, a local path or a hub id to a folder on disk, offline first.

``resolve("sentiment")`` -> ``ModelRef(name="minilm-sentiment", path=..., task="text-classification", ...)``.

Catalog entries are materialised under ``LLMKIT_HOME`` (default ``~/.cache/llmkit``): files that pip packages
ship are used in place after a sha256 check (cached by size and mtime, so a 100 MB file is hashed once), split
files are joined once, and ``build`` recipes run once. Only safetensors, GGUF and CTranslate2 weights are ever
loaded: never pickles, and ``trust_remote_code`` stays off.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .catalog import CATALOG, canonical_name
from .errors import IntegrityError, LlmkitError, ModelNotFoundError
from . import parts
from .manifest import Manifest
from .parts import package_dir


def home() -> Path:
    """The cache root: ``$LLMKIT_HOME`` or ``~/.cache/llmkit``."""
    root = Path(os.environ.get("LLMKIT_HOME") or Path.home() / ".cache" / "llmkit").expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


@dataclass(frozen=True)
class ModelRef:
    """A model resolved to disk. ``path`` is a folder, or a single file for GGUF."""

    name: str
    path: Path
    task: str
    format: str  # llmkit | transformers | gguf | ctranslate2 | piper | remote (entry["remote"]: a RemoteSpec)
    engine: str  # the preferred engine for this format
    entry: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def manifest(self) -> Manifest | None:
        """The folder's llmkit manifest (read each time: an export may have added an engine); None if it has none."""
        return Manifest.read_if_present(self.path)


# ---------------------------------------------------------------------------------------------- hashing

def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _verified_cache() -> Path:
    return home() / "verified.json"


def verify_sha256(path: Path, expected: str, name: str | None = None) -> None:
    """Raise IntegrityError unless ``path`` hashes to ``expected``. Results are cached by (size, mtime).
    ``name``, the catalog model the file belongs to, goes into the message as the command that repairs it."""
    path = Path(path).resolve()
    if _verified().get(_cache_key(path)) == expected:
        return
    actual = sha256_file(path)
    if actual != expected:
        # A plain `pip install` leaves an installed package as it is, so the fix named is `pull --force`.
        raise IntegrityError(
            f"{path} is corrupt: sha256 {actual[:12]}... does not match the catalog's {expected[:12]}...; "
            f"repair it with `llmkit models pull {name or 'NAME'} --force` (reinstalls, re-joins and re-checks)."
        )
    _mark_verified(path, expected)


def _cache_key(path: Path) -> str:
    st = path.stat()
    return f"{path}:{st.st_size}:{st.st_mtime_ns}"


def _verified() -> dict[str, str]:
    try:
        return json.loads(_verified_cache().read_text())
    except (OSError, ValueError):
        return {}


def _mark_verified(path: Path, digest: str) -> None:
    """Record that ``path`` (as it is now: size, mtime) hashes to ``digest``."""
    cache = _verified()
    cache[_cache_key(Path(path).resolve())] = digest
    _atomic_write_text(_verified_cache(), json.dumps(cache, indent=0))


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------- detection

def detect_format(path: Path) -> str:
    """What a local file or folder holds: llmkit | gguf | ctranslate2 | piper | transformers."""
    if path.is_file():
        if path.suffix == ".gguf":
            return "gguf"
        if path.suffix == ".onnx" and Path(f"{path}.json").exists():
            return "piper"
        raise ModelNotFoundError(f"{path} is not a model: give a model folder, a .gguf file or a catalog name.")
    if Manifest.present(path):
        return "llmkit"
    if any(path.glob("*.gguf")):
        return "gguf"
    if (path / "model.bin").exists() and ((path / "vocabulary.txt").exists() or (path / "vocabulary.json").exists()):
        return "ctranslate2"
    if any(Path(f"{onnx}.json").exists() for onnx in path.glob("*.onnx")):
        return "piper"
    if (path / "config.json").exists():
        if not any(path.glob("*.safetensors")) and any(path.glob("*.bin")):
            raise ModelNotFoundError(
                f"{path} has only pickled weights (*.bin); llmkit loads safetensors only, for safety. Convert it "
                "with `python -c \"from transformers import AutoModel as M; M.from_pretrained('DIR')"
                ".save_pretrained('DIR', safe_serialization=True)\"`."
            )
        return "transformers"
    raise ModelNotFoundError(f"{path} holds no model (no config.json, llmkit.json, .gguf or CTranslate2 files).")


_ENGINE_FOR_FORMAT = {"llmkit": "torch", "transformers": "torch", "gguf": "llamacpp", "ctranslate2": "ctranslate2",
                      "piper": "piper"}


def detect_task(path: Path, fmt: str) -> str:
    if fmt == "gguf":
        return "text-generation"
    if fmt == "llmkit":
        return Manifest.read(path).pipeline_task
    if fmt == "ctranslate2":
        return "automatic-speech-recognition"
    if fmt == "piper":
        return "text-to-speech"
    config = json.loads((path / "config.json").read_text())
    archs = " ".join(config.get("architectures") or [])
    if "ForSequenceClassification" in archs:
        return "text-classification"
    if "ForCausalLM" in archs:
        return "text-generation"
    if "Whisper" in archs or "ForCTC" in archs:
        return "automatic-speech-recognition"
    return "feature-extraction"


# ---------------------------------------------------------------------------------------------- resolution

def resolve(name_or_path: str | os.PathLike, *, build: bool = True, progress: bool | None = None) -> ModelRef:
    """Resolve a catalog name (or alias), a local path, or a hub id to a ModelRef on disk. ``progress``: a bar while
    split weights are joined (True: always, None: on a terminal)."""
    raw = str(name_or_path).strip()
    if not raw:
        raise ModelNotFoundError(f"no model given. {available_models_hint()}")
    path = Path(raw).expanduser()
    if path.exists():
        fmt = detect_format(path)
        return ModelRef(raw, path.resolve(), detect_task(path, fmt), fmt, _ENGINE_FOR_FORMAT[fmt])
    from . import providers

    spec = providers.parse(raw) if ":" in raw else None
    name = canonical_name(raw) if spec is None else None
    if name is not None:
        return _resolve_catalog(name, build=build, progress=progress)
    spec = spec or providers.parse(raw)  # a config alias (catalog names win)
    if spec is not None:  # nothing is contacted here: the engine checks the opt-in first
        return ModelRef(spec.name, Path(spec.name), "text-generation", "remote", "remote", {"remote": spec})
    if "/" in raw and not raw.startswith((".", "/", "~")):
        return _resolve_hub(raw)
    raise ModelNotFoundError(f"unknown model {raw!r}. {available_models_hint()}")


def available_models_hint() -> str:
    names = ", ".join(CATALOG)
    return (
        f"Available: {names} (see `llmkit models list`), a local model folder, or a hub id when online; "
        "get one with `llmkit models pull NAME`."
    )


def _resolve_catalog(name: str, *, build: bool, progress: bool | None = None) -> ModelRef:
    entry = CATALOG[name]
    sources = entry["sources"]
    path: Path | None = None
    if "pip" in sources:
        path = _from_pip(name, sources["pip"], progress=progress)
    if path is None and "build" in sources:
        path = _from_build(name, sources["build"], build=build, recipe=sources.get("recipe"))
    if path is None and "hub" in sources:
        try:
            return _ref_for(name, entry, _snapshot(sources["hub"]))
        except ModelNotFoundError:
            pass
    if path is None:
        pip = sources.get("pip", {})
        how = f"`{pip['install']}`" if pip else f"`llmkit models pull {name}`"
        missing = missing_packages(pip) if "parts" in pip else []
        some = f" (missing: {', '.join(missing)})" if 0 < len(missing) < len(pip["package"].split()) else ""
        raise ModelNotFoundError(f"model {name!r} is not installed on this machine{some}; get it with {how}.")
    return _ref_for(name, entry, path)


def _ref_for(name: str, entry: dict[str, Any], path: Path) -> ModelRef:
    return ModelRef(name, path, entry["task"], entry["format"], entry["engine"], entry)


def _from_pip(name: str, pip: dict[str, Any], *, progress: bool | None = None) -> Path | None:
    if "parts" in pip:
        return _join_parts(name, pip, progress=progress)
    root = package_dir(pip["module"])
    if root is None:
        return None
    path = root / pip["path"]
    if not path.exists():
        raise IntegrityError(f"{pip['package']} is installed but {path} is missing; reinstall it: "
                             f"`llmkit models pull {name} --force`.")
    expected = pip.get("sha256")
    if isinstance(expected, str):
        verify_sha256(path, expected, name)
    elif isinstance(expected, dict):
        for rel, digest in expected.items():
            verify_sha256(path / rel, digest, name)
    return path


def _join_parts(name: str, pip: dict[str, Any], *, progress: bool | None = None) -> Path | None:
    """Join split files from several packages into LLMKIT_HOME/models/<name> (and unzip a byte-split zip there),
    sha256-checked. The folder appears only once complete (one rename), so a join that is interrupted or fails
    leaves nothing that looks ready; a killed join's leftovers are swept by the next one. None: a package is
    missing (``missing_packages`` names it)."""
    target = home() / "models" / name
    digests: dict[str, str] = pip.get("sha256", {})
    unzip: dict[str, str] = pip.get("unzip", {})  # archive -> the folder inside it that becomes the model folder
    if target.exists():
        for rel, digest in digests.items():
            if rel not in unzip:  # an archive is deleted once unzipped; its files carry their own digests
                verify_sha256(target / rel, digest, name)
        return target
    if missing_packages(pip):
        return None
    sources = {rel: [package_dir(module) / inner for module, inner in parts] for rel, parts in pip["parts"].items()}
    repair = f"repair it with `llmkit models pull {name} --force` (reinstalls the packages)."
    target.parent.mkdir(parents=True, exist_ok=True)
    parts.sweep_stale(target.parent, f".{name}-")
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{name}-{os.getpid()}-"))
    try:
        for rel, paths in sources.items():
            actual = parts.join(paths, tmp / rel, desc=f"joining {name}", progress=progress, repair=repair)
            _check_joined(name, rel, actual, digests.get(rel), repair)
        for archive, folder in unzip.items():
            parts.unzip_folder(tmp / archive, folder, tmp, repair=repair)
            (tmp / archive).unlink()
        for rel, digest in digests.items():
            if rel not in sources:  # unzipped files: hashed here; joined ones were hashed while copying
                _check_joined(name, rel, sha256_file(tmp / rel) if (tmp / rel).is_file() else "missing", digest,
                              repair)
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished the same join first: use its copy
            if not target.exists():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for rel, digest in digests.items():
        if rel not in unzip:
            _mark_verified(target / rel, digest)  # just hashed: the next resolve need not read 1 GB again
    return target


def _check_joined(name: str, rel: str, actual: str, expected: str | None, repair: str) -> None:
    if expected is not None and actual != expected:
        raise IntegrityError(f"joining {name} from its packages gave a {rel} whose sha256 {actual[:12]}... is not "
                             f"the catalog's {expected[:12]}...: a package is damaged or incomplete; {repair}")


def missing_packages(pip: dict[str, Any]) -> list[str]:
    """The registry packages of a split model that are not installed, by their pip names."""
    modules = dict.fromkeys(module for chunks in pip["parts"].values() for module, _ in chunks)
    # A distribution's name is its top-level folder with '-' for '_' (true of every package the catalog names).
    return [m.replace("_", "-") for m in modules if package_dir(m) is None]


def forget_joined(name: str) -> None:
    """Remove the joined copy of a split catalog model (``LLMKIT_HOME/models/<name>``), if there is one, so
    that the next ``resolve`` joins it again from its packages and re-checks it."""
    target = home() / "models" / name
    if not target.exists():
        return
    trash = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{name}-old-"))
    os.replace(target, trash / name)  # out of the way at once (atomic); a reader never sees half a folder
    shutil.rmtree(trash, ignore_errors=True)


def _from_build(name: str, builder_path: str, *, build: bool, recipe: str | None = None) -> Path | None:
    target = home() / "models" / name
    if Manifest.present(target):
        made_by = Manifest.read(target).recipe
        if recipe is None or made_by == recipe:
            return target
    if not build:
        return None
    module, func = builder_path.split(":")
    builder = getattr(importlib.import_module(module), func)
    builder(target)  # builders write atomically: a folder exists only once it is complete
    return target


def _snapshot(repo_id: str) -> Path:
    """A hub snapshot with safe files only; offline (HF_HUB_OFFLINE=1 or no network) uses the local cache."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError as e:  # pragma: no cover - core dependency
        raise ModelNotFoundError(f"cannot fetch {repo_id!r}: huggingface_hub is not installed.") from e
    patterns = ["*.json", "*.safetensors", "*.txt", "*.model", "*.gguf", "model.bin", "*.tiktoken"]
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns, local_files_only=_offline()))
    except Exception:
        try:
            return Path(snapshot_download(repo_id, allow_patterns=patterns, local_files_only=True))
        except Exception:
            raise ModelNotFoundError(
                f"model {repo_id!r} is not in the local cache and the hub cannot be reached (offline?). "
                + available_models_hint()
            ) from None


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false") or os.environ.get("LLMKIT_OFFLINE") == "1"


def _resolve_hub(repo_id: str) -> ModelRef:
    path = _snapshot(repo_id)
    fmt = detect_format(path)
    return ModelRef(repo_id, path, detect_task(path, fmt), fmt, _ENGINE_FOR_FORMAT[fmt])


def is_installed(name: str) -> bool:
    """True when a catalog model can be loaded right now without building or downloading. A split model whose
    packages are all installed counts (it is joined on first use; listing the catalog never joins 1 GB)."""
    key = canonical_name(name)
    pip = CATALOG[key]["sources"].get("pip", {}) if key else {}
    if "parts" in pip and not (home() / "models" / key).exists():
        return not missing_packages(pip)
    try:
        resolve(name, build=False)
        return True
    except LlmkitError:
        return False
