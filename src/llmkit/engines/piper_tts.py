"""Text-to-speech on Piper (VITS voices exported to ONNX, phonemised by espeak-ng; ``piper-tts`` on PyPI).

A voice folder holds ``<voice>.onnx`` and ``<voice>.onnx.json``. The engine speaks one sentence at a time
(Piper's own unit), so a caller can play or send the first sentence while the rest is being made.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import EngineUnavailableError, InputError, ModelNotFoundError
from ..hub import ModelRef

MISSING = "text-to-speech needs Piper: `pip install 'llmkit[tts]'`."


def voice_files(folder: Path) -> tuple[Path, Path]:
    """The (model, config) pair in a Piper voice folder (or the pair named by a path to the .onnx file)."""
    model = folder if folder.suffix == ".onnx" else next(iter(sorted(folder.glob("*.onnx"))), None)
    if model is None or not Path(f"{model}.json").exists():
        raise ModelNotFoundError(f"{folder} is not a Piper voice: it needs VOICE.onnx and VOICE.onnx.json.")
    return model, Path(f"{model}.json")


class PiperEngine:
    name = "piper"

    def __init__(self, voice, model_path: Path):
        self._voice = voice
        self.model_path = model_path
        self.sample_rate: int = voice.config.sample_rate
        self.speakers: dict[str, int] = dict(voice.config.speaker_id_map or {})

    @classmethod
    def from_ref(cls, ref: ModelRef, threads: int | None = None) -> "PiperEngine":
        try:
            import onnxruntime
            from piper import PiperVoice
            from piper.config import PiperConfig
        except ImportError:
            raise EngineUnavailableError(MISSING) from None
        model, config = voice_files(ref.path)
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        # PiperVoice.load would do the same with ORT's default thread count; building it here sets ours.
        session = onnxruntime.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
        voice = PiperVoice(config=PiperConfig.from_dict(json.loads(config.read_text(encoding="utf-8"))),
                           session=session)
        return cls(voice, model)

    def synthesize(self, text: str, *, speed: float = 1.0, speaker: str | None = None) -> Iterator[np.ndarray]:
        """float32 mono chunks in [-1, 1] at ``sample_rate``, one per sentence, each made when asked for."""
        from piper import SynthesisConfig

        speaker_id = None
        if speaker is not None and self.speakers:
            if speaker not in self.speakers:
                raise InputError(f"unknown speaker {speaker!r}; this voice has: {', '.join(self.speakers)}.")
            speaker_id = self.speakers[speaker]
        # Piper's length_scale stretches every phoneme: 2.0 speaks at half speed.
        config = SynthesisConfig(speaker_id=speaker_id, length_scale=self._voice.config.length_scale / speed)
        for chunk in self._voice.synthesize(text, syn_config=config):
            yield chunk.audio_float_array
