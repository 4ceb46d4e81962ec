"""CTC speech models (wav2vec2, HuBERT, WavLM ``*ForCTC``) on transformers: a second family beside Whisper.

Greedy CTC decoding (argmax per frame, repeats collapsed, blanks dropped), so every character has the frame it
was emitted on: words get times from their frames, and segments break at pauses (a run of blank or word-break
frames longer than ``PAUSE`` seconds). Long audio runs in ``CHUNK``-second windows with ``STRIDE`` seconds of
context on each side whose frames are dropped (transformers' chunking scheme), so memory stays flat and every
frame is decoded with context.

No registry package ships CTC weights today: a local folder (``config.json`` + safetensors + the CTC tokenizer's
``vocab.json``) or a hub id such as ``facebook/wav2vec2-base-960h`` (when online) works. English CTC models emit
upper-case letters without punctuation; the text is given as the model writes it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import EngineUnavailableError, InputError
from ..hub import ModelRef
from .speech import RawInfo

SAMPLE_RATE = 16_000
CHUNK, STRIDE = 20.0, 2.0  # seconds per window, and the context on each side that is decoded but dropped
PAUSE = 0.5  # seconds of silence (blank / word-break frames) that end a segment


@dataclass(frozen=True)
class RawWord:
    start: float
    end: float
    word: str
    probability: float


@dataclass(frozen=True)
class RawSegment:
    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float = 0.0
    compression_ratio: float = 0.0
    words: tuple[RawWord, ...] = ()


def is_ctc(path: Path) -> bool:
    import json

    config = path / "config.json"
    if not config.exists():
        return False
    archs = json.loads(config.read_text()).get("architectures") or []
    return any(a.endswith("ForCTC") for a in archs)


class CTCSpeech:
    """The ``SpeechEngine`` contract over a transformers ``*ForCTC`` folder."""

    name = "ctc"

    def __init__(self, model: Any, processor: Any, threads: int = 0):
        self.model, self.processor = model, processor
        tok = processor.tokenizer
        self.blank = tok.pad_token_id
        self.delimiter = tok.convert_tokens_to_ids(getattr(tok, "word_delimiter_token", "|") or "|")
        self.vocab = {i: t for t, i in tok.get_vocab().items()}
        self.frame_s = model.config.inputs_to_logits_ratio / SAMPLE_RATE
        self.threads = threads

    @classmethod
    def from_ref(cls, ref: ModelRef, options: Any = None) -> "CTCSpeech":
        try:
            import torch  # noqa: F401
            from transformers import AutoModelForCTC, AutoProcessor
        except ImportError:
            raise EngineUnavailableError("CTC speech models need transformers: `pip install 'llmkit[torch]'`.") from None
        from ..devices import resolve_torch

        device = resolve_torch(getattr(options, "device", "cpu"))
        processor = AutoProcessor.from_pretrained(str(ref.path))
        model = AutoModelForCTC.from_pretrained(str(ref.path), use_safetensors=True).eval().to(device)
        return cls(model, processor, getattr(options, "cpu_threads", 0) or 0)

    def transcribe(self, audio: np.ndarray, options: Any) -> tuple[RawInfo, Iterator[RawSegment]]:
        if options.task == "translate":
            raise InputError("CTC models transcribe only; translating needs a multilingual Whisper (whisper-base).")
        ids, logprobs = self.frames(audio)
        language = options.language if options.language not in (None, "auto") else "en"
        duration = len(audio) / SAMPLE_RATE
        return RawInfo(language, 1.0, duration), iter(self.segments(ids, logprobs, duration))

    def detect_language(self, audio: np.ndarray) -> tuple[str, float, list[tuple[str, float]]]:
        raise EngineUnavailableError("CTC models do not detect languages; use a multilingual Whisper (whisper-base).")

    # -- decoding ---------------------------------------------------------------------------------------------

    def frames(self, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The best token id and its log-probability for every frame of ``audio``, chunk by chunk."""
        import torch

        if self.threads:
            torch.set_num_threads(self.threads)
        ratio = self.model.config.inputs_to_logits_ratio
        chunk, stride = int(CHUNK * SAMPLE_RATE), int(STRIDE * SAMPLE_RATE)
        ids, lps = [], []
        for start in range(0, max(len(audio), 1), chunk):
            lo, hi = max(0, start - stride), min(len(audio), start + chunk + stride)
            window = audio[lo:hi]
            inputs = self.processor.feature_extractor(window, sampling_rate=SAMPLE_RATE, return_tensors="pt")
            with torch.inference_mode():
                logits = self.model(inputs.input_values.to(self.model.device)).logits[0]
            logp = torch.log_softmax(logits.float().cpu(), dim=-1)
            best, best_id = logp.max(dim=-1)
            keep_from = (start - lo) // ratio  # drop the frames of the context on each side
            keep_to = keep_from + -(-(min(start + chunk, len(audio)) - start) // ratio)
            ids.append(best_id[keep_from:keep_to].numpy())
            lps.append(best[keep_from:keep_to].numpy())
        return np.concatenate(ids), np.concatenate(lps)

    def segments(self, ids: np.ndarray, logprobs: np.ndarray, duration: float) -> list[RawSegment]:
        """Greedy CTC: collapse repeats, drop blanks; words and pause-separated segments with frame times."""
        words = self.words(ids, logprobs, duration)
        out: list[RawSegment] = []
        group: list[RawWord] = []
        for w in words:
            if group and w.start - group[-1].end > PAUSE:
                out.append(_segment(group))
                group = []
            group.append(w)
        if group:
            out.append(_segment(group))
        return out

    def words(self, ids: np.ndarray, logprobs: np.ndarray, duration: float) -> list[RawWord]:
        words: list[RawWord] = []
        chars: list[str] = []
        start = end = 0.0
        probs: list[float] = []
        prev = None
        for frame, (tok, lp) in enumerate(zip(ids.tolist(), logprobs.tolist())):
            emitted = tok != prev and tok != self.blank
            prev = tok
            if not emitted:
                continue
            if tok == self.delimiter:
                if chars:
                    words.append(_word(chars, start, end, probs, duration))
                chars, probs = [], []
                continue
            if not chars:
                start = frame * self.frame_s
            chars.append(self.vocab.get(tok, ""))
            probs.append(float(np.exp(lp)))
            end = (frame + 1) * self.frame_s
        if chars:
            words.append(_word(chars, start, end, probs, duration))
        return words


def _word(chars: list[str], start: float, end: float, probs: list[float], duration: float) -> RawWord:
    text = "".join(chars).replace("<unk>", "")
    return RawWord(round(min(start, duration), 3), round(min(end, duration), 3), " " + text, float(np.mean(probs)))


def _segment(words: list[RawWord]) -> RawSegment:
    probs = np.clip([w.probability for w in words], 1e-9, 1.0)
    return RawSegment(words[0].start, words[-1].end, "".join(w.word for w in words).strip(),
                      float(np.mean(np.log(probs))), words=tuple(words))
