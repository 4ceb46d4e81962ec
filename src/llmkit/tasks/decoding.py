"""Engine-independent pieces of text generation: chat templates and stop strings.

Every engine only turns prompt token ids into a stream of ``Piece``s (``llmkit.engines.decoding``); these helpers
make the prompt and cut the text the same way for all engines, so ``llmkit generate --engine torch`` and
``--engine llamacpp`` behave alike.
"""
from __future__ import annotations

import functools
from typing import Any, Sequence

from ..errors import InputError

# ChatML, used when a model ships no template (e.g. a base model): the most common instruct format.
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
ROLES = ("system", "user", "assistant", "tool")


def check_messages(messages: Any) -> list[dict[str, str]]:
    """Validate OpenAI-style chat messages: a non-empty list of {"role", "content"} dicts."""
    if not isinstance(messages, (list, tuple)) or not messages:
        raise InputError("messages must be a non-empty list of {'role': ..., 'content': ...} dicts.")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("content"), str) or m.get("role") not in ROLES:
            raise InputError(f"message {i} must be a dict with 'role' (one of {', '.join(ROLES)}) and 'content' text.")
        msg = {"role": m["role"], "content": m["content"]}
        if m.get("tool_calls"):  # an assistant's earlier tool calls: the template renders them back
            msg["tool_calls"] = list(m["tool_calls"])
        if m.get("tool_call_id"):  # a tool result names its call (remote providers need it; templates ignore it)
            msg["tool_call_id"] = m["tool_call_id"]
        out.append(msg)
    if not any(m["content"].strip() for m in out if m["role"] == "user"):
        raise InputError("the conversation has no user text: give a non-empty message.")
    return out


def render_chat(template: str | None, messages: Sequence[dict[str, Any]], *, bos_token: str = "",
                eos_token: str = "", tools: list[dict[str, Any]] | None = None) -> str:
    """Render ``messages`` with a model's Jinja chat template, in a sandbox (templates ship inside model files).

    >>> render_chat(None, [{"role": "user", "content": "Hi"}])
    '<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\n'
    """
    extra = {"tools": tools} if tools else {}  # templates test `tools is defined`/`if tools`: absent means none
    return _compiled(template or CHATML).render(
        messages=list(messages), add_generation_prompt=True, bos_token=bos_token, eos_token=eos_token, **extra
    )


@functools.lru_cache(maxsize=8)
def _compiled(template: str) -> Any:
    """Compile a template once per process (compiling costs milliseconds: first-token latency)."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment  # lazy: only chat needs jinja

    def raise_exception(message: str) -> None:
        raise InputError(f"the model's chat template rejected the messages: {message}")

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    return env.from_string(template)


class StopMatcher:
    """Cut the output at the first stop string, holding back only text that could still begin one."""

    def __init__(self, stops: Sequence[str]):
        self.stops = tuple(s for s in stops if s)
        self._text = ""
        self._emitted = 0
        self.stopped = False
        self.matched: str | None = None  # the stop string that ended the text (Anthropic reports which)

    def feed(self, piece: str) -> str:
        """Add ``piece``; return the text that is now safe to emit (``self.stopped`` turns True at a stop)."""
        if self.stopped:
            return ""
        self._text += piece
        if not self.stops:
            return self._flush_to(len(self._text))
        start = max(0, self._emitted - max(len(s) for s in self.stops))
        hits = [(i, s) for s in self.stops if (i := self._text.find(s, start)) >= 0]
        if hits:
            self.stopped = True
            at, self.matched = min(hits, key=lambda h: h[0])
            return self._flush_to(at)
        return self._flush_to(len(self._text) - self._held_back())

    def finish(self) -> str:
        return "" if self.stopped else self._flush_to(len(self._text))

    def _held_back(self) -> int:
        """Length of the longest tail of the text that is a proper prefix of a stop string."""
        best = 0
        for s in self.stops:
            for n in range(min(len(s) - 1, len(self._text)), best, -1):
                if self._text.endswith(s[:n]):
                    best = n
                    break
        return best

    def _flush_to(self, end: int) -> str:
        end = max(end, self._emitted)
        out, self._emitted = self._text[self._emitted:end], end
        return out
