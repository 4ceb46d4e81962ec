"""The model folder's manifest (llmkit.json) as one typed record: round-trip, atomic write, versions, one gate."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from llmkit.errors import InputError
from llmkit.manifest import FORMAT_VERSION, Manifest, TaskSpec

ROOT = Path(__file__).resolve().parents[1]

# llmkit.json of the default sentiment model as the code before format_version wrote it (plus the ONNX export's
# "engines" entry): a folder from before must read as format version 1, unchanged.
BEFORE = {
    "format": "llmkit", "version": 1, "pipeline_task": "text-classification", "pooling": "mean",
    "base_model": "all-minilm-l6-v2", "max_length": 128, "description": "English sentiment, POSITIVE / NEGATIVE",
    "recipe": "sentiment-v2", "tasks": {"sentiment": {"type": "single_label", "labels": ["NEGATIVE", "POSITIVE"]}},
    "default_task": "sentiment", "engines": {"onnx-int8": "model.int8.onnx"},
}


def full_manifest() -> Manifest:
    return Manifest(
        tasks={"sentiment": TaskSpec("sentiment", "single_label", ["NEGATIVE", "POSITIVE"]),
               "topics": TaskSpec("topics", "multi_label", ["a", "b", "c"]),
               "stars": TaskSpec("stars", "regression", [])},
        default_task="topics", base_model="all-minilm-l6-v2", pooling="cls", max_length=64,
        architecture={"type": "mmoe", "experts": 3}, engines={"onnx-int8": "model.int8.onnx"},
        description="three heads", recipe="r9", extra={"owner": "team-a", "notes": {"k": [1, 2]}, "FILE": "x"})


def test_round_trip_keeps_every_field_and_unknown_keys(tmp_path):
    m = full_manifest()
    m.write(tmp_path)
    back = Manifest.read(tmp_path)
    assert back == m
    raw = json.loads((tmp_path / Manifest.FILE).read_text())
    assert raw["format"] == "llmkit" and raw["format_version"] == FORMAT_VERSION == 1
    assert raw["owner"] == "team-a" and raw["notes"] == {"k": [1, 2]} and raw["FILE"] == "x"
    assert Manifest.FILE == "llmkit.json"
    assert raw["tasks"]["stars"] == {"type": "regression", "labels": []}
    back.write(tmp_path)
    assert json.loads((tmp_path / Manifest.FILE).read_text()) == raw, "a second round-trip changes nothing"


def test_a_folder_from_before_reads_as_version_1(tmp_path):
    (tmp_path / "llmkit.json").write_text(json.dumps(BEFORE, indent=2))
    m = Manifest.read(tmp_path)
    assert m.format_version == 1 and m.extra == {}
    assert m.tasks == {"sentiment": TaskSpec("sentiment", "single_label", ["NEGATIVE", "POSITIVE"])}
    assert (m.default_task, m.base_model, m.max_length, m.recipe) == ("sentiment", "all-minilm-l6-v2", 128,
                                                                       "sentiment-v2")
    m.write(tmp_path)
    written = json.loads((tmp_path / "llmkit.json").read_text())
    assert written == {**{k: v for k, v in BEFORE.items() if k != "version"}, "format_version": 1}


def test_a_minimal_manifest_reads_with_the_defaults(tmp_path):
    (tmp_path / "llmkit.json").write_text('{"recipe": "r2", "tasks": {}}')
    m = Manifest.read(tmp_path)
    assert (m.pipeline_task, m.pooling, m.max_length, m.default_task, m.tasks) == (
        "text-classification", "mean", None, None, {})
    assert Manifest.read_if_present(tmp_path / "nowhere") is None and not Manifest.present(tmp_path / "nowhere")


def test_a_newer_format_is_refused_with_the_fix(tmp_path):
    (tmp_path / "llmkit.json").write_text(json.dumps({**BEFORE, "format_version": FORMAT_VERSION + 1}))
    with pytest.raises(InputError) as err:
        Manifest.read(tmp_path)
    message = str(err.value)
    assert "\n" not in message and "newer llmkit" in message and "upgrade llmkit" in message
    from llmkit import resolve

    with pytest.raises(InputError, match="upgrade llmkit"):
        resolve(str(tmp_path))


@pytest.mark.parametrize("text, words", [("{not json", "not valid JSON"), ("[1, 2]", "not a JSON object"),
                                         ('{"tasks": {"x": {"type": "ranking"}}}', "head type 'ranking'")])
def test_a_broken_manifest_says_what_is_wrong(tmp_path, text, words):
    (tmp_path / "llmkit.json").write_text(text)
    with pytest.raises(InputError, match=words):
        Manifest.read(tmp_path)


def test_the_write_is_atomic(tmp_path):
    good = full_manifest()
    good.write(tmp_path)
    before = (tmp_path / "llmkit.json").read_bytes()
    bad = full_manifest()
    bad.extra["oops"] = object()  # cannot be serialised
    with pytest.raises(TypeError):
        bad.write(tmp_path)
    assert (tmp_path / "llmkit.json").read_bytes() == before, "the old manifest is untouched"
    assert [p.name for p in tmp_path.iterdir()] == ["llmkit.json"], "no temp file left behind"
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    with pytest.raises(TypeError):
        bad.write(fresh)
    assert list(fresh.iterdir()) == [], "no partial manifest: the folder does not look like a model"


def test_a_folder_written_by_the_model_reads_back_equal(tiny_encoder, tmp_path):
    """TextModel.save writes the manifest; reading it back gives the model's own tasks, pooling and the caller's
    fields; TextModel.load rebuilds the same heads; the int8 export adds its engine through the manifest."""
    from llmkit.modeling import TextModel

    tasks = [TaskSpec("sentiment", "single_label", ["NEGATIVE", "POSITIVE"]), TaskSpec("stars", "regression")]
    net = TextModel.from_body(tiny_encoder, tasks, "mean")
    given = Manifest(base_model="tiny", max_length=16, description="d", extra={"owner": "me"})
    net.save(tmp_path, given)
    m = Manifest.read(tmp_path)
    assert m == Manifest(tasks={t.name: t for t in tasks}, default_task="sentiment", base_model="tiny",
                         max_length=16, description="d", extra={"owner": "me"})
    assert "architecture" not in json.loads((tmp_path / "llmkit.json").read_text()), "hard sharing: no mixer"
    loaded = TextModel.load(tmp_path)
    assert loaded.tasks == net.tasks and loaded.pooling == "mean"

    pytest.importorskip("onnxruntime")
    from llmkit.engines.onnx_encoder import ONNX_FILE, export_int8

    export_int8(tmp_path)
    after = Manifest.read(tmp_path)
    assert after.engines == {"onnx-int8": ONNX_FILE}
    after.engines = {}
    assert after == m, "the export changes the engines entry and nothing else"


def _modules() -> list[Path]:
    return sorted(p for d in ("src/llmkit", "bench") for p in (ROOT / d).rglob("*.py"))


def test_only_the_manifest_module_touches_the_file():
    """No module but manifest.py names llmkit.json as a value (messages and docstrings may mention it), imports the
    old MANIFEST constant, or builds a path from Manifest.FILE (comparing a file's name with it is allowed)."""
    offenders = []
    for path in _modules():
        if path == ROOT / "src/llmkit/manifest.py":
            continue
        tree = ast.parse(path.read_text(), str(path))
        compared = {id(c) for node in ast.walk(tree) if isinstance(node, ast.Compare)
                    for c in [node.left, *node.comparators]}
        for node in ast.walk(tree):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Constant) and node.value == "llmkit.json":
                offenders.append(f"{where} uses the file name; read or write it with Manifest")
            if isinstance(node, (ast.Name, ast.alias)) and "MANIFEST" in (getattr(node, "id", None),
                                                                         getattr(node, "name", None)):
                offenders.append(f"{where} uses MANIFEST; use Manifest.read / .write / .present")
            if (isinstance(node, ast.Attribute) and node.attr == "FILE" and isinstance(node.value, ast.Name)
                    and node.value.id == "Manifest" and id(node) not in compared):
                offenders.append(f"{where} builds a path from Manifest.FILE; use Manifest.read / .write")
    assert not offenders, "\n".join(offenders)


def test_the_manifest_module_sits_at_the_bottom():
    tree = ast.parse((ROOT / "src/llmkit/manifest.py").read_text())
    local = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level}
    assert local <= {"errors"}, local
