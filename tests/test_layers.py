"""The layers look down, never up (docs: README "Architecture"): every import of every module under src/llmkit,
read with ``ast`` (inside functions too, lazy ones included), goes to its own layer or a lower one."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "llmkit"

# Each top-level module or folder of llmkit -> its layer; a module may import its own layer and the ones below.
LAYERS: dict[str, int] = {
    # the base: what every layer may use
    **dict.fromkeys(("errors", "catalog", "hub", "modeling", "mtl_arch", "audio", "textio", "writers", "quiet",
                     "allocator", "netguard", "manifest", "task_table", "options", "audio_out", "hardware",
                     "parts", "providers", "redact", "audit", "raycluster", "devices"), 0),
    "engines": 1,  # how weights run
    **dict.fromkeys(("tasks", "train", "pipelines", "compare", "evals", "chooser", "__init__"), 2),  # the library
    **dict.fromkeys(("serve", "ui", "batch"), 3),  # shells over the library
    **dict.fromkeys(("commands", "cli"), 4),  # the command line, which starts the other shells
}
NAMES = {0: "base", 1: "engines", 2: "library", 3: "serve/ui", 4: "command line"}


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def dotted(path: Path) -> list[str]:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def layer_of(parts: list[str]) -> str:
    """The LAYERS key of a dotted llmkit name: its first part below ``llmkit`` (the package itself: __init__)."""
    return parts[1] if len(parts) > 1 else "__init__"


def imported(path: Path) -> list[tuple[int, list[str]]]:
    """(line, dotted name) of every llmkit module ``path`` imports, anywhere in the file."""
    package = dotted(path) if path.name == "__init__.py" else dotted(path)[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name.split(".")) for a in node.names if a.name.split(".")[0] == "llmkit"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = base + (node.module.split(".") if node.module else [])
            else:
                target = (node.module or "").split(".")
            if target[0] != "llmkit":
                continue
            # `from . import routes_audio`: the names may be modules themselves
            subs = [target + [a.name] for a in node.names if _is_module(target + [a.name])]
            found += [(node.lineno, t) for t in (subs or [target])]
    return found


def _is_module(parts: list[str]) -> bool:
    where = SRC.joinpath(*parts)
    return where.with_suffix(".py").exists() or (where / "__init__.py").exists()


def test_every_module_has_a_layer():
    missing = sorted({layer_of(dotted(p)) for p in modules()} - set(LAYERS))
    assert not missing, f"add these to LAYERS (and to the README's Architecture section): {missing}"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_look_down(path):
    own = LAYERS[layer_of(dotted(path))]
    upward = [f"line {line}: {'.'.join(t)} ({NAMES[LAYERS[layer_of(t)]]})" for line, t in imported(path)
              if LAYERS[layer_of(t)] > own]
    assert not upward, (f"{path.relative_to(SRC)} ({NAMES[own]}) imports a higher layer; move what it needs down: "
                        + "; ".join(upward))


def test_the_check_sees_lazy_and_relative_imports(tmp_path):
    """The reader itself: an import inside a function and a relative one are both found."""
    found = {".".join(t) for _, t in imported(PACKAGE / "train" / "runner.py")}
    assert {"llmkit.hub", "llmkit.train.mtl_report"} <= found  # top, lazy (both relative)
    assert {"llmkit.mtl_arch"} <= {".".join(t) for _, t in imported(PACKAGE / "modeling.py")}  # lazy
    assert {"llmkit.serve.routes_audio"} <= {".".join(t) for _, t in imported(PACKAGE / "serve" / "app.py")}
