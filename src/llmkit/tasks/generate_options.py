"""``GenerationOptions``: the one typed, validated set of sampling options for every entry point.

The CLI, the Python API, the server and the web app all build one of these; nothing else checks values. Each error
names the option, its CLI flag and the valid range (the pattern of whisper's ``DecodingOptions``).

>>> GenerationOptions(temperature=0, max_new_tokens=32).replace(top_p=0.5).top_p
0.5
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import InputError
from ..options import opt

MAX_NEW_TOKENS = 32768
MAX_STOPS = 16
Speculative = Literal["auto", "draft", "ngram", "off"]  # engines/speculative.py


@dataclass(frozen=True)
class GenerationOptions:
    """Sampling options; the flags of ``generate`` and ``chat`` and the web app's chat controls come from here."""

    max_new_tokens: int = opt(256, "at most N new tokens")
    # SmolLM2's model card recommends temperature 0.2 and top_p 0.9; 0 means greedy (deterministic).
    temperature: float = opt(0.2, "0 is greedy; 0-2")
    top_p: float = opt(0.9, "nucleus sampling, (0, 1]")
    # as transformers; 0: no top-k cut (then top-p sorts the whole vocabulary, slower)
    top_k: int = opt(50, "keep the k likeliest tokens; 0 is off")
    repetition_penalty: float = opt(1.0, "> 1 discourages repeating tokens already in the context; 1 is off")
    stop: tuple[str, ...] = opt((), "stop before S (repeatable)", metavar="S")
    seed: int | None = opt(None, "make sampling reproducible (default: a fresh seed, reported with --json)")
    logprobs: bool = opt(False, "with --json: each token's log-probability")
    # Constrained decoding: the answer must be JSON valid under this JSON Schema (a dict or its JSON text, kept as
    # canonical JSON text); {"type": "object"} for any JSON object. llama.cpp engine only. See tasks/structured.py.
    # The CLI reads it from a file (generate --json-schema FILE / --json-object), so it has no flag of its own.
    json_schema: str | None = opt(None, "JSON Schema the answer must follow", cli=False)
    top_logprobs: int = opt(0, "with --logprobs: also the N likeliest tokens at each step (0-20)")
    # Speculative decoding (engines/speculative.py): chosen when the model loads, so a per-call value must match.
    # auto: the catalog's draft model when it is installed, else off. Same output, fewer slow steps.
    speculative: Speculative = opt(
        "auto", "speculative decoding (llamacpp engine): draft (a small model proposes, the model checks), ngram "
        "(proposals copied from the prompt), off; auto: the catalog's draft when installed")
    draft: str | None = opt(None, "the draft model for --speculative draft (same tokenizer as --model; default: "
                            "the catalog's pairing)", metavar="MODEL")
    # llama.cpp repacks some quantised weights for its CPU kernels, which then round a batch of tokens differently
    # from one token; without it greedy text does not depend on batching (speculation). On by default, as in
    # llama.cpp, made for speed on wide vector units; on AVX2 here the two were within ~15% either way (BENCHMARKS.md,
    # "Exact greedy decoding"). Chosen when the model loads, like speculative.
    repack: bool = opt(True, "llama.cpp's repacked CPU weights (its default); --no-repack: the same greedy text with "
                       "or without speculative decoding")

    def __post_init__(self) -> None:
        stop = self.stop
        if isinstance(stop, str):
            stop = (stop,)
        object.__setattr__(self, "stop", tuple(stop or ()))
        _check_int("max_new_tokens", self.max_new_tokens, 1, MAX_NEW_TOKENS)
        _check_float("temperature", self.temperature, 0.0, 2.0)
        _check_float("top_p", self.top_p, 0.0, 1.0, low_open=True)
        _check_int("top_k", self.top_k, 0, 1_000_000)
        _check_float("repetition_penalty", self.repetition_penalty, 0.0, 10.0, low_open=True)
        if self.seed is not None:
            _check_int("seed", self.seed, 0, 2**32 - 1)
        if not isinstance(self.logprobs, bool):
            raise InputError(f"logprobs must be True or False (got {self.logprobs!r}).")
        if self.json_schema is not None:
            from .structured import canonical_schema

            object.__setattr__(self, "json_schema", canonical_schema(self.json_schema))
        _check_int("top_logprobs", self.top_logprobs, 0, 20)
        if self.speculative not in ("auto", "draft", "ngram", "off"):
            raise InputError(f"speculative (--speculative) must be one of auto, draft, ngram, off "
                             f"(got {self.speculative!r}).")
        if self.draft is not None and (not isinstance(self.draft, str) or not self.draft.strip()):
            raise InputError(f"draft (--draft) names a model (got {self.draft!r}).")
        if not isinstance(self.repack, bool):
            raise InputError(f"repack (--repack/--no-repack) must be True or False (got {self.repack!r}).")
        if self.draft and self.speculative in ("ngram", "off"):
            raise InputError(f"--draft {self.draft} goes with --speculative draft (or auto), not "
                             f"{self.speculative}.")
        for name in ("temperature", "top_p", "repetition_penalty"):
            object.__setattr__(self, name, float(getattr(self, name)))
        if len(self.stop) > MAX_STOPS or not all(isinstance(s, str) and s for s in self.stop):
            raise InputError(f"stop (--stop) takes up to {MAX_STOPS} non-empty strings (got {self.stop!r}).")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def replace(self, **changes: Any) -> "GenerationOptions":
        """A copy with ``changes`` (None means 'keep'); unknown names are an InputError, not a silent no-op."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise InputError(f"unknown generation option(s) {', '.join(unknown)}; valid: {', '.join(sorted(names))}.")
        changes = {k: v for k, v in changes.items() if v is not None}
        return dataclasses.replace(self, **changes) if changes else self


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InputError(f"{name} ({_flag(name)}) must be a whole number from {low} to {high} (got {value!r}).")


def _check_float(name: str, value: Any, low: float, high: float, *, low_open: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value  # NaN != NaN
    if ok:
        ok = (low < value if low_open else low <= value) and value <= high
    if not ok:
        bracket = "(" if low_open else "["
        raise InputError(f"{name} ({_flag(name)}) must be in {bracket}{low}, {high}] (got {value!r}).")
