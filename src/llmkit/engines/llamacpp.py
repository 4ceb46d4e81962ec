"""GGUF models on llama.cpp, through xllamacpp (``pip install 'llmkit[llamacpp]'``).

Why xllamacpp rather than llama-cpp-python: BENCHMARKS.md, "Text generation". In short: a prebuilt wheel that
installs in seconds (llama-cpp-python compiles llama.cpp on every fresh machine), the same speed, and llama.cpp's
own C++ server loop (sampling, stop strings, prompt cache, a thread-safe request queue) instead of a Python one.

xllamacpp speaks the llama.cpp server's JSON protocol in-process; this module adapts it to the engine contract
(``TextEngine`` in ``decoding.py``): ``tokenize`` and a generator of ``Piece``s that stops llama.cpp when it is closed.

>>> engine = LlamaCppEngine.from_ref(resolve("smollm2-135m-instruct"), threads=2)
>>> [p.text for p in engine.generate(engine.tokenize("The sky is"), GenerationOptions(temperature=0), 3)]
[' a', ' canvas', ' of', '']
"""
from __future__ import annotations

import importlib.util
import json
import os
import queue
import threading
import urllib.request
from typing import Any, Iterator

from ..errors import EngineUnavailableError, InputError, LlmkitError
from ..hub import ModelRef
from .decoding import Piece, TokenLogprob
from .gguf_meta import GGUFInfo
from .grammar import json_grammar
from .speculative import Speculation, configure as configure_speculation, counts as draft_counts

MISSING = "the llama.cpp engine is not installed: `pip install 'llmkit[llamacpp]'` (or use --engine torch)."
DEFAULT_MAX_CTX = 8192  # the KV cache is allocated up front: more context costs memory even when unused
_DONE = object()
# Prompt reuse (docs/generation.md, "Prompt reuse"): each slot keeps its last prompt's KV cache, and llama.cpp's
# host prompt cache keeps earlier ones in RAM (LRU, this budget), so a chat's next turn, or another conversation
# coming back to a slot, only reads its new tokens. One definition: CLI flag, server setting and API default.
PROMPT_CACHE_MIB = 1024
PROMPT_CACHE_HELP = ("MiB of RAM that keep the KV cache of earlier prompts (least recently used dropped first), so "
                     "a chat's next turn reads only its new tokens; 0 turns prompt reuse off")


def available() -> bool:
    return importlib.util.find_spec("xllamacpp") is not None


GPU_WHEEL = ("`pip install xllamacpp --force-reinstall --index-url https://xorbitsai.github.io/xllamacpp/whl/cu128` "
             "(CUDA 12.8; other builds: xllamacpp's README)")


def gpu_layers(device: str) -> int:
    """llama.cpp's ``n_gpu_layers`` for ``--device``: 0 on the CPU (a GPU build offloads by default otherwise),
    every layer when this build of llama.cpp sees a GPU (CUDA, Metal...); ``auto`` without one is the CPU. The
    PyPI wheel is a CPU build: asking it for a GPU is one line naming the GPU wheel."""
    from ..devices import check

    check(device)
    if device == "cpu":
        return 0
    import xllamacpp as xlc

    kinds = xlc.ggml_backend_dev_type
    gpus = [d for d in xlc.get_device_info() if d["type"] in (kinds.GGML_BACKEND_DEVICE_TYPE_GPU,
                                                              kinds.GGML_BACKEND_DEVICE_TYPE_IGPU)]
    if gpus:
        return 999  # llama.cpp's "all of them" (-ngl 999)
    if device == "auto":
        return 0
    raise InputError(f"--device {device}: llama.cpp here sees no GPU (the xllamacpp installed is a CPU build, or no "
                     f"GPU is visible); install a GPU build: {GPU_WHEEL}, or use --device cpu.")


def default_threads() -> int:
    """The cores this process may use, up to 8 (token generation is memory-bound beyond that)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


class LlamaCppEngine:
    name = "llamacpp"
    grammars = True  # constrained decoding (GenerationOptions.json_schema)

    def __init__(self, server: Any, info: GGUFInfo, context_length: int, slots: int = 1, reuse: bool = True,
                 speculation: Speculation = Speculation()):
        self.server = server
        self.reuse = reuse  # cache_prompt: start from the longest cached prefix of the prompt
        self.speculation = speculation  # what it was loaded with (draft model, n-gram lookup or off)
        self.context_length = context_length  # per slot
        self.slots = slots  # concurrent generations llama.cpp decodes together (continuous batching)
        self.chat_template, self.bos_token, self.eos_token = info.chat_template, info.bos_token, info.eos_token
        self.eos_token_ids = frozenset()  # llama.cpp itself stops at end-of-generation tokens

    @classmethod
    def from_ref(cls, ref: ModelRef, *, threads: int | None = None, n_ctx: int | None = None,
                 parallel: int = 1, prompt_cache_mib: int | None = None,
                 speculation: Speculation = Speculation(), repack: bool = True,
                 device: str = "cpu") -> "LlamaCppEngine":
        if not available():
            raise EngineUnavailableError(MISSING)
        import xllamacpp as xlc

        layers = gpu_layers(device)

        info = GGUFInfo(ref.path, DEFAULT_MAX_CTX)
        path = info.path
        params = xlc.CommonParams()
        params.model.path = str(path)
        per_slot = info.n_ctx(n_ctx)
        params.n_parallel = max(1, parallel)  # slots: concurrent requests decoded as one batch
        params.n_ctx = per_slot * params.n_parallel  # llama.cpp splits n_ctx between the slots
        params.cache_ram_mib = budget = prompt_cache_budget(prompt_cache_mib, info, per_slot)
        # llama.cpp's server docs warn that cache_prompt may change results (batched vs one-token kernels): with
        # repacking off the Qwen Q4_K_M files answer the same with reuse as without, SmolLM2's Q4_1 file does not
        # (tests/test_prompt_reuse.py). Turning flash attention off did not fix the latter and broke the same
        # prompt sent twice (tests/test_serve_messages.py), so llama.cpp's default stays.
        params.n_threads_http = 1  # its local HTTP endpoint is only used to tokenise
        params.verbosity = -1  # llama.cpp's own logs stay quiet
        params.cpuparams.n_threads = params.cpuparams_batch.n_threads = threads or default_threads()
        params.n_gpu_layers = params.speculative.draft.n_gpu_layers = layers
        # Repacked weights (llama.cpp's "extra buffer types") are read by other kernels for one token than for a
        # batch, which round differently: off, greedy text is the same with speculation or without (tested).
        params.no_extra_bufts = not repack
        configure_speculation(params, speculation, params.cpuparams.n_threads)
        try:
            server = xlc.Server(params)
        except Exception as e:  # llama.cpp could not read the file
            raise LlmkitError(f"llama.cpp could not load {path}: {e}; check the file or try --engine torch.") from None
        _wait_until_serving(server)
        return cls(server, info, per_slot, params.n_parallel, reuse=budget > 0, speculation=speculation)

    def tokenize(self, text: str) -> list[int]:
        """llama.cpp's own tokeniser (special tokens such as <|im_start|> parsed; BOS added if the model wants it).
        xllamacpp exposes it only through the server's HTTP endpoint on 127.0.0.1."""
        body = json.dumps({"content": text, "add_special": True, "parse_special": True}).encode()
        request = urllib.request.Request(self.server.listening_address + "/tokenize", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())["tokens"]

    def generate(self, prompt_ids: list[int], options: Any, max_new_tokens: int) -> Iterator[Piece]:
        """Stream pieces from llama.cpp. Its server calls back on a thread of its own; a queue hands the chunks
        over, and once this generator is closed the next callback returns True, which cancels the request."""
        chunks: queue.SimpleQueue = queue.SimpleQueue()
        cancel = threading.Event()

        def on_chunk(chunk: dict[str, Any]) -> bool:
            chunks.put(chunk)
            return cancel.is_set()

        def work() -> None:
            try:
                body = request(prompt_ids, options, max_new_tokens, reuse=self.reuse)
                out = self.server.handle_completions(body, on_chunk)
                if isinstance(out, dict) and "error" in out:
                    chunks.put(out)
            except Exception as e:  # surfaced in the reader's thread
                chunks.put(e)
            finally:
                chunks.put(_DONE)

        worker = threading.Thread(target=work, name="llmkit-llamacpp", daemon=True)
        worker.start()
        try:
            yield from _pieces(chunks, options.logprobs, self.speculation.mode != "off")
        finally:
            cancel.set()
            worker.join()


def _wait_until_serving(server: Any, timeout: float = 300.0) -> None:
    """Return once llama.cpp's task loop runs. ``xlc.Server()`` returns when the model is loaded, but its loop
    thread may not have entered the loop yet; a server dropped in that window (an engine made and discarded at
    once, on a busy machine) hangs for ever in its destructor, because the loop's start undoes the stop request.
    ``GET /slots`` is answered by the loop itself, so an answer proves it runs."""
    try:
        with urllib.request.urlopen(server.listening_address + "/slots", timeout=timeout) as response:
            response.read()
    except Exception as e:
        raise LlmkitError(f"llama.cpp loaded the model but did not start serving it: {e}") from None


def prompt_cache_budget(mib: int | None, info: GGUFInfo, per_slot: int) -> int:
    """The host prompt cache's size in MiB (None: the default). A budget that cannot hold one full-context prompt
    would evict every prompt as it is stored, so reuse across conversations would silently never happen."""
    mib = PROMPT_CACHE_MIB if mib is None else mib
    if mib < 0:
        raise InputError(f"--prompt-cache-mib must be 0 (off) or more (got {mib}).")
    need = -(-per_slot * info.kv_bytes_per_token // 2**20)  # ceil: one slot's whole context
    if 0 < mib < need:
        raise InputError(f"--prompt-cache-mib {mib} cannot hold one prompt of {info.path.name} ({per_slot} tokens "
                         f"of KV cache = {need} MiB): give {need} or more, a smaller --context, or 0 to turn "
                         "prompt reuse off.")
    return mib


def request(prompt_ids: list[int], options: Any, max_new_tokens: int, reuse: bool = True) -> dict[str, Any]:
    """GenerationOptions as a llama.cpp completion request (temperature 0 is greedy; top_k 0 is off)."""
    out = {
        "prompt": prompt_ids,
        "max_tokens": max_new_tokens,
        "stream": True,
        "temperature": options.temperature,
        # greedy: top_k 1 spares llama.cpp's top-p step a sort of the whole vocabulary at every token
        "top_k": 1 if options.greedy else options.top_k,
        "top_p": options.top_p,
        "min_p": 0.0,  # llama.cpp's default 0.05 would differ from the other engines
        "repeat_penalty": options.repetition_penalty,
        "seed": int(options.seed or 0),
        # Stop strings are cut by the task layer, as for every engine (closing the stream stops llama.cpp at the
        # next token): llama.cpp would drop the string without saying which one matched, and Anthropic's API
        # reports it. Usage then counts the stop string's tokens, as OpenAI and Anthropic bill them.
        # n_probs: llama.cpp's server lists that many alternatives per token (OpenAI's top_logprobs)
        "n_probs": max(1, getattr(options, "top_logprobs", 0)) if options.logprobs else 0,
        # a chat's next turn reuses the KV cache of the shared prefix; llama.cpp compares tokens, so a prefix that
        # changed (an edited earlier message) is re-read from the first token that differs, never served stale
        "cache_prompt": reuse,
    }
    if getattr(options, "json_schema", None):
        out["grammar"] = json_grammar(options.json_schema)
    return out


def _pieces(chunks: queue.SimpleQueue, want_logprobs: bool, speculating: bool = False) -> Iterator[Piece]:
    counted = 0
    while (chunk := chunks.get()) is not _DONE:
        if isinstance(chunk, Exception):
            raise LlmkitError(f"llama.cpp failed: {chunk}") from chunk
        if "error" in chunk:
            message = chunk["error"].get("message", chunk["error"]) if isinstance(chunk["error"], dict) else chunk
            raise LlmkitError(f"llama.cpp refused the request: {message}")
        choice = chunk["choices"][0]
        content = (choice.get("logprobs") or {}).get("content") or []
        n = len(content) if want_logprobs else (1 if choice.get("text") else 0)
        lps = tuple(TokenLogprob(c["token"], float(c["logprob"]),
                                 tuple((a["token"], float(a["logprob"])) for a in c.get("top_logprobs") or ()))
                    for c in content)
        finish = choice.get("finish_reason")
        if finish:  # the last chunk carries exact usage; count any tokens the text chunks did not show
            n += max(0, chunk.get("usage", {}).get("completion_tokens", counted) - counted - n)
            finish = "length" if finish == "length" else "stop"
        counted += n
        drafted = (draft_counts(chunk) or (0, 0)) if finish and speculating else None
        yield Piece(choice.get("text") or "", n, lps, finish, drafted=drafted)
