"""Audio in: any file PyAV can open (wav, flac, mp3, ogg, m4a, webm, ...), bytes, or a numpy array, to the
16 kHz mono float32 array Whisper expects. Decoding is in-process (PyAV bundles FFmpeg's libraries): no
``ffmpeg`` binary is needed.

>>> from llmkit.audio import load_audio
>>> x = load_audio("talk.flac", max_duration=3600)   # doctest: +SKIP
>>> x.dtype, x.ndim
(dtype('float32'), 1)

Every problem a user can cause (a missing, empty, truncated or non-audio file; a file longer than
``max_duration``) raises ``InputError`` with one line that names the file and the fix (``AudioTooLongError``
for the last, so a caller such as the server can name its own limit).

``max_duration`` also bounds memory: decoding stops as soon as it passes the limit, whatever the container's
header claims, so a small low-bitrate file that would decode to gigabytes (a decompression bomb) costs at most
``max_duration`` seconds of samples.
"""
from __future__ import annotations

import io
import os
import struct
from pathlib import Path
from typing import Any, Union

import numpy as np

from .errors import EngineUnavailableError, InputError

SAMPLE_RATE = 16_000
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".mp4", ".webm", ".aac", ".wma",
                    ".aiff", ".aif", ".mkv", ".mov")

AudioInput = Union[str, os.PathLike, bytes, bytearray, np.ndarray, tuple]


def load_audio(source: AudioInput, *, max_duration: float | None = None, name: str | None = None) -> np.ndarray:
    """Decode ``source`` to 16 kHz mono float32.

    ``source`` is a path, the bytes of an audio file, a 1-D float array already at 16 kHz, or a tuple
    ``(array, sample_rate)`` (array shaped ``(samples,)`` or ``(samples, channels)``).
    """
    if isinstance(source, np.ndarray):
        audio = _from_array(source, SAMPLE_RATE, name or "the array")
    elif isinstance(source, tuple):
        if len(source) != 2:
            raise InputError("an audio tuple must be (array, sample_rate).")
        audio = _from_array(np.asarray(source[0]), int(source[1]), name or "the array")
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        label = name or "the audio bytes"
        if not data:
            raise InputError(f"{label} are empty (0 bytes): pass the contents of an audio file.")
        _check_wav_header(data[:64 * 1024], len(data), label)
        audio = _decode(io.BytesIO(data), label, max_duration)
    elif isinstance(source, (str, os.PathLike)):
        audio = _from_path(Path(source), max_duration)
    else:
        raise InputError(f"cannot read audio from a {type(source).__name__}: give a path, bytes or a numpy array.")
    _check_duration(len(audio) / SAMPLE_RATE, max_duration, name or _label(source))
    return audio


class AudioTooLongError(InputError):
    """Longer than ``max_duration``; ``seconds`` is its length, or a lower bound when ``partial`` (decoding
    stopped at the limit)."""

    def __init__(self, label: str, seconds: float, max_duration: float, partial: bool = False):
        self.seconds, self.max_duration, self.partial = seconds, max_duration, partial
        length = f"over {max_duration:g} s" if partial else f"{seconds:.0f} s"
        super().__init__(f"{label} is {length} long, over the --max-duration of {max_duration:g} s; "
                         "raise --max-duration or split the file.")


def duration_of(audio: np.ndarray) -> float:
    return len(audio) / SAMPLE_RATE


def is_audio_path(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_EXTENSIONS


# ---------------------------------------------------------------------------------------------- sources

def _label(source: Any) -> str:
    return str(source) if isinstance(source, (str, os.PathLike)) else "the audio"


def _from_path(path: Path, max_duration: float | None) -> np.ndarray:
    if not path.exists():
        raise InputError(f"{path}: no such file; check the path.")
    if path.is_dir():
        raise InputError(f"{path} is a folder: give an audio file (the CLI accepts folders and reads the audio in them).")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{path} is empty (0 bytes): give a recording with sound in it.")
    with open(path, "rb") as f:
        _check_wav_header(f.read(64 * 1024), size, str(path))
    return _decode(str(path), str(path), max_duration)


def _from_array(array: np.ndarray, rate: int, label: str) -> np.ndarray:
    if array.size == 0:
        raise InputError(f"{label} has no samples.")
    if array.ndim == 2:  # (samples, channels), as soundfile returns; transpose (channels, samples) if obvious
        array = array.T if array.shape[0] < array.shape[1] and array.shape[0] <= 8 else array
        array = array.mean(axis=1)
    if array.ndim != 1:
        raise InputError(f"{label} must be 1-D (samples) or 2-D (samples, channels), not shaped {array.shape}.")
    if np.issubdtype(array.dtype, np.integer):
        array = array.astype(np.float32) / float(np.iinfo(array.dtype).max + 1)
    array = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(array).all():
        raise InputError(f"{label} contains NaN or infinite samples.")
    if rate != SAMPLE_RATE:
        array = _resample(array, rate)
    return array


def _resample(array: np.ndarray, rate: int) -> np.ndarray:
    """Band-limited resampling through FFmpeg's swresample (what a file goes through too)."""
    av = _av()
    frame = av.AudioFrame.from_ndarray(array[None, :], format="flt", layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    out = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    out += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(out) if out else np.zeros(0, np.float32)


# ---------------------------------------------------------------------------------------------- decoding

def _av():
    try:
        import av
    except ImportError as e:
        raise EngineUnavailableError("decoding audio needs PyAV: `pip install 'llmkit[asr]'`.") from e
    return av


def _decode(file: Any, label: str, max_duration: float | None) -> np.ndarray:
    av = _av()
    try:
        container = av.open(file, metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as e:
        raise InputError(f"{label} is not an audio file FFmpeg can read ({_reason(e)}); give wav, flac, mp3, "
                         "ogg, m4a or webm.") from None
    with container:
        if not container.streams.audio:
            raise InputError(f"{label} has no audio stream; give a file with sound in it.")
        stream = container.streams.audio[0]
        if container.duration and max_duration is not None:  # reject before decoding an hour of audio
            _check_duration(container.duration / 1_000_000, max_duration, label)
        audio = _decode_stream(av, container, stream, label, max_duration)
    if audio.size == 0:
        raise InputError(f"{label} holds no audio samples (an empty or broken recording).")
    return audio


def _decode_stream(av, container, stream, label: str, max_duration: float | None) -> np.ndarray:
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    limit = None if max_duration is None else int(max_duration * SAMPLE_RATE) + SAMPLE_RATE
    chunks: list[np.ndarray] = []
    total = 0
    try:
        for frame in container.decode(stream):
            frame.pts = None  # let the resampler count samples itself (some containers have gaps in pts)
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
                total += chunks[-1].size
            if limit is not None and total > limit:  # stop here: the rest is never decoded
                raise AudioTooLongError(label, total / SAMPLE_RATE, max_duration, partial=True)
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    except av.error.FFmpegError as e:
        raise InputError(f"{label} is truncated or corrupt: decoding failed after {total / SAMPLE_RATE:.1f} s "
                         f"({_reason(e)}); re-export or re-download it.") from None
    return np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros(0, np.float32)


def _reason(e: Exception) -> str:
    return getattr(e, "strerror", None) or str(e) or type(e).__name__


def _check_duration(seconds: float, max_duration: float | None, label: str) -> None:
    if max_duration is not None and seconds > max_duration:
        raise AudioTooLongError(label, seconds, max_duration)


def _check_wav_header(head: bytes, size: int, label: str) -> None:
    """FFmpeg reads a cut-off WAV silently (it trusts the file size); the RIFF header says how long it should be."""
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
        return
    endian = "<" if head[:4] == b"RIFF" else ">"
    pos = 12
    while pos + 8 <= len(head):
        chunk_id = head[pos:pos + 4]
        (chunk_size,) = struct.unpack(endian + "I", head[pos + 4:pos + 8])
        if chunk_id == b"data":
            if chunk_size in (0, 0xFFFFFFFF):  # streaming writers leave the size unset: nothing to check
                return
            missing = pos + 8 + chunk_size - size
            if missing > 0:
                raise InputError(f"{label} is truncated: its header promises {chunk_size} bytes of audio but "
                                 f"{missing} are missing; re-export or re-download it.")
            return
        pos += 8 + chunk_size + (chunk_size & 1)
    if size < 44:
        raise InputError(f"{label} is truncated: a WAV header with no audio data.")
