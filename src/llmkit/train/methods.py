"""Fine-tuning methods: full (every weight), head (frozen body), lora (PEFT low-rank adapters on the body).

LoRA adapters are merged into the body before saving, so the saved folder is a plain model that every engine
(torch, int8 ONNX) loads with no PEFT at inference time.
"""
from __future__ import annotations

from ..errors import EngineUnavailableError
from ..modeling import TextModel
from .config import TrainConfig


def apply_method(model: TextModel, cfg: TrainConfig) -> TextModel:
    if cfg.method == "head":
        for p in model.body.parameters():
            p.requires_grad_(False)
    elif cfg.method == "lora":
        try:
            from peft import LoraConfig, get_peft_model
        except ImportError:
            raise EngineUnavailableError("--method lora needs PEFT: `pip install 'llmkit[train]'`.") from None
        lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=0.05, target_modules="all-linear")
        model.body = get_peft_model(model.body, lora)
    return model


def finalize_method(model: TextModel) -> TextModel:
    """Undo training-only wrappers before saving (merge LoRA into the body)."""
    if hasattr(model.body, "merge_and_unload"):
        model.body = model.body.merge_and_unload()
    for p in model.parameters():
        p.requires_grad_(True)
    return model
