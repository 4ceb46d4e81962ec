"""Read a GGUF file's metadata (chat template, context length, special tokens) without loading the model.

The ``gguf`` package's ``GGUFReader`` parses every tensor and array in Python (seconds for a 100 MB file on a
small CPU); this reads only the key-value header and skips arrays, keeping just the vocabulary entries asked for.
Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md

>>> read_metadata("SmolLM2-135M-Instruct.Q4_1.gguf")["llama.context_length"]
8192
"""
from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, BinaryIO, Iterable

# GGUF value types -> struct format (8: string, 9: array are handled apart)
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


def read_metadata(path: str | Path, keep_tokens: Iterable[str] = ()) -> dict[str, Any]:
    """Scalars and strings from the header. Arrays are skipped, except that ``tokenizer.ggml.tokens`` becomes
    ``{id: text}`` for the token ids stored under the keys named in ``keep_tokens`` (e.g. the BOS/EOS ids)."""
    out: dict[str, Any] = {}
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        version, _n_tensors, n_kv = struct.unpack("<IQQ", f.read(20))
        if version < 2:
            raise ValueError(f"{path}: GGUF version {version} is too old")
        token_array_at = None
        for _ in range(n_kv):
            key = _string(f)
            (kind,) = struct.unpack("<I", f.read(4))
            if kind == _ARRAY:
                if key == "tokenizer.ggml.tokens":
                    token_array_at = f.tell()
                _skip_array(f)
            else:
                out[key] = _value(f, kind)
        wanted = {out[k] for k in keep_tokens if isinstance(out.get(k), int)}
        if token_array_at is not None:  # the vocabulary's size (speculative decoding compares draft and target)
            f.seek(token_array_at + 4)
            out["tokenizer.ggml.tokens.count"] = struct.unpack("<Q", f.read(8))[0]
        if token_array_at is not None and wanted:
            f.seek(token_array_at)
            out["tokenizer.ggml.tokens"] = _pick_strings(f, wanted)
    return out


def _string(f: BinaryIO) -> str:
    (n,) = struct.unpack("<Q", f.read(8))
    return f.read(n).decode("utf-8", errors="replace")


def _value(f: BinaryIO, kind: int) -> Any:
    if kind == _STRING:
        return _string(f)
    fmt = _SCALARS[kind]
    return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]


def _skip_array(f: BinaryIO) -> None:
    kind, n = struct.unpack("<IQ", f.read(12))
    if kind in _SCALARS:
        f.seek(n * struct.calcsize(_SCALARS[kind]), 1)
    elif kind == _STRING:
        for _ in range(n):
            (length,) = struct.unpack("<Q", f.read(8))
            f.seek(length, 1)
    elif kind == _ARRAY:
        for _ in range(n):
            _skip_array(f)
    else:
        raise ValueError(f"unknown GGUF value type {kind}")


def _pick_strings(f: BinaryIO, wanted: set[int]) -> dict[int, str]:
    _kind, n = struct.unpack("<IQ", f.read(12))
    picked: dict[int, str] = {}
    for i in range(min(n, max(wanted) + 1)):
        (length,) = struct.unpack("<Q", f.read(8))
        if i in wanted:
            picked[i] = f.read(length).decode("utf-8", errors="replace")
        else:
            f.seek(length, 1)
    return picked


class GGUFInfo:
    """What both llama.cpp engines need from a GGUF before loading it: the file, its trained context length, and
    the chat template with the BOS/EOS texts it uses."""

    def __init__(self, model_path: str | Path, default_ctx: int):
        path = Path(model_path)
        self.path = path if path.is_file() else sorted(path.glob("*.gguf"))[0]
        meta = read_metadata(self.path, keep_tokens=("tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"))
        self.default_ctx = default_ctx
        self.trained_ctx: int = meta.get(f"{meta.get('general.architecture')}.context_length") or default_ctx
        self.chat_template: str | None = meta.get("tokenizer.chat_template")
        tokens = meta.get("tokenizer.ggml.tokens", {})
        self.bos_token: str = tokens.get(meta.get("tokenizer.ggml.bos_token_id"), "")
        self.eos_token: str = tokens.get(meta.get("tokenizer.ggml.eos_token_id"), "")
        self.kv_bytes_per_token = _kv_bytes_per_token(meta)


    def n_ctx(self, asked: int | None) -> int:
        """The context to allocate: what was asked (default ``default_ctx``), at most what the model was trained on."""
        return min(asked or self.default_ctx, self.trained_ctx)


def _kv_bytes_per_token(meta: dict[str, Any]) -> int:
    """Bytes of llama.cpp's default (f16) KV cache per token: layers x (K + V) x kv heads x head size x 2.
    0 when the header lacks a field (an architecture without these keys): then nothing is checked against it."""
    arch = meta.get("general.architecture")
    layers, heads = meta.get(f"{arch}.block_count"), meta.get(f"{arch}.attention.head_count")
    kv_heads = meta.get(f"{arch}.attention.head_count_kv") or heads
    embd = meta.get(f"{arch}.embedding_length")
    if not (layers and heads and embd):
        return 0
    k = meta.get(f"{arch}.attention.key_length") or embd // heads
    v = meta.get(f"{arch}.attention.value_length") or embd // heads
    return int(layers * kv_heads * (k + v) * 2)
