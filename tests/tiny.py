"""Tiny random models built from configs: no downloads, seconds to train."""
from __future__ import annotations

import re
from pathlib import Path

WORDS = ("good great love tasty fresh delicious excellent bad awful stale bitter terrible the a it is was this "
         "not very and but coffee tea snack box price taste").split()


def make_tiny_encoder(folder: Path, texts: list[str] | None = None) -> Path:
    """A 2-layer, 32-wide BERT with a WordPiece tokenizer over WORDS (+ words of ``texts``), saved as safetensors."""
    import torch
    from transformers import BertConfig, BertModel

    folder.mkdir(parents=True, exist_ok=True)
    words = set(WORDS)
    for t in texts or []:
        words.update(re.findall(r"[a-z]+", t.lower()))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(words)]
    _tokenizer(vocab).save_pretrained(str(folder))
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128)
    BertModel(cfg).save_pretrained(str(folder), safe_serialization=True)
    return folder


def toy_sentiment(n: int = 200, seed: int = 0) -> list[dict]:
    """A separable toy task: positive words vs negative words."""
    import random

    rng = random.Random(seed)
    pos, neg = ["good", "great", "love", "tasty", "fresh"], ["bad", "awful", "stale", "bitter", "terrible"]
    rows = []
    for i in range(n):
        label = "POSITIVE" if i % 2 else "NEGATIVE"
        words = rng.sample(pos if label == "POSITIVE" else neg, 2) + rng.sample(["the", "coffee", "tea", "snack", "was"], 2)
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "label": label})
    return rows


def _tokenizer(vocab: list[str]):
    """A BERT-style WordPiece tokenizer over ``vocab``, as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(WordPiece({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")


CTC_VOCAB = ["<pad>", "<unk>", "|", *"ABCDEFGHIJKLMNOPQRSTUVWXYZ'"]


def make_tiny_ctc(folder: Path, arch: str = "wav2vec2") -> Path:
    """A 2-layer, 32-wide wav2vec2 (or HuBERT) CTC model with a letter vocabulary, random weights, safetensors."""
    import json

    import torch
    from transformers import (HubertConfig, HubertForCTC, Wav2Vec2Config, Wav2Vec2CTCTokenizer,
                              Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC, Wav2Vec2Processor)

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(CTC_VOCAB)}))
    tokenizer = Wav2Vec2CTCTokenizer(str(folder / "vocab.json"), unk_token="<unk>", pad_token="<pad>",
                                     word_delimiter_token="|")
    extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0,
                                         do_normalize=True, return_attention_mask=False)
    Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(str(folder))
    torch.manual_seed(0)
    Config, Model = (HubertConfig, HubertForCTC) if arch == "hubert" else (Wav2Vec2Config, Wav2Vec2ForCTC)
    cfg = Config(vocab_size=len(CTC_VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=37, conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
                 pad_token_id=0, ctc_loss_reduction="mean")
    Model(cfg).save_pretrained(str(folder), safe_serialization=True)
    return folder
