"""GGUF models on llama.cpp through llama-cpp-python, when it is installed (``pip install llama-cpp-python``).

llmkit's default llama.cpp binding is xllamacpp (a prebuilt wheel, seconds to install; ``engines/llamacpp.py``).
llama-cpp-python has no CPU wheels on PyPI and compiles llama.cpp on the user's machine (10-35 minutes here), but
that build is native to the CPU and measured ~18% faster per token than the xllamacpp wheel on this machine
(BENCHMARKS.md, "Text generation"). So when a user has it, ``engine="auto"`` prefers it; ``engine="llamacpp"``
stays on xllamacpp and ``engine="llama-cpp-python"`` asks for this one.

The decode loop runs in the caller's thread: llama-cpp-python's ``Llama.generate`` evaluates and samples in C, one
token per step, reusing the KV cache of a prompt prefix it has seen (a chat's next turn). Text is made by
``engines.decoding.Detokenizer``, stop strings by the pipeline, as for the torch engine.
"""
from __future__ import annotations

import importlib.util
import threading
from typing import Any, Iterator

from ..errors import EngineUnavailableError, InputError, LlmkitError
from ..hub import ModelRef
from .decoding import Detokenizer, Piece, TokenLogprob
from .gguf_meta import GGUFInfo
from .llamacpp import DEFAULT_MAX_CTX, default_threads

NAME = "llama-cpp-python"
MISSING = ("llama-cpp-python is not installed: `pip install llama-cpp-python` (it compiles llama.cpp, 10+ minutes), "
           "or use --engine llamacpp.")


def available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def _close_devnull_at_exit() -> None:
    """llama-cpp-python opens two /dev/null files at import and never closes them, so every process that used it
    printed a ResourceWarning at exit; close them then (they silence llama.cpp's logs while the process runs)."""
    import atexit

    from llama_cpp import _utils

    for name in ("outnull_file", "errnull_file"):
        f = getattr(_utils, name, None)
        if f is not None and not getattr(f, "_llmkit_close", False):
            f._llmkit_close = True
            atexit.register(f.close)


class LlamaCppPythonEngine:
    name = NAME

    def __init__(self, llm: Any, info: GGUFInfo, reuse: bool = True):
        import llama_cpp

        self.reuse = reuse  # False (--prompt-cache-mib 0): every prompt is read from its first token
        self.llm = llm
        self._lib = llama_cpp
        self._vocab = llm._model.vocab
        self.context_length = llm.n_ctx()
        self.chat_template, self.bos_token, self.eos_token = info.chat_template, info.bos_token, info.eos_token
        self.eos_token_ids = frozenset()  # end-of-generation tokens are asked of llama.cpp itself (is_eog)
        self._busy = threading.Lock()  # one llama.cpp context: one generation at a time (the web app's users share it)

    @classmethod
    def from_ref(cls, ref: ModelRef, *, threads: int | None = None,
                 n_ctx: int | None = None, reuse: bool = True, device: str = "cpu") -> "LlamaCppPythonEngine":
        if not available():
            raise EngineUnavailableError(MISSING)
        import llama_cpp
        from llama_cpp import Llama

        from ..devices import check

        check(device)
        gpu = device != "cpu" and llama_cpp.llama_supports_gpu_offload()
        if device in ("cuda", "mps") and not gpu:
            raise InputError(f"--device {device}: this llama-cpp-python was built without a GPU backend; rebuild it "
                             "with CMAKE_ARGS=-DGGML_CUDA=on (or -DGGML_METAL=on), or use --device cpu.")

        _close_devnull_at_exit()
        info = GGUFInfo(ref.path, DEFAULT_MAX_CTX)
        path = info.path
        n = threads or default_threads()
        try:
            llm = Llama(model_path=str(path), n_ctx=info.n_ctx(n_ctx), n_threads=n, n_gpu_layers=-1 if gpu else 0,
                        n_threads_batch=n, verbose=False)
        except Exception as e:  # llama.cpp could not read the file
            raise LlmkitError(f"llama.cpp could not load {path}: {e}; check the file or try --engine torch.") from None
        return cls(llm, info, reuse)

    def tokenize(self, text: str) -> list[int]:
        """llama.cpp's tokeniser: special tokens parsed, BOS added if the model asks for it."""
        return self.llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)

    def detokenize(self, ids: list[int]) -> str:
        return self.llm.detokenize(ids).decode("utf-8", errors="replace")

    def generate(self, prompt_ids: list[int], options: Any, max_new_tokens: int) -> Iterator[Piece]:
        """Yield text pieces, one per token; stops at an end-of-generation token or ``max_new_tokens``.
        Closing the generator stops decoding (it runs in this thread)."""
        if not prompt_ids:
            raise LlmkitError("the prompt is empty after tokenising: give some text.")
        with self._busy:
            yield from self._generate(prompt_ids, options, max_new_tokens)

    def _generate(self, prompt_ids: list[int], options: Any, max_new_tokens: int) -> Iterator[Piece]:
        self._reuse_cache_only_to_extend(prompt_ids)
        self.llm.set_seed(int(options.seed or 0))
        tokens = self.llm.generate(
            prompt_ids,
            # greedy: temperature 0 is llama.cpp's greedy sampler (after the repetition penalty)
            temp=0.0 if options.greedy else options.temperature,
            top_k=options.top_k, top_p=options.top_p,
            min_p=0.0,  # llama.cpp's default 0.05 would differ from the other engines
            repeat_penalty=options.repetition_penalty, reset=True,
        )
        detok = Detokenizer(self.detokenize)
        n = 0
        try:
            for token in tokens:
                n += 1
                if self._lib.llama_vocab_is_eog(self._vocab, token):
                    yield Piece(detok.flush(), 1, finish_reason="stop")
                    return
                lps = (TokenLogprob(self.detokenize([token]), self._logprob(token)),) if options.logprobs else ()
                text = detok.add(token)
                if n >= max_new_tokens:
                    yield Piece(text + detok.flush(), 1, lps, finish_reason="length")
                    return
                yield Piece(text, 1, lps)
        finally:
            tokens.close()
        if n == 0:
            yield Piece("", 0, finish_reason="length")

    def _reuse_cache_only_to_extend(self, prompt_ids: list[int]) -> None:
        """llama-cpp-python reuses the KV cache of the longest shared prefix. For a chat's next turn that saves
        re-reading the history. But a prompt wholly inside the cache (the same request again) would have its last
        token re-read alone, whose logits differ in the last bits from the batched first read, so a seeded
        sample drifts; start such a prompt afresh, so the same request gives the same text."""
        llm = self.llm
        n = len(prompt_ids)
        if not self.reuse or (llm.n_tokens and n <= llm.n_tokens and llm.input_ids[:n].tolist() == list(prompt_ids)):
            llm.reset()

    def _logprob(self, token: int) -> float:
        """log-softmax of the raw logits the token was sampled from (the last row llama.cpp computed)."""
        import numpy as np

        n_vocab = self._lib.llama_vocab_n_tokens(self._vocab)
        logits = np.ctypeslib.as_array(self._lib.llama_get_logits_ith(self.llm._ctx.ctx, -1), shape=(n_vocab,))
        top = float(logits.max())
        return float(logits[token] - top - np.log(np.exp(logits - top).sum()))
