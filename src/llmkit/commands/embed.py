"""llmkit embed: sentence embeddings, one JSON vector per text."""
from __future__ import annotations

from ._io import add_device_arguments, add_text_input_arguments, device_options, gather_texts, write_jsonl

HELP = "Embed texts as vectors (default: all-minilm-l6-v2, 384 dimensions)."
EXAMPLES = """\
  llmkit embed "a cat sat on the mat" --normalize
  llmkit embed --file docs.jsonl --output vectors.jsonl
  llmkit embed --similarity "I like tea" "Tea is my favourite drink"
"""


def add_arguments(p) -> None:
    add_text_input_arguments(p)
    add_model_arguments(p)
    p.add_argument("--similarity", action="store_true", help="print the cosine similarity matrix instead")
    p.add_argument("--json", action="store_true", help="(default) one JSON object a line")


def add_model_arguments(p) -> None:
    """The encoder and its options (shared with `llmkit batch embed`)."""
    p.add_argument("--model", "-m", default=None, help="catalog name, folder or hub id (default: all-minilm-l6-v2)")
    p.add_argument("--normalize", action="store_true", help="L2-normalise each vector")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--engine", default="auto", choices=["auto", "onnx-int8", "torch"])
    add_device_arguments(p)


def run(args) -> int:
    import numpy as np

    from ..pipelines import pipeline

    texts = gather_texts(args)
    emb = pipeline("sentence-embeddings", model=args.model, engine=args.engine, batch_size=args.batch_size,
                   **device_options(args))
    vectors = emb(texts, normalize=args.normalize or args.similarity)
    if args.similarity:
        sims = vectors @ vectors.T
        for i, row in enumerate(sims):
            print("\t".join(f"{v:.4f}" for v in row) + f"\t{texts[i][:50]}")
        return 0
    write_jsonl(({"index": i, "embedding": np.round(v, 6).tolist()} for i, v in enumerate(vectors)), args.output)
    return 0
