"""Causal language models on transformers/torch: the reference engine for text generation (and training's).

It loads a transformers folder (safetensors only) or a GGUF file. transformers dequantises GGUF to fp32, which
takes ~17 s for SmolLM2-135M, so the result is cached once as safetensors under
``LLMKIT_HOME/cache/<name>-hf/`` (written to a temp folder, then renamed) and later loads take about a second.

Building from a config is separate from loading weights, so tests make tiny random models:

>>> from transformers import LlamaConfig, LlamaForCausalLM
>>> engine = TorchCausalEngine(LlamaForCausalLM(LlamaConfig(num_hidden_layers=2, hidden_size=64, ...)), tok)
"""
from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from ..errors import EngineUnavailableError
from ..hub import ModelRef, home
from .decoding import Detokenizer, Piece, TokenLogprob

MISSING = "the torch engine is not installed; install it with `pip install 'llmkit[torch]'`."


class TorchCausalEngine:
    name = "torch"

    def __init__(self, model: Any, tokenizer: Any, *, n_ctx: int | None = None, threads: int | None = None,
                 device: str = "cpu"):
        import torch

        if threads:
            torch.set_num_threads(threads)
        self.device = device  # a resolved one (llmkit.devices.resolve_torch): cpu, cuda or mps
        self.model = model.eval().to(device)
        self._cache_arg: str | None = None
        self._keep_arg: str | None = None
        self.tokenizer = tokenizer
        config_ctx = getattr(model.config, "max_position_embeddings", None) or 2048
        self.context_length = min(n_ctx or config_ctx, config_ctx)
        self.chat_template = getattr(tokenizer, "chat_template", None)
        self.bos_token = tokenizer.bos_token or ""
        self.eos_token = tokenizer.eos_token or ""
        eos = model.generation_config.eos_token_id if model.generation_config else None
        eos = eos if isinstance(eos, list) else [eos]
        self.eos_token_ids = frozenset(i for i in [*eos, tokenizer.eos_token_id] if i is not None)

    @classmethod
    def from_ref(cls, ref: ModelRef, *, threads: int | None = None, n_ctx: int | None = None,
                 device: str = "cpu") -> "TorchCausalEngine":
        from ..devices import resolve_torch

        device = resolve_torch(device)  # before the (slow) load
        try:
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError:
            raise EngineUnavailableError(MISSING) from None
        folder = gguf_as_transformers(ref) if ref.format == "gguf" else ref.path
        model = AutoModelForCausalLM.from_pretrained(folder, dtype="float32", use_safetensors=True)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        return cls(model, tokenizer, n_ctx=n_ctx, threads=threads, device=device)

    def tokenize(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=True)["input_ids"]

    def detokenize(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def generate(self, prompt_ids: list[int], options: Any, max_new_tokens: int) -> Iterator[Piece]:
        """Yield text pieces, one per token; stops at an end-of-turn token or ``max_new_tokens``."""
        detok = Detokenizer(self.detokenize)
        n = 0
        for n, (token, logprob) in enumerate(self.generate_ids(prompt_ids, options, max_new_tokens), 1):
            if token in self.eos_token_ids:
                yield Piece(detok.flush(), 1, finish_reason="stop")
                return
            lps = ()
            if logprob is not None:
                top = tuple((self.detokenize([i]), lp) for i, lp in logprob[1])
                lps = (TokenLogprob(self.detokenize([token]), logprob[0], top),)
            text = detok.add(token)
            if n == max_new_tokens:
                yield Piece(text + detok.flush(), 1, lps, finish_reason="length")
                return
            yield Piece(text, 1, lps)
        if n == 0:
            yield Piece("", 0, finish_reason="length")

    def generate_ids(self, prompt_ids: list[int], options: Any, max_new_tokens: int
                     ) -> Iterator[tuple[int, tuple[float, list[tuple[int, float]]] | None]]:
        """Yield (token id, (log-prob, the top_logprobs likeliest (id, log-prob)) or None) one at a time, reusing
        the KV cache; closing the generator stops it."""
        import torch

        generator = torch.Generator().manual_seed(options.seed or 0)
        seen = torch.tensor(prompt_ids, dtype=torch.long)
        inputs, cache = seen[None, :], None
        with torch.inference_mode():
            for _ in range(max_new_tokens):
                out = self.model(input_ids=inputs.to(self.device), use_cache=True, **self._cache_kwargs(cache))
                # sampling stays on the CPU, with the CPU generator: the same seed picks the same tokens anywhere
                cache, logits = self._cache_of(out), out.logits[0, -1].float().cpu()
                token = sample(logits, seen, options, generator)
                logprob = None
                if options.logprobs:
                    lsm = torch.log_softmax(logits, -1)
                    k = getattr(options, "top_logprobs", 0)
                    best = torch.topk(lsm, k) if k else None
                    top = list(zip(best.indices.tolist(), best.values.tolist())) if best is not None else []
                    logprob = (float(lsm[token]), top)
                yield token, logprob
                seen = torch.cat([seen, torch.tensor([token])])
                inputs = torch.tensor([[token]])

    def _cache_kwargs(self, cache: Any) -> dict[str, Any]:
        """transformers 5 renamed ``past_key_values`` to ``cache``; speak whichever this version knows."""
        if self._cache_arg is None:
            params = inspect.signature(self.model.forward).parameters
            self._cache_arg = "cache" if "cache" in params else "past_key_values"
            self._keep_arg = "logits_to_keep" if "logits_to_keep" in params else None
        kwargs = {self._cache_arg: cache}
        if self._keep_arg:  # only the last position's logits: a 49k-wide vocabulary makes the rest costly
            kwargs[self._keep_arg] = 1
        return kwargs

    @staticmethod
    def _cache_of(out: Any) -> Any:
        return out.cache if getattr(out, "cache", None) is not None else out.past_key_values


def sample(logits: Any, seen: Any, options: Any, generator: Any) -> int:
    """One token from ``logits``: repetition penalty (CTRL, arxiv.org/abs/1909.05858), then greedy or
    temperature + top-k + top-p (nucleus) sampling, the order transformers uses."""
    import torch

    if options.repetition_penalty != 1.0 and len(seen):
        logits = logits.clone()
        prev = logits[seen]
        logits[seen] = torch.where(prev > 0, prev / options.repetition_penalty, prev * options.repetition_penalty)
    if options.greedy:
        return int(torch.argmax(logits))
    logits = logits / options.temperature
    if 0 < options.top_k < logits.numel():
        kth = torch.topk(logits, options.top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if options.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True)
        cumulative = torch.softmax(sorted_logits, -1).cumsum(-1)
        drop = cumulative - torch.softmax(sorted_logits, -1) >= options.top_p  # keep the token that crosses top_p
        logits = logits.masked_fill(torch.zeros_like(drop).scatter(0, order, drop), float("-inf"))
    return int(torch.multinomial(torch.softmax(logits, -1), 1, generator=generator))


def save_dequantised(model: Any, folder: Path) -> None:
    """Save a GGUF-loaded model as a plain fp32 transformers folder. transformers marks such models as quantised
    and refuses ``save_pretrained``, although the weights are already dequantised; so write them directly."""
    from safetensors.torch import save_model

    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.save_pretrained(folder)
    if model.generation_config is not None:
        model.generation_config.save_pretrained(folder)
    save_model(model, str(folder / "model.safetensors"), metadata={"format": "pt"})  # handles tied weights


def gguf_as_transformers(ref: ModelRef) -> Path:
    """A transformers folder with the GGUF's weights dequantised, cached under LLMKIT_HOME/cache/<name>-hf/."""
    source = Path(ref.path)
    gguf = source if source.is_file() else next(iter(sorted(source.glob("*.gguf"))))
    stat = gguf.stat()
    stamp = {"source": str(gguf.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", ref.name if ref.entry else gguf.stem).strip("-")
    target = home() / "cache" / f"{slug}-hf"
    marker = target / "llmkit-source.json"
    if marker.exists() and json.loads(marker.read_text()) == stamp:
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{slug}-"))
    try:
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype="float32")
        save_dequantised(model, tmp)
        AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(tmp)
        (tmp / "llmkit-source.json").write_text(json.dumps(stamp))
        tmp.chmod(0o755)  # mkdtemp makes it private
        if target.exists():  # a stale cache (the GGUF changed): replace it
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished first; theirs is as good as ours
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
