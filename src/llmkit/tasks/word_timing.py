"""Word times snapped to where the speech is.

Whisper times words by aligning its cross-attention with the audio (dynamic time warping). After a silence, the
first word of a chunk is pulled back to the start of the chunk, which VAD pads by a few hundred milliseconds:
measured on speech placed at known times, first words started up to 0.36 s early, other words within 0.22 s.
stable-ts corrects this by suppressing silence; llmkit does the same, conservatively: a word's start moves forward
(and its end back) only across 20 ms frames that are silent (RMS under 5% of the clip's loud speech); a word is
never moved past its own span, and in noisy audio, where no frame counts as silent, nothing moves.
"""
from __future__ import annotations

import numpy as np

FRAME = 320  # 20 ms at 16 kHz
SILENT = 0.05  # a frame is silent under this fraction of the clip's 99th-percentile frame RMS
MIN_WORD = 0.04  # a snapped word keeps at least 40 ms


def silent_frames(samples: np.ndarray) -> np.ndarray:
    """One bool per 20 ms frame: True where the frame is silent."""
    n = len(samples) // FRAME
    if n == 0:
        return np.zeros(0, bool)
    rms = np.sqrt(np.mean(samples[: n * FRAME].reshape(n, FRAME).astype(np.float64) ** 2, axis=1))
    loud = np.percentile(rms, 99)
    return rms < SILENT * loud if loud > 0 else np.ones(n, bool)


def snap(start: float, end: float, silent: np.ndarray) -> tuple[float, float]:
    """(start, end) moved inward across the silent frames at their edges, keeping at least ``MIN_WORD``."""
    rate = 16000 / FRAME
    first, last = int(start * rate), min(int(np.ceil(end * rate)), len(silent)) - 1
    if first > last:
        return start, end
    a = first
    while a < last and silent[a]:
        a += 1
    b = last
    while b > a and silent[b]:
        b -= 1
    new_start = max(start, a / rate) if a > first else start
    new_end = min(end, (b + 1) / rate) if b < last else end
    if new_end - new_start < MIN_WORD:
        return start, end
    return round(new_start, 3), round(new_end, 3)
