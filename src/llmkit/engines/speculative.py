"""Speculative decoding on llama.cpp: which kind a model gets, whether a draft may draft for it, and how
xllamacpp is told (``--speculative draft|ngram|off|auto`` and ``--draft MODEL``, fields of ``GenerationOptions``).

A cheap proposer guesses the next few tokens; the target model checks them all in one batch and keeps the longest
prefix it agrees with, plus one token of its own. Greedy output is therefore the target's own, token for token. With
sampling, llama.cpp's server accepts a drafted token only if it is the token the target's sampler draws at that
position (same seed and sampler chain), so each kept token is a draw from the target's distribution: speculation
changes the speed, never what is sampled from (tests/test_speculative.py checks both).

- ``draft``: a small model with the same tokenizer (the catalog's ``draft_model``, e.g. Qwen2.5-Coder 0.5B for 1.5B).
- ``ngram``: no second model; the draft is what followed the last few tokens earlier in the context (prompt
  lookup), which pays off when the answer copies from the prompt: editing code, rewriting, quoting.
- ``auto`` (the default): ``draft`` when the catalog pairs the model with a draft that is installed and llama.cpp
  gets at least ``AUTO_DRAFT_MIN_THREADS`` threads, else off. Why the thread count: on 1 and 2 cores drafting was
  measured slower than plain decoding (bench/spec_profile.py, BENCHMARKS.md "issue 20"): checking k tokens in one
  batch costs nearly k single steps there (compute-bound CPU kernels), and a step of the 0.5B draft costs half a
  step of the 1.5B (its 151,936-word output layer is over a third of its weights). ``--json`` says why.

>>> from llmkit.hub import resolve
>>> plan(resolve("qwen2.5-coder-1.5b-instruct"), "auto", None, threads=8).mode
'draft'
>>> plan(resolve("qwen2.5-coder-1.5b-instruct"), "auto", None, threads=2).mode
'off'
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..hub import ModelRef
from .gguf_meta import GGUFInfo, read_metadata

MODES = ("auto", "draft", "ngram", "off")
ENGINES_THAT_CAN = "the llamacpp engine (xllamacpp, GGUF models)"
# Tokens drafted per step. Each costs a draft step (half a target step here) and a row of the target's batch, which
# is nearly as dear as a step of its own on a CPU: few, sure guesses beat many (bench/spec_profile.py's model).
DRAFT_MAX = 3
# ngram: look up the last 3 tokens, propose the 3 that followed them. Was (2, 8): on the docstrings set, 2 cores
# under load, (3, 3) kept 89% of its guesses and ran 1.04x plain decoding, (2, 8) 62% and 0.88x (BENCHMARKS.md).
NGRAM = (3, 3)
# auto drafts from this many llama.cpp threads on (default_threads() gives up to 8: machines of 8 cores and more).
# Measured slower at 1 and 2; from the measured step costs, the model in bench/spec_profile.py breaks even near 4
# cores and gains ~1.2x at 8, where the target's batched check is no longer compute-bound. Not measured there.
AUTO_DRAFT_MIN_THREADS = 8
VOCAB_SLACK = 128  # llama.cpp's own limit on a draft's extra tokens (SPEC_VOCAB_MAX_SIZE_DIFFERENCE)


@dataclass(frozen=True)
class Speculation:
    """What an engine was loaded with: ``mode`` is ``draft``, ``ngram`` or ``off``; ``draft`` the draft model."""

    mode: str = "off"
    draft: ModelRef | None = None
    why: str = ""  # for --verbose / --json: how auto chose

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.mode}
        if self.draft is not None:
            out["draft"] = self.draft.name
        if self.why:
            out["why"] = self.why
        return out


def wanted(mode: str | None, draft: str | None) -> bool:
    """Did the user ask for speculation (not just leave the default)?"""
    return mode in ("draft", "ngram") or (bool(draft) and mode != "off")


def refuse_engine(engine: str) -> InputError:
    return InputError(f"--speculative runs on {ENGINES_THAT_CAN}; the {engine} engine cannot: "
                      "use --engine llamacpp with a GGUF model, or --speculative off.")


def plan(ref: ModelRef, mode: str | None, draft: str | None, threads: int | None = None) -> Speculation:
    """The speculation a GGUF model gets (the draft resolved and checked; no weights loaded). ``threads``: what
    llama.cpp will run on (None: ``default_threads()``), which decides ``auto``."""
    mode = mode or "auto"
    if mode not in MODES:
        raise InputError(f"--speculative must be one of {', '.join(MODES)} (got {mode!r}).")
    if mode == "off" or mode == "ngram":
        return Speculation(mode, why="asked" if mode == "ngram" else "")
    if draft is None:
        draft = ref.entry.get("draft_model")
        if draft is None:
            if mode == "draft":
                raise InputError(f"--speculative draft needs a draft model for {ref.name}: give --draft MODEL (a "
                                 "small model with the same tokenizer), or use --speculative ngram.")
            return Speculation("off")
        from ..hub import is_installed

        if mode == "auto" and not is_installed(draft):
            return Speculation("off", why=f"draft {draft} not installed (`llmkit models pull {draft}`)")
        if mode == "auto":
            if threads is None:
                from .llamacpp import default_threads

                threads = default_threads()
            if threads < AUTO_DRAFT_MIN_THREADS:
                return Speculation("off", why=f"drafting is slower than plain decoding on {threads} threads (it "
                                              f"pays from about {AUTO_DRAFT_MIN_THREADS}; BENCHMARKS.md, issue 20): "
                                              "--speculative draft forces it")
    from ..hub import resolve

    draft_ref = resolve(draft)
    check_vocab(ref, draft_ref)
    return Speculation("draft", draft_ref, "asked" if mode == "draft" else f"catalog pairs {ref.name} with {draft}")


def _vocab(ref: ModelRef) -> tuple[Path, dict[str, Any]]:
    if ref.format != "gguf":
        raise InputError(f"draft {ref.name} is {ref.format}; a draft must be a GGUF model with the target's "
                         "tokenizer (e.g. qwen2.5-coder-0.5b-instruct for qwen2.5-coder-1.5b-instruct).")
    path = GGUFInfo(ref.path, 0).path
    return path, read_metadata(path)


def check_vocab(target: ModelRef, draft: ModelRef) -> None:
    """Refuse a draft whose tokens do not mean what the target's mean (its proposals would be nonsense to the
    target, and llama.cpp would fail later with a less helpful message). Compared from the GGUF headers:
    tokenizer kind, pre-tokenizer, end-of-text id and vocabulary size."""
    _, t = _vocab(target)
    _, d = _vocab(draft)
    keys = ("tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.eos_token_id")
    differ = [k.rsplit(".", 1)[-1] for k in keys if t.get(k) != d.get(k)]
    nt, nd = t.get("tokenizer.ggml.tokens.count", 0), d.get("tokenizer.ggml.tokens.count", 0)
    if abs(nt - nd) > VOCAB_SLACK:
        differ.append("vocabulary size")
    if differ:
        raise InputError(
            f"{draft.name} cannot draft for {target.name}: their vocabularies differ ({', '.join(differ)}: "
            f"{nd:,} tokens, {d.get('tokenizer.ggml.pre')} vs {nt:,} tokens, {t.get('tokenizer.ggml.pre')}); a draft "
            f"must share the target's tokenizer{_suggest(target)}.")


def _suggest(target: ModelRef) -> str:
    return f", e.g. {target.entry['draft_model']}" if target.entry.get("draft_model") else ""


def configure(params: Any, spec: Speculation, threads: int) -> None:
    """Fill xllamacpp's ``CommonParams.speculative`` (llama.cpp's ``--spec-type``, ``-md``, ``--draft-max``...)."""
    if spec.mode == "off":
        return
    import xllamacpp as xlc

    kind = xlc.common_speculative_type
    s = params.speculative
    if spec.mode == "ngram":
        s.types = [kind.COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE]
        s.ngram_simple.size_n, s.ngram_simple.size_m = NGRAM
        return
    assert spec.draft is not None
    s.types = [kind.COMMON_SPECULATIVE_TYPE_DRAFT_SIMPLE]
    s.draft.mparams.path = str(GGUFInfo(spec.draft.path, 0).path)
    s.draft.n_max = DRAFT_MAX
    s.draft.cpuparams.n_threads = s.draft.cpuparams_batch.n_threads = threads


def counts(chunk: dict[str, Any]) -> tuple[int, int] | None:
    """(drafted, accepted) tokens from the ``timings`` of llama.cpp's last chunk; None when nothing was drafted."""
    timings = chunk.get("timings") or {}
    if "draft_n" not in timings:
        return None
    return int(timings["draft_n"]), int(timings.get("draft_n_accepted", 0))
