"""Text generation: ``pipeline("text-generation")``, shaped like transformers' pipeline, built for streaming.

>>> from llmkit import pipeline
>>> gen = pipeline("text-generation")                       # qwen2.5-coder-1.5b-instruct, on llama.cpp
>>> chat = [{"role": "system", "content": "You are a helpful assistant."},
...         {"role": "user", "content": "What is the capital of France?"}]
>>> gen(chat, temperature=0)[0]["generated_text"][-1]
{'role': 'assistant', 'content': 'The capital of France is Paris.'}
>>> for piece in gen.stream([{"role": "user", "content": "Tell me a joke"}]):   # a generator of text pieces
...     print(piece, end="", flush=True)
>>> conv = gen.chat(system="You are terse.")                  # a conversation that keeps its history
>>> conv.send("Name a colour").text

The contract every engine meets (``TextEngine`` in ``llmkit.engines.decoding``; chosen by
``llmkit.engines.select.text_engine``) is small: ``tokenize(text)`` and ``generate(prompt_ids, options,
max_new_tokens)``, a generator of ``Piece``s (text, token count, log-probs) that stops the engine when closed.
Chat templates, stop strings, truncation and usage are done here once, so all engines behave alike, and
``generate()``/``stream()`` are what the CLI and the server sit on.
"""
from __future__ import annotations

import random
import warnings
from dataclasses import dataclass
from typing import Any, Iterator

from ..errors import InputError
from ..hub import ModelRef
from ..engines.decoding import TextEngine, TokenLogprob
from ..engines.select import text_engine
from .decoding import StopMatcher, check_messages, render_chat
from .generate_options import GenerationOptions
from .tools import call_schema, check_tools, template_has_tools

__all__ = ["GenerationOptions", "GenerationResult", "Usage", "TokenLogprob", "TextStream", "Conversation",
           "TextGenerationPipeline"]


@dataclass(frozen=True)
class Usage:
    """Token counts, as in OpenAI's API."""

    prompt_tokens: int
    completion_tokens: int
    # speculative decoding: tokens proposed by the draft (or n-gram lookup) and how many the model kept
    draft_tokens: int | None = None
    accepted_tokens: int | None = None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def acceptance_rate(self) -> float | None:
        return self.accepted_tokens / self.draft_tokens if self.draft_tokens else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                               "total_tokens": self.total_tokens}
        if self.draft_tokens is not None:  # OpenAI's names for predicted-output tokens kept / thrown away
            accepted = self.accepted_tokens or 0
            out["completion_tokens_details"] = {"accepted_prediction_tokens": accepted,
                                                "rejected_prediction_tokens": self.draft_tokens - accepted}
            out["acceptance_rate"] = round(self.acceptance_rate, 4) if self.draft_tokens else None
        return out


@dataclass(frozen=True)
class GenerationResult:
    text: str
    finish_reason: str  # "stop" (end of turn or a stop string), "length" (max_new_tokens or context), "cancelled"
    usage: Usage
    seed: int
    truncated_tokens: int = 0  # prompt tokens dropped from the left to fit the context
    logprobs: list[TokenLogprob] | None = None
    stop_sequence: str | None = None  # the stop string that ended the text, if one did


class TextStream:
    """Text pieces as they are generated. Iterate it; ``result`` is set once it ends (or is closed).

    ``close()`` (or leaving a ``with`` block, or dropping the stream) stops the generation itself, not just the
    reading: a server whose client disconnects frees the engine at once.
    """

    def __init__(self, pipe: "TextGenerationPipeline", ids: list[int], options: GenerationOptions, truncated: int,
                 prompt: Any = None, tools: dict[str, Any] | None = None):
        remote = getattr(pipe.engine, "remote", False)  # the provider enforces the schema (response_format)
        if options.json_schema is not None and not (getattr(pipe.engine, "grammars", False) or remote):
            raise InputError(f"structured output (json_schema) needs the llama.cpp engine; {pipe.engine.name} "
                             "cannot constrain its decoding (use --engine llamacpp with a GGUF model).")
        self.truncated_tokens = truncated
        self.result: GenerationResult | None = None
        self._gen = pipe._pieces(self, ids, options, truncated, prompt, tools)

    def __iter__(self) -> "TextStream":
        return self

    def __next__(self) -> str:
        return next(self._gen)

    def close(self) -> None:
        self._gen.close()

    def __enter__(self) -> "TextStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def collect(self) -> GenerationResult:
        for _ in self:
            pass
        assert self.result is not None
        return self.result


class TextGenerationPipeline:
    """Generate text with one engine and default options; every call may override options."""

    task = "text-generation"

    def __init__(self, engine: TextEngine, options: GenerationOptions | None = None, *, model_name: str = "",
                 default_system: str | None = None, chat: bool = True):
        self.engine = engine
        self.options = options or GenerationOptions()
        self.model_name = model_name
        self.default_system = default_system  # used when a chat has no system message (catalog entries set it)
        self.can_chat = chat  # False for a base model (catalog "chat": False): completions only

    @classmethod
    def from_ref(cls, ref: ModelRef, engine: str = "auto", *, threads: int | None = None,
                 n_ctx: int | None = None, parallel: int = 1, allow_remote: bool | None = None,
                 redact: bool | None = None, prompt_cache_mib: int | None = None, device: str = "cpu",
                 **options: Any) -> "TextGenerationPipeline":
        """``allow_remote``/``redact`` matter for remote models only (``openai:gpt-4o-mini``, docs/remote.md):
        the opt-in (default: LLMKIT_ALLOW_REMOTE or the config file) and PII redaction (default on).
        ``prompt_cache_mib``: llama.cpp's budget for reusing earlier prompts' KV cache (default 1024; 0: off).
        ``device``: cpu, cuda, mps or auto (``llmkit.devices``; llama.cpp offloads every layer to the GPU)."""
        defaults = GenerationOptions().replace(**options)  # validate before the (slow) load
        return cls(text_engine(ref, engine, threads=threads, n_ctx=n_ctx, parallel=parallel,
                               allow_remote=allow_remote, redact=redact, prompt_cache_mib=prompt_cache_mib,
                               speculative=defaults.speculative, draft=defaults.draft, repack=defaults.repack,
                               device=device), defaults,
                   model_name=ref.name,
                   default_system=ref.entry.get("default_system"), chat=ref.entry.get("chat", True))

    # ------------------------------------------------------------------------------------------ public API

    def __call__(self, inputs: Any, *, stream: bool = False, return_full_text: bool = True, **options: Any):
        """transformers-shaped: a prompt or a chat -> ``[{"generated_text": ...}]``; a list of prompts -> a list
        of those. ``stream=True`` returns a ``TextStream`` of text pieces instead."""
        if stream:
            return self.stream(inputs, **options)
        if isinstance(inputs, (list, tuple)) and inputs and all(isinstance(x, str) for x in inputs):
            return [self(x, return_full_text=return_full_text, **options) for x in inputs]
        result = self.generate(inputs, **options)
        if isinstance(inputs, str):
            out: dict[str, Any] = {"generated_text": (inputs if return_full_text else "") + result.text}
        else:
            reply = {"role": "assistant", "content": result.text}
            out = {"generated_text": [*check_messages(inputs), reply] if return_full_text else [reply]}
        if result.logprobs is not None:
            out["logprobs"] = [{"token": t.token, "logprob": t.logprob} for t in result.logprobs]
        return [out]

    def generate(self, prompt: str | list[dict[str, str]], **options: Any) -> GenerationResult:
        """A raw prompt (str) or chat messages -> one ``GenerationResult`` (new text only, with usage)."""
        return self.stream(prompt, **options).collect()

    def stream(self, prompt: str | list[dict[str, str]], *, tools: list[dict[str, Any]] | None = None,
               tool_choice: Any = None, **options: Any) -> TextStream:
        """Like ``generate`` but a ``TextStream`` of pieces. Bad input raises here, before any text is made.

        ``tools``/``tool_choice`` (OpenAI's shapes: "auto", "none", "required" or a named function): the chat
        template renders the tools (a call that must happen is constrained to the call's schema), or a remote
        provider gets them; calls come back in the text (``llmkit.tasks.tools.parse_calls`` reads them)."""
        return self._open(prompt, self.options.replace(**options), tools, tool_choice)

    def stream_ids(self, ids: list[int], **options: Any) -> TextStream:
        """Like ``stream`` for a prompt already made into token ids by ``prompt_ids`` (the server counts a prompt's
        tokens before it queues the request, then generates from the same ids); nothing is dropped here."""
        opts = self.options.replace(**options)
        self._check_load_options(opts)
        return TextStream(self, list(ids), opts, 0)

    def _open(self, prompt: str | list[dict[str, str]], opts: GenerationOptions,
              tools: list[dict[str, Any]] | None = None, tool_choice: Any = None) -> TextStream:
        self._check_load_options(opts)
        tools = check_tools(tools) if tools else None
        named = isinstance(tool_choice, dict) and isinstance(tool_choice.get("function", {}).get("name"), str)
        if tool_choice not in (None, "auto", "none", "required") and not named:
            raise InputError(f"tool_choice must be \"auto\", \"none\", \"required\" or {{\"type\": \"function\", "
                             f"\"function\": {{\"name\": ...}}}} (got {tool_choice!r}).")
        if getattr(self.engine, "remote", False):  # the provider templates and tokenises: send the text itself
            if isinstance(prompt, str) and not prompt.strip():
                raise InputError("the prompt is empty: give some text (as an argument or on stdin).")
            return TextStream(self, [], opts, 0, prompt=prompt if isinstance(prompt, str) else check_messages(prompt),
                              tools={"tools": tools, "tool_choice": tool_choice} if tools else None)
        if tool_choice == "none":  # no tools rendered: a model without tool support still answers
            tools = None
        if tools and tool_choice not in (None, "auto"):  # a call must happen: constrain it to a well-formed one
            if opts.json_schema is not None:
                raise InputError("json_schema and a required tool call both constrain the answer; give one of them.")
            opts = opts.replace(json_schema=call_schema(tools, tool_choice["function"]["name"] if named else None))
        ids, truncated = self.prompt_ids(prompt, opts.max_new_tokens, tools)
        if truncated:
            warnings.warn(
                f"the prompt is {len(ids) + truncated} tokens, over what fits the {self.engine.context_length}-token "
                f"context with max_new_tokens={opts.max_new_tokens}; dropped the first {truncated} tokens.",
                stacklevel=3,
            )
        return TextStream(self, ids, opts, truncated)

    def _check_load_options(self, opts: GenerationOptions) -> None:
        """Speculation and repacking are set up when the model loads (a draft is a second model, repacked
        weights are a copy): a call cannot change them."""
        if (opts.speculative, opts.draft, opts.repack) != (self.options.speculative, self.options.draft,
                                                            self.options.repack):
            raise InputError("speculative/draft/repack are chosen when the model loads: pass them to pipeline(...) "
                             "(or the CLI flags), not to a call.")

    def chat(self, messages: list[dict[str, str]] | None = None, *, system: str | None = None,
             **options: Any) -> "Conversation":
        """A conversation that keeps its history: ``conv = gen.chat(); conv.send("Hi").text``."""
        self._require_chat()
        return Conversation(self, messages, system=system, **options)

    def render(self, messages: list[dict[str, str]], tools: list[dict[str, Any]] | None = None) -> str:
        """The exact prompt text a chat becomes (the model's chat template, else ChatML); ``tools`` (OpenAI function
        specs, see ``llmkit.tasks.tools``) need a template that renders them."""
        e = self.engine
        self._require_chat()
        if tools and not template_has_tools(e.chat_template):
            raise InputError(f"{self.model_name} cannot call tools: its chat template has no tools; use a model whose "
                             "template has them, e.g. qwen2.5-coder-0.5b-instruct.")
        messages = check_messages(messages)
        if self.default_system and not any(m["role"] == "system" for m in messages):
            messages = [{"role": "system", "content": self.default_system}, *messages]
        return render_chat(e.chat_template, messages, bos_token=e.bos_token, eos_token=e.eos_token, tools=tools)

    def _require_chat(self) -> None:
        if not self.can_chat:  # a base model given ChatML just continues the transcript, badly
            raise InputError(f"{self.model_name} is a base model (text completion, not chat): give it the start of a "
                             f"text to continue, e.g. `llmkit generate \"Once upon a time\" --model {self.model_name}`.")

    def prompt_ids(self, prompt: str | list[dict[str, str]], max_new_tokens: int,
                   tools: list[dict[str, Any]] | None = None) -> tuple[list[int], int]:
        """Tokenise a prompt; if it does not fit the context with room to answer, drop tokens from the left.
        Returns (ids, number of tokens dropped)."""
        if isinstance(prompt, str):
            if not prompt.strip():
                raise InputError("the prompt is empty: give some text (as an argument or on stdin).")
            text = prompt
        else:
            text = self.render(prompt, tools)
        ids = self.engine.tokenize(text)
        ctx = self.engine.context_length
        keep = max(ctx - max_new_tokens, ctx // 2)  # never give the answer less than half the context
        if len(ids) <= keep:
            return ids, 0
        return ids[len(ids) - keep:], len(ids) - keep

    # ------------------------------------------------------------------------------------------ the loop

    def _pieces(self, stream: TextStream, ids: list[int], opts: GenerationOptions,
                truncated: int, prompt: Any = None, tools: dict[str, Any] | None = None) -> Iterator[str]:
        engine = self.engine
        seed = opts.seed if opts.seed is not None else random.SystemRandom().randrange(2**31)
        opts = opts.replace(seed=seed)
        budget = max(0, min(opts.max_new_tokens, engine.context_length - len(ids)))
        prompt_tokens = len(ids)
        stops = StopMatcher(opts.stop)
        logprobs: list[TokenLogprob] | None = [] if opts.logprobs else None
        text: list[str] = []
        n, finish = 0, "cancelled"
        drafted: tuple[int, int] | None = None
        if prompt is not None:  # a remote engine (see _open)
            pieces = engine.generate_messages(prompt, opts, budget, **(tools or {}))  # type: ignore[attr-defined]
        else:
            pieces = engine.generate(ids, opts, budget)
        try:
            for piece in pieces:
                n += piece.tokens
                if piece.prompt_tokens is not None:
                    prompt_tokens = piece.prompt_tokens
                if piece.drafted is not None:
                    drafted = piece.drafted
                if logprobs is not None:
                    logprobs.extend(piece.logprobs)
                out = stops.feed(piece.text)
                if out:
                    text.append(out)
                    yield out
                if stops.stopped:
                    finish = "stop"
                    break
                finish = piece.finish_reason or finish
            if finish == "cancelled":  # the engine ended without saying why: it ran out of budget
                finish = "length"
            tail = stops.finish()
            if tail:
                text.append(tail)
                yield tail
        finally:
            pieces.close()  # stops the engine even when the reader stopped early
            usage = Usage(prompt_tokens, n, *(drafted or (None, None)))
            stream.result = GenerationResult("".join(text), finish, usage, seed, truncated,
                                             logprobs, stops.matched)


class Conversation:
    """A multi-turn chat that keeps its history. ``send`` returns a result, ``stream`` yields pieces."""

    def __init__(self, pipe: TextGenerationPipeline, messages: list[dict[str, str]] | None = None, *,
                 system: str | None = None, **options: Any):
        self.pipe = pipe
        self.options = pipe.options.replace(**options)
        self.system = system
        self.messages: list[dict[str, str]] = []
        self.last: GenerationResult | None = None
        self.reset()
        for m in messages or []:
            self.messages.append({"role": m["role"], "content": m["content"]})

    def reset(self) -> None:
        """Forget the history (keeps the system prompt)."""
        self.messages = [{"role": "system", "content": self.system}] if self.system else []

    def send(self, text: str, **options: Any) -> GenerationResult:
        """Add a user message and return the reply (which joins the history)."""
        stream = self.stream(text, **options)
        for _ in stream:
            pass
        assert self.last is not None
        return self.last

    __call__ = send

    def stream(self, text: str, **options: Any) -> Iterator[str]:
        """Yield the reply's pieces; the reply joins the history once complete (or when the stream is closed)."""
        if not isinstance(text, str) or not text.strip():
            raise InputError("the message is empty: type some text.")
        turn = [*self.messages, {"role": "user", "content": text}]
        return self._follow(turn, self.pipe._open(turn, self.options.replace(**options)))

    def _follow(self, turn: list[dict[str, str]], stream: TextStream) -> Iterator[str]:
        try:
            yield from stream
        finally:
            stream.close()
            self.last = stream.result
            self.messages = [*turn, {"role": "assistant", "content": stream.result.text if stream.result else ""}]
