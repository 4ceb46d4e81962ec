"""Encoder engines for classification and embeddings: fast tokenisation, length bucketing, and backends.

A backend maps padded token batches to named outputs: ``"pooled"`` (the sentence vector) and one logits array
per task head. Two backends: ``torch`` (the reference; any transformers encoder or llmkit folder) and
``onnx-int8`` (``onnx_encoder.py``; dynamic int8 quantisation, the fast one on CPUs).
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import InputError
from ..hub import ModelRef
from ..manifest import TaskSpec


class EncoderBackend(Protocol):
    name: str

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> dict[str, np.ndarray]: ...


@dataclass
class Heads:
    """What a folder's heads are: task name -> spec (type, labels); and which task is the default."""

    tasks: dict[str, TaskSpec]
    default: str | None
    pooling: str = "mean"
    max_length: int = 512
    temperatures: dict[str, float] = field(default_factory=dict)  # head -> calibration temperature (manifest)


def read_heads(ref: ModelRef) -> Heads:
    """Heads from an llmkit manifest, or from a transformers classifier's ``id2label``, or none (an encoder)."""
    m = ref.manifest if ref.format == "llmkit" else None
    if m is not None:
        return Heads(m.tasks, m.default_task, m.pooling, m.max_length or 512, dict(m.temperatures))
    config = json.loads((ref.path / "config.json").read_text())
    max_len = max_tokens(ref.path, config)
    if ref.task == "text-classification" and "id2label" in config:
        labels = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
        kind = "multi_label" if config.get("problem_type") == "multi_label_classification" else "single_label"
        return Heads({"default": TaskSpec("default", kind, labels)}, "default", "cls", max_len)
    return Heads({}, None, ref.entry.get("pooling", "mean"), max_len)


# Models whose positions start after the padding id (fairseq's layout): max_position_embeddings 514 holds 512 tokens.
_OFFSET_POSITIONS = {"roberta", "xlm-roberta", "mpnet", "camembert", "longformer", "bart", "mbart"}


def max_tokens(folder: Path, config: dict) -> int:
    """The most tokens the model's position table holds (a longer input fails inside the model), capped by the
    tokenizer's own ``model_max_length``."""
    n = int(config.get("max_position_embeddings", 512))
    if config.get("model_type") in _OFFSET_POSITIONS:
        n -= int(config.get("pad_token_id", 1)) + 1
    try:
        declared = json.loads((folder / "tokenizer_config.json").read_text()).get("model_max_length")
    except (OSError, ValueError):
        declared = None
    return min(n, declared) if isinstance(declared, int) and 0 < declared < n else n


class Tokenizer:
    """A Rust fast tokenizer with truncation; counts how many texts it had to cut."""

    def __init__(self, folder: Path, max_length: int):
        from tokenizers import Tokenizer as Fast

        file = folder / "tokenizer.json"
        if not file.exists():
            raise InputError(f"{folder} has no tokenizer.json (a fast tokenizer); re-save it with transformers.")
        self.tok = Fast.from_file(str(file))
        self.tok.no_padding()
        self.tok.enable_truncation(max_length)
        self.max_length = max_length
        pad = self.tok.token_to_id("[PAD]")
        self.pad_id = pad if pad is not None else (self.tok.token_to_id("<pad>") or 0)

    def encode(self, texts: Sequence[str]) -> tuple[list[list[int]], int]:
        """Token ids per text, and the number of texts that were truncated."""
        encs = self.tok.encode_batch(list(texts))
        return [e.ids for e in encs], sum(1 for e in encs if e.overflowing)


def pad_batch(ids: Sequence[Sequence[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    width = max(len(x) for x in ids)
    input_ids = np.full((len(ids), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for row, seq in enumerate(ids):
        input_ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = 1
    return input_ids, mask


def run_bucketed(backend: EncoderBackend, ids: list[list[int]], pad_id: int, batch_size: int,
                 max_tokens: int = 2048, slack: float = 1.25) -> dict[str, np.ndarray]:
    """Run ``backend`` over sequences sorted by length, in batches capped by count and padded tokens; outputs in
    input order. Sorting is what makes batching pay on a CPU: a batch pads only to its own longest text.

    A batch also ends where the next text is more than ``slack`` times (+8 tokens) longer than the batch's first,
    so 32 texts of mixed lengths (one server batch) run as a few tight batches instead of one padded to the
    longest; and ``max_tokens`` keeps activations cache-sized. Measured on 2 cores with the int8 MiniLM
    (bench/serve.py, BENCHMARKS.md): 32 mixed reviews ran at 0.54x of one-by-one as one batch, 0.88x so split.

    A backend with ``workers > 1`` (the int8 one: a row's result does not depend on its batch) splits each batch
    between that many one-thread runs side by side."""
    chunks = _buckets(ids, batch_size, max_tokens, slack)
    workers = getattr(backend, "workers", 1)
    if workers > 1:
        chunks = _spread(chunks, workers)

    def run(chunk: list[int]) -> tuple[list[int], dict[str, np.ndarray]]:
        return chunk, backend.run(*pad_batch([ids[i] for i in chunk], pad_id))

    # the pool even for one chunk: its threads run with denormals flushed (onnx_encoder.flush_denormals)
    done = backend.pool.map(run, chunks) if workers > 1 else map(run, chunks)
    merged: dict[str, np.ndarray] = {}
    for chunk, out in done:
        for key, value in out.items():
            if key not in merged:
                merged[key] = np.empty((len(ids),) + value.shape[1:], dtype=value.dtype)
            merged[key][chunk] = value
    return merged


def _buckets(ids: list[list[int]], batch_size: int, max_tokens: int, slack: float) -> list[list[int]]:
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    chunks, start = [], 0
    while start < len(order):
        end, first = start + 1, len(ids[order[start]])
        while (end < len(order) and end - start < batch_size and (end - start + 1) * len(ids[order[end]]) <= max_tokens
               and len(ids[order[end]]) <= first * slack + 8):
            end += 1
        chunks.append(order[start:end])
        start = end
    return chunks


def _spread(chunks: list[list[int]], workers: int) -> list[list[int]]:
    """Each batch split by rows into ``workers`` parts that run side by side: parts of one batch have about the
    same length, so the workers finish together (measured on 2 cores: 86-93 texts/s this way, 80-84 running
    whole batches side by side, 69-79 as one two-thread run; BENCHMARKS.md)."""
    out = []
    for chunk in chunks:
        step = -(-len(chunk) // workers)
        out += [chunk[i:i + step] for i in range(0, len(chunk), step)]
    return out


class TorchBackend:
    """The reference: transformers encoder (+ llmkit heads) in torch, fp32 unless ``precision`` asks for
    autocast to bf16/fp16, on ``device`` (a resolved one: cpu, cuda or mps)."""

    name = "torch"

    def __init__(self, ref: ModelRef, heads: Heads, threads: int | None = None, device: str = "cpu",
                 precision: str = "fp32"):
        import torch

        from ..modeling import TaskSpec, TextModel

        if threads:
            torch.set_num_threads(threads)
        self.torch, self.device, self.precision = torch, device, precision
        self.hf_classifier = None
        if ref.format == "llmkit":
            self.model = TextModel.load(ref.path).to(device)
        elif heads.tasks:  # a transformers sequence classifier from the hub or a folder
            from transformers import AutoModelForSequenceClassification

            self.hf_classifier = AutoModelForSequenceClassification.from_pretrained(
                str(ref.path), use_safetensors=True, trust_remote_code=False).eval().to(device)
        else:
            self.model = TextModel.from_body(ref.path, [TaskSpec("none", "regression")], heads.pooling).eval()
            self.model.to(device)
        self.tasks = [] if self.hf_classifier is not None or ref.format != "llmkit" else list(heads.tasks)

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> dict[str, np.ndarray]:
        from ..devices import autocast

        torch = self.torch
        ids, mask = torch.from_numpy(input_ids).to(self.device), torch.from_numpy(attention_mask).to(self.device)
        with torch.inference_mode(), autocast(self.device, self.precision):
            if self.hf_classifier is not None:
                return {"default": _numpy(self.hf_classifier(input_ids=ids, attention_mask=mask).logits)}
            pooled = self.model.encode(ids, mask)
            out = {"pooled": _numpy(pooled)}
            for t in self.tasks:
                out[t] = _numpy(self.model.task_head(pooled, t))
            return out


def _numpy(t) -> np.ndarray:
    return t.float().cpu().numpy()


def default_threads() -> int:
    env = os.environ.get("LLMKIT_THREADS")
    return int(env) if env else max(1, min(os.cpu_count() or 1, 8))
