"""The contract every text-generation engine meets (``TextEngine``), what it yields (``Piece``), and the
incremental detokeniser the Python-loop engines share.

An engine turns prompt token ids into ``Piece``s (new text, token count, log-probs) and stops when the generator
is closed; the task layer (``llmkit.tasks.generate``) makes the result out of them the same way for every engine.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Protocol


@dataclass(frozen=True)
class TokenLogprob:
    token: str
    logprob: float  # log-softmax of the model's raw logits (before temperature, top-k/p and penalties)
    top: tuple[tuple[str, float], ...] = ()  # the likeliest tokens at this step with theirs (top_logprobs), best first


@dataclass(frozen=True)
class Piece:
    """What an engine yields: new text (complete characters only) and how many tokens it took."""

    text: str
    tokens: int = 1
    logprobs: tuple[TokenLogprob, ...] = ()
    finish_reason: str | None = None  # on an engine's last piece: "stop" (end of turn) or "length"
    prompt_tokens: int | None = None  # a remote engine's last piece: the provider's count of the prompt
    drafted: tuple[int, int] | None = None  # a speculating engine's last piece: (tokens drafted, accepted)


class TextEngine(Protocol):
    name: str
    context_length: int
    chat_template: str | None
    bos_token: str
    eos_token: str
    eos_token_ids: frozenset[int]

    def tokenize(self, text: str) -> list[int]: ...
    # ``options`` is a ``llmkit.tasks.generate_options.GenerationOptions`` (read by field name). An engine with
    # a ``slots`` attribute serves that many ``generate()`` calls at once (1 when absent).
    def generate(self, prompt_ids: list[int], options: Any, max_new_tokens: int) -> Iterator[Piece]: ...


class Detokenizer:
    """Turn token ids into text pieces as they arrive.

    Decoding one token at a time breaks multi-byte characters and word-initial spaces, so each step decodes a
    short window with some context before it and emits only the new, complete characters (the approach of
    vLLM's ``detokenize_incrementally``). The pieces join to ``decode(all ids)``.
    """

    def __init__(self, decode: Callable[[list[int]], str]):
        self._decode = decode
        self._ids: list[int] = []
        self._prefix = 0  # start of the context window
        self._read = 0  # ids up to here have been emitted

    def add(self, token_id: int) -> str:
        self._ids.append(token_id)
        before = self._decode(self._ids[self._prefix:self._read])
        after = self._decode(self._ids[self._prefix:])
        if len(after) > len(before) and not after.endswith("\ufffd"):  # U+FFFD: an incomplete UTF-8 sequence
            self._prefix, self._read = self._read, len(self._ids)
            return after[len(before):]
        return ""

    def flush(self) -> str:
        """Whatever is still held back at the end (e.g. a truncated multi-byte character)."""
        before = self._decode(self._ids[self._prefix:self._read])
        after = self._decode(self._ids[self._prefix:])
        self._prefix = self._read = len(self._ids)
        return after[len(before):]
