"""Models llmkit makes itself, with the same training code users run (``llmkit finetune``)."""
from __future__ import annotations

from pathlib import Path

from .config import TrainConfig
from .finetune import finetune

SENTIMENT_LABELS = {"great": "POSITIVE", "other": "NEGATIVE"}


def build_sentiment(target: Path, *, progress: bool = True) -> Path:
    """The default English sentiment model: all-minilm-l6-v2 fine-tuned on the built-in fine-food reviews.

    Model selection uses 10% of the training split; the test split is never seen. Then the int8 ONNX export
    for fast CPU inference is added to the folder.
    """
    print("llmkit: making the default sentiment model once (fine-tuning all-minilm-l6-v2 on fine_food_reviews)...")
    cfg = TrainConfig(epochs=1, lr=1e-4, batch_size=16, max_length=128, warmup=0.06, seed=13, eval_every=75)
    out = finetune("all-minilm-l6-v2", "fine_food_reviews", output=target, config=cfg, task="sentiment",
                   eval_split=0.1, label_names=SENTIMENT_LABELS, progress=progress,
                   extra_manifest={"description": "English sentiment, POSITIVE / NEGATIVE"})
    try:
        from ..engines.onnx_encoder import export_int8

        export_int8(out)
    except ImportError:  # onnxruntime not installed: torch serves it
        pass
    return out
