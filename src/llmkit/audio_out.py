"""Audio out: float32 mono chunks -> the bytes of wav, mp3, opus, aac, flac or raw pcm, chunk by chunk.

Streaming is the point: the server sends, and a player starts, the first sentence while later ones are still
being synthesised. wav and pcm are written by hand (a streamed wav header says "length unknown", as OpenAI's does);
the compressed formats go through FFmpeg's encoders in PyAV (already installed for decoding), whose muxers write
as they go. ``pcm`` is 24 kHz signed 16-bit little-endian, OpenAI's definition, so clients that play it raw work.
"""
from __future__ import annotations

import io
import itertools
import struct
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .errors import InputError

# format -> (container, codec, sample rate or None to keep the voice's)
ENCODERS: dict[str, tuple[str, str, int | None]] = {
    "mp3": ("mp3", "libmp3lame", None),
    "opus": ("ogg", "libopus", 48_000),  # Opus encodes 8/12/16/24/48 kHz only
    "aac": ("adts", "aac", None),
    "flac": ("flac", "flac", None),
}
FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
PCM_RATE = 24_000
MEDIA_TYPES = {"mp3": "audio/mpeg", "opus": "audio/ogg", "aac": "audio/aac", "flac": "audio/flac",
               "wav": "audio/wav", "pcm": "audio/pcm"}
EXTENSIONS = {".mp3": "mp3", ".opus": "opus", ".ogg": "opus", ".aac": "aac", ".flac": "flac", ".wav": "wav",
              ".pcm": "pcm", ".raw": "pcm"}


def format_for(path: Path) -> str:
    """The format a file name asks for, from its extension."""
    fmt = EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"{path.name}: unknown audio extension; use one of {', '.join(sorted(EXTENSIONS))} "
                         "(or --format).")
    return fmt


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise InputError(f"unsupported audio format {fmt!r}; choose one of: {', '.join(FORMATS)}.")
    return fmt


def encode(audio: np.ndarray, rate: int, fmt: str) -> bytes:
    """One whole clip as a file's bytes (a wav gets its real length in the header)."""
    if fmt == "wav":
        return _wav_header(rate, len(audio)) + _int16(audio)
    return b"".join(encode_stream([audio], rate, fmt))


def encode_stream(chunks: Iterable[np.ndarray], rate: int, fmt: str) -> Iterator[bytes]:
    """The bytes of one audio stream, yielded as each chunk is encoded (the first before the next is made)."""
    check_format(fmt)
    if fmt == "wav":
        yield _wav_header(rate, None)
        for chunk in chunks:
            yield _int16(chunk)
    elif fmt == "pcm":
        resampler = _Resampler(rate, PCM_RATE, "s16")
        for chunk in chunks:
            yield resampler.bytes(chunk)
        yield resampler.bytes(None)
    else:
        yield from _encode_av(chunks, rate, fmt)


def _int16(audio: np.ndarray) -> bytes:
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def _wav_header(rate: int, samples: int | None) -> bytes:
    # Unknown length (streaming): the sizes say 0xFFFFFFFF, which players read as "until the stream ends".
    data = 0xFFFFFFFF if samples is None else samples * 2
    riff = 0xFFFFFFFF if samples is None else 36 + data
    return (b"RIFF" + struct.pack("<I", riff) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
            + b"data" + struct.pack("<I", data))


class _Sink(io.RawIOBase):
    """A write-only file whose bytes are taken out as soon as the muxer writes them."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[override]
        self.buffer += bytes(b)
        return len(b)

    def take(self) -> bytes:
        out, self.buffer = bytes(self.buffer), bytearray()
        return out


class _Resampler:
    def __init__(self, rate: int, target: int, fmt: str):
        import av

        self.av, self.rate = av, rate
        self.resampler = av.AudioResampler(format=fmt, layout="mono", rate=target)

    def frames(self, chunk: np.ndarray | None):
        if chunk is None:
            return self.resampler.resample(None)
        frame = self.av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk, np.float32)[None, :], format="flt",
                                                layout="mono")
        frame.sample_rate = self.rate
        return self.resampler.resample(frame)

    def bytes(self, chunk: np.ndarray | None) -> bytes:
        return b"".join(bytes(f.planes[0])[: f.samples * 2] for f in self.frames(chunk))


def _encode_av(chunks: Iterable[np.ndarray], rate: int, fmt: str) -> Iterator[bytes]:
    import av

    container_name, codec, codec_rate = ENCODERS[fmt]
    sink = _Sink()
    container = av.open(sink, "w", format=container_name)
    try:
        stream = container.add_stream(codec, rate=codec_rate or rate, layout="mono")
        ctx = stream.codec_context
        resampler = _Resampler(rate, ctx.sample_rate, ctx.format.name)
        for chunk in itertools.chain(chunks, [None]):  # None: flush the encoder
            for frame in resampler.frames(chunk):
                for packet in stream.encode(frame):
                    container.mux(packet)
            if chunk is None:
                for packet in stream.encode(None):
                    container.mux(packet)
            else:
                yield sink.take()
    finally:
        container.close()
    yield sink.take()
