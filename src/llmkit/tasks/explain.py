"""Why a classifier said it: integrated gradients (Captum) over the input tokens, summed into words.

>>> from llmkit import pipeline
>>> clf = pipeline("text-classification")
>>> e = clf.explain("The coffee was stale and bitter.")[0]
>>> e.label, e.attributions[:2]
('NEGATIVE', [{'word': 'The', 'score': 0.01...}, {'word': 'coffee', 'score': -0.02...}])

Integrated gradients (Sundararajan et al. 2017, https://arxiv.org/abs/1703.01365) integrates the gradient of the
label's logit along a straight path from a baseline to the input, in the word-embedding space. The baseline is the
same text with every word token replaced by the padding token (special tokens such as [CLS]/[SEP] stay, so they get
exactly zero). Its defining property, completeness, is checked on every explanation: the token scores sum to
logit(text) - logit(baseline), and ``delta`` is how far they miss (the integral's numerical error). With
``COMPLETENESS_TOL`` we call an explanation complete when ``|delta| <= 0.05 * max(1, |logit difference|)``.

Gradients need the torch engine; a pipeline on the onnx-int8 engine keeps its labels and scores and loads the same
folder on torch for the explanation (``engine`` on the result says so).
"""
from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError
from ..textio import check_texts

COMPLETENESS_TOL = 0.05  # relative to max(1, |logit difference|); 50 Gauss-Legendre steps stay well inside it
N_STEPS = 50


@dataclass
class Explanation:
    """One text's explanation of ``label``: word scores (positive: pushes towards the label), token scores, and the
    completeness check (``delta`` = sum of token scores - ``logit_diff``)."""

    text: str
    label: str
    score: float
    attributions: list[dict[str, Any]]  # [{"word", "score"}], in text order
    tokens: list[dict[str, Any]] = field(default_factory=list)  # [{"token", "score"}], specials left out
    logit_diff: float = 0.0  # logit(text) - logit(baseline) for the label
    delta: float = 0.0
    engine: str = "torch"

    @property
    def complete(self) -> bool:
        return abs(self.delta) <= COMPLETENESS_TOL * max(1.0, abs(self.logit_diff))


def _torch_model(pipe):
    """``(forward(ids, mask) -> logits of the pipeline's head, word-embedding layer)`` on the torch engine. The model
    is the explainer's own (a copy when the pipeline runs on torch): Captum hooks the embedding layer while it
    integrates, and a server's batcher may be running the pipeline's model in another thread meanwhile."""
    import copy

    from ..engines.encoder import TorchBackend, default_threads

    if pipe.backend.name == "torch":
        backend = copy.copy(pipe.backend)
        for attr in ("hf_classifier", "model"):  # explanations run on the CPU, whatever --device the labels ran on
            if getattr(backend, attr, None) is not None:
                setattr(backend, attr, copy.deepcopy(getattr(backend, attr)).to("cpu"))
    else:
        print(f"llmkit: explaining on the torch engine (the {pipe.backend.name} engine has no gradients); labels "
              f"and scores still come from {pipe.backend.name}.", file=sys.stderr)
        backend = TorchBackend(pipe.ref, pipe.heads, pipe.options.threads or default_threads())
    if backend.hf_classifier is not None:
        model = backend.hf_classifier
        return (lambda ids, mask: model(input_ids=ids, attention_mask=mask).logits), model.get_input_embeddings()
    model, task = backend.model, pipe.task
    return (lambda ids, mask: model.task_head(model.encode(ids, mask), task)), model.body.get_input_embeddings()


def words_of(text: str, offsets: Sequence[tuple[int, int]], scores: Sequence[float],
             special: Sequence[int]) -> list[dict[str, Any]]:
    """Sum sub-word token scores into the whitespace-separated words of ``text`` (a token belongs to the word its
    first character is in; "isn't" and "bitter." stay one word each). Special tokens are left out."""
    spans, start = [], None
    for i, ch in enumerate(text + " "):
        if ch.isspace():
            if start is not None:
                spans.append((start, i))
            start = None
        elif start is None:
            start = i
    totals = [0.0] * len(spans)
    w = 0
    for (a, b), s, sp in zip(offsets, scores, special):
        if sp or b <= a:
            continue
        while w < len(spans) - 1 and a >= spans[w][1]:
            w += 1
        totals[w] += float(s)
    # words past max_length (truncated) got no token: they are left out rather than shown as neutral
    last = max((a for (a, b), sp in zip(offsets, special) if not sp and b > a), default=-1)
    return [{"word": text[a:b], "score": totals[i]} for i, (a, b) in enumerate(spans) if a <= last]


class Explainer:
    """Integrated gradients for one classification pipeline (built once, reused across calls)."""

    def __init__(self, pipe, n_steps: int = N_STEPS):
        try:
            from captum.attr import LayerIntegratedGradients
        except ImportError:
            raise InputError("--explain needs Captum: `pip install 'llmkit[explain]'`.") from None
        self.pipe, self.n_steps = pipe, n_steps
        forward, embeddings = _torch_model(pipe)
        self.engine = "torch" if pipe.backend.name == "torch" else f"torch (labels from {pipe.backend.name})"
        self.lig = LayerIntegratedGradients(forward, embeddings)
        self.lock = threading.Lock()  # one integration at a time: the hook on the embedding layer is shared state

    def __call__(self, texts: Sequence[str], label: str | None = None,
                 ranked: Sequence[list[dict[str, Any]]] | None = None) -> list[Explanation]:
        """Explain ``label`` (default: each text's best label). ``ranked``: the pipeline's ``top_k=None`` output
        for ``texts`` when the caller has it already (the server's batcher), so the texts are not classified twice."""
        with self.lock:
            return self._explain(texts, label, ranked)

    def _explain(self, texts, label, ranked) -> list[Explanation]:
        import torch

        pipe = self.pipe
        if label is not None and label not in pipe.labels:
            raise InputError(f"label {label!r} is not one of {pipe.task}'s labels: {', '.join(pipe.labels)}.")
        texts = check_texts(list(texts))
        ranked = ranked if ranked is not None else pipe(texts, top_k=None)
        encs = pipe.tokenizer.tok.encode_batch(texts)
        out = []
        for text, enc, labels in zip(texts, encs, ranked):
            chosen = label or labels[0]["label"]
            target = pipe.labels.index(chosen) if pipe.head_type != "regression" else 0
            ids = torch.tensor([enc.ids], dtype=torch.long)
            special = torch.tensor([enc.special_tokens_mask], dtype=torch.bool)
            base = torch.where(special, ids, torch.full_like(ids, pipe.tokenizer.pad_id))
            mask = torch.ones_like(ids)
            with torch.enable_grad():
                attr, delta = self.lig.attribute(ids, baselines=base, target=target, additional_forward_args=(mask,),
                                                 n_steps=self.n_steps, internal_batch_size=self.n_steps,
                                                 return_convergence_delta=True)
            scores = attr.sum(-1)[0].detach().double().numpy()
            delta = float(delta[0])
            tokens = [{"token": t, "score": float(s)} for t, s, sp in zip(enc.tokens, scores, enc.special_tokens_mask)
                      if not sp]
            score = next(r["score"] for r in labels if r["label"] == chosen)
            out.append(Explanation(text, chosen, score, words_of(text, enc.offsets, scores, enc.special_tokens_mask),
                                   tokens, float(scores.sum()) - delta, delta, self.engine))
        return out


def render(attributions: Sequence[dict[str, Any]], color: bool, share: float = 0.1) -> str:
    """The text with its words marked by attribution: ANSI green (towards the label) / red (against), brighter
    when stronger, with ``color``; else plain ``[+word]`` / ``[-word]`` markers. Words under ``share`` of the
    text's largest |score| stay unmarked, so the markers point at what mattered."""
    top = max((abs(a["score"]) for a in attributions), default=0.0) or 1.0
    parts = []
    for a in attributions:
        strength = abs(a["score"]) / top
        if strength < share:
            parts.append(a["word"])
        elif color:
            code = (32 if a["score"] > 0 else 31) + (60 if strength >= 0.5 else 0)  # 9x: bright for the strongest
            parts.append(f"\033[{'1;' if strength >= 0.5 else ''}{code}m{a['word']}\033[0m")
        else:
            parts.append(f"[{'+' if a['score'] > 0 else '-'}{a['word']}]")
    return " ".join(parts)
