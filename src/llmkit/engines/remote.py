"""A remote model as a text engine: OpenAI (and any OpenAI-compatible server) or Anthropic, through their
official SDKs, behind the same ``TextGenerationPipeline`` as local models.

A remote engine takes chat messages, not token ids (``remote = True``; the pipeline calls ``generate_messages``):
the provider applies its own template and tokeniser, and reports usage. On the way out every message goes through
``llmkit.redact`` (unless ``redact=False``); on the way back placeholders are restored, also across stream
pieces; each call appends one line to the audit log (``llmkit.audit``). ``from_spec`` refuses a remote model the
user has not opted in to before anything touches the network.
"""
from __future__ import annotations

import importlib.util
import json
from contextlib import contextmanager
from typing import Any, Iterator

from .. import audit, providers
from ..errors import EngineUnavailableError, InputError, LlmkitError, RemoteError
from ..providers import RemoteSpec
from ..redact import MISSING as REDACT_MISSING, Redactor
from .decoding import Piece, TokenLogprob

SDK = {"openai": "openai", "anthropic": "anthropic"}


class RemoteEngine:
    remote = True
    context_length = 1 << 20  # the provider truncates or refuses; nothing is cut locally
    chat_template = None
    bos_token = eos_token = ""
    eos_token_ids: frozenset[int] = frozenset()

    def __init__(self, spec: RemoteSpec, settings: dict[str, Any], *, redact: bool = True):
        self.spec, self.redact = spec, redact
        self.name = f"remote ({spec.provider})"
        self.slots = 4  # the server may run this many calls at once: they only wait on the network
        self._settings = settings
        self._client: Any = None
        from . import remote_anthropic, remote_openai

        self._adapter = remote_openai if spec.provider == "openai" else remote_anthropic

    @classmethod
    def from_spec(cls, spec: RemoteSpec, *, allow_remote: bool | None = None,
                  redact: bool | None = None) -> "RemoteEngine":
        providers.check_allowed(spec, allow_remote)  # first: no opt-in, no key lookup, no network
        settings = providers.settings(spec)
        if importlib.util.find_spec(SDK[spec.provider]) is None:
            raise EngineUnavailableError(f"{spec.provider} models need its SDK: `pip install 'llmkit[remote]'`.")
        redact = providers.redact_default(redact)
        if redact and importlib.util.find_spec("presidio_analyzer") is None:
            raise EngineUnavailableError(REDACT_MISSING)
        return cls(spec, settings, redact=redact)

    def tokenize(self, text: str) -> list[int]:
        raise InputError(f"{self.spec.name} is a remote model: its tokeniser is the provider's, not available here.")

    def generate(self, prompt_ids: list[int], options: Any, max_new_tokens: int) -> Iterator[Piece]:
        raise InputError(f"{self.spec.name} is a remote model: it takes text or chat messages, not token ids.")

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._adapter.client(self._settings)
        return self._client

    def generate_messages(self, prompt: str | list[dict[str, Any]], options: Any, max_new_tokens: int,
                          tools: list[dict[str, Any]] | None = None, tool_choice: Any = None) -> Iterator[Piece]:
        """Send a prompt (a str is one user message) or chat; yield restored text pieces, then one last piece
        with the provider's usage (``tokens`` = completion tokens, ``prompt_tokens``) and finish reason.

        ``tools``/``tool_choice`` (OpenAI's shapes) go to the provider; each call it answers with comes back as a
        line of text ``{"name": ..., "arguments": {...}}``, the form ``llmkit.tasks.tools.parse_calls`` reads
        (so the server's routes turn it into tool_calls / tool_use blocks exactly as for a local model)."""
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
        messages, redactor = self._outgoing(messages)
        restorer = redactor.restorer()
        entry = self._entry("generate", messages, redactor)
        with self._audited(entry):
            events = self._adapter.stream(self.client, self.spec.model, messages, options, max_new_tokens,
                                          tools, tool_choice)
            for kind, *rest in events:
                if kind == "text":
                    text, logprobs = rest
                    out = restorer.feed(text)
                    if out or logprobs:
                        yield Piece(out, 0, tuple(TokenLogprob(*lp) for lp in logprobs))
                elif kind == "call":
                    name, arguments = rest
                    line = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
                    yield Piece(restorer.feed("\n" + line + "\n"), 0)
                elif kind == "end":
                    usage, finish = rest
                    entry["prompt_tokens"], entry["completion_tokens"] = usage
                    entry["status"] = finish
                    yield Piece(restorer.finish(), usage[1], finish_reason=finish, prompt_tokens=usage[0])

    def count_tokens(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None,
                     tool_choice: Any = None) -> int:
        """The provider's own count of a chat's input tokens (``/v1/messages/count_tokens`` behind ``llmkit
        serve``): the messages are redacted exactly as a call would send them, so the count is of what would be
        sent, and the call is audited like the others. Only Anthropic's API counts; OpenAI's has no such endpoint
        (and its tokeniser is the provider's), so an ``openai:`` model says so instead of guessing."""
        count = getattr(self._adapter, "count", None)
        if count is None:
            raise InputError(f"token counting is not available for this model: its provider speaks the OpenAI API, "
                             "which has no count endpoint, and its tokeniser is not here. The usage of a real "
                             "request gives the count (a provider that is another llmkit serve counts when named "
                             "anthropic:MODEL@URL).")
        messages, redactor = self._outgoing(list(messages))
        entry = self._entry("count_tokens", messages, redactor)
        with self._audited(entry):
            n = count(self.client, self.spec.model, messages, tools, tool_choice)
            entry.update(prompt_tokens=n, status="counted")
        return n

    @contextmanager
    def _audited(self, entry: dict[str, Any]) -> Iterator[None]:
        """Writes a call's audit line however the call ends (an early close leaves status "cancelled"); an SDK
        error becomes one line that names the fix."""
        try:
            yield
        except LlmkitError:
            entry["status"] = "error"
            raise
        except Exception as e:
            entry["status"] = "error"
            raise self._adapter.translate(e, self.spec, self._settings) from None
        finally:
            audit.record(**entry)

    def _outgoing(self, messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Redactor]:
        """The messages as they leave: redacted with one redactor for the whole conversation (same value, same
        placeholder), unless redaction is off; the redactor restores the answer."""
        redactor = Redactor()
        if self.redact:
            messages = [_redacted(m, redactor) for m in messages]
        return messages, redactor

    def _entry(self, call: str, messages: list[dict[str, Any]], redactor: Redactor) -> dict[str, Any]:
        """The audit line of a call (``llmkit.audit``): counts, names and a hash, never the text."""
        return {"call": call, "provider": self.spec.provider, "model": self.spec.model,
                "endpoint": providers.shown(self._settings.get("base_url")) or "default",
                "redaction": self.redact, "redacted": redactor.changed, "redactions": dict(redactor.counts),
                "sha256": audit.digest(messages), "prompt_tokens": None, "completion_tokens": None,
                "status": "cancelled"}


def _redacted(m: dict[str, Any], redactor: Redactor) -> dict[str, Any]:
    """A message with its text, and the arguments of its earlier tool calls, redacted."""
    out = {**m, "content": redactor.redact(m["content"])}
    if m.get("tool_calls"):
        out["tool_calls"] = [{**c, "function": {**c["function"], "arguments": _redact_args(c["function"]["arguments"],
                                                                                          redactor)}}
                             for c in m["tool_calls"]]
    return out


def _redact_args(arguments: Any, redactor: Redactor) -> Any:
    """Tool-call arguments (an object, or its JSON text) with every string value redacted."""
    if isinstance(arguments, str):
        try:
            return json.dumps(_redact_values(json.loads(arguments), redactor), ensure_ascii=False)
        except json.JSONDecodeError:
            return redactor.redact(arguments)
    return _redact_values(arguments, redactor)


def _redact_values(value: Any, redactor: Redactor) -> Any:
    if isinstance(value, dict):
        return {k: _redact_values(v, redactor) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_values(v, redactor) for v in value]
    return redactor.redact(value) if isinstance(value, str) else value


def error_line(e: Any, spec: RemoteSpec, settings: dict[str, Any], key_env: str) -> RemoteError:
    """One line for an SDK error; both SDKs share the exception shapes (Stainless-generated)."""
    where = providers.shown(settings.get("base_url")) or providers.HOSTS[spec.provider]
    status = getattr(e, "status_code", None)
    body = str(getattr(e, "body", "") or "")
    if status == 401 or status == 403:
        return RemoteError(f"{where} refused the API key ({status}): set a valid key in {key_env} or api_key "
                           f"under [remote.{spec.provider}] in {providers.config_path()}.")
    if status == 404:
        return RemoteError(f"{where} has no model {spec.model!r} (404): check the name after '{spec.provider}:'.")
    if status == 429 and "insufficient_quota" in body + str(e):
        return RemoteError(f"{where}: the account's quota is used up (429 insufficient_quota): add credit or use "
                           "another key.")
    if status == 429:
        return RemoteError(f"{where} is rate-limiting (429) after {settings['max_retries']} retries: wait and try "
                           "again, or raise max_retries in the config.")
    if type(e).__name__ == "APITimeoutError":
        return RemoteError(f"{where} did not answer within {settings['timeout']:g} s: try again, or raise timeout "
                           f"under [remote.{spec.provider}].")
    if isinstance(e, EOFError):  # the adapters' word for a stream that ended without its end event
        return RemoteError(f"{where} closed the stream before the answer was complete ({e}): what came is "
                           "incomplete; try again.")
    if type(e).__name__ == "APIConnectionError":
        return RemoteError(f"cannot reach {where}: check the network connection and the base URL.")
    if status is not None:
        message = str(getattr(e, "message", e)).splitlines()[0]
        return RemoteError(f"{where} answered {status}: {message}")
    return RemoteError(f"{spec.name} failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
