"""`llmkit transcribe`: speech to text with Whisper, to the screen or to txt/srt/vtt/json/tsv files."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "Transcribe (or translate to English) speech in audio files with Whisper, offline."
EXAMPLES = """\
  llmkit transcribe talk.wav                                  # text on stdout (whisper-tiny.en)
  llmkit transcribe talk.mp3 --format srt > talk.srt
  llmkit transcribe recordings/ --format all --output-dir subs # D/<stem>.txt .srt .vtt .json .tsv
  llmkit transcribe interview.m4a --model whisper-base --language auto --format json
  llmkit transcribe rede.ogg --model whisper-base --task translate
  llmkit transcribe a.flac b.webm --word-timestamps --format json --output-dir out
  llmkit transcribe talk.wav --format vtt --max-line-width 42 --max-line-count 2 --highlight-words
  llmkit transcribe long.wav --fast --batch-size 16 --max-duration 7200  # greedy: faster, less accurate
  llmkit transcribe short.wav --no-vad --batch-size 1 --beam-size 3"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="FILE", help="audio files or folders (wav, flac, mp3, ogg, m4a, webm)")
    p.add_argument("--model", default="whisper-tiny.en",
                   help="catalog name (whisper-tiny.en, whisper-base), a hub id or a local folder "
                        "(CTranslate2 or transformers format) (default: %(default)s)")
    p.add_argument("--format", default="txt", choices=["txt", "srt", "vtt", "json", "tsv", "all"],
                   help="output format (default: txt); all needs --output-dir")
    p.add_argument("--output-dir", type=Path, metavar="D",
                   help="write D/<input stem>.<format> instead of printing to stdout")
    from ..options import add_flags
    from ..tasks.transcribe_options import PRESETS, TranscribeOptions

    decoding = p.add_mutually_exclusive_group()
    add_flags(decoding, TranscribeOptions, only=["beam_size"])
    decoding.add_argument("--fast", action="store_true",
                          help=f"the fast preset: greedy decoding (beam {PRESETS['fast']['beam_size']}), "
                               "faster and less accurate")
    add_flags(p, TranscribeOptions, skip=["beam_size"], shown_defaults=CLI_DEFAULTS)
    from ..writers import SubtitleLayout

    add_flags(p, SubtitleLayout)


# where the command's default differs from TranscribeOptions': refuse what would take hours by mistake
CLI_DEFAULTS = {"max_duration": 4 * 3600.0}


def options_from_args(args: argparse.Namespace, formats: list[str], by_words: bool = False):
    """TranscribeOptions: the preset (--fast or the accurate default), the command's defaults, then the flags."""
    from ..options import given
    from ..tasks.transcribe_options import TranscribeOptions

    subtitles = {"timestamps": True} if set(formats) & {"srt", "vtt", "tsv"} else {}  # subtitles want short cues
    if by_words:  # subtitle lines laid out from word times
        subtitles["word_timestamps"] = True
    return TranscribeOptions.preset("fast" if args.fast else "accurate",
                                    **{**CLI_DEFAULTS, **subtitles, **given(args, TranscribeOptions)})


def layout_from_args(args: argparse.Namespace, formats: list[str]):
    from ..errors import InputError
    from ..options import given
    from ..writers import SubtitleLayout

    layout = SubtitleLayout(**given(args, SubtitleLayout))
    if layout.by_words and not set(formats) & {"srt", "vtt"}:
        raise InputError("--highlight-words, --max-line-width and --max-line-count shape subtitles: "
                         "add --format srt or vtt.")
    return layout


def run(args: argparse.Namespace) -> int:
    from ..errors import InputError, LlmkitError
    from ..pipelines import pipeline
    from ..writers import FORMATS

    formats = list(FORMATS) if args.format == "all" else [args.format]
    if args.format == "all" and args.output_dir is None:
        raise InputError("--format all writes five files per input: add --output-dir D.")
    layout = layout_from_args(args, formats)
    options = options_from_args(args, formats, layout.by_words)
    files, failures = expand_inputs(args.inputs)
    _check_collisions(files, args.output_dir)
    asr = pipeline("automatic-speech-recognition", model=args.model, options=options)
    for path in files:
        try:
            _transcribe_one(asr, path, formats, args.output_dir, several=len(files) > 1, layout=layout)
        except LlmkitError as e:
            failures.append((path, e))
            print(f"llmkit: error: {e}", file=sys.stderr)
    if failures:
        total = len(files) + sum(1 for p, _ in failures if p not in files)
        if total > 1:
            print(f"llmkit: {len(failures)} of {total} input(s) failed; the others were transcribed.",
                  file=sys.stderr)
        return max(getattr(e, "exit_code", 2) for _, e in failures)
    return 0


def expand_inputs(inputs: list[str]) -> tuple[list[Path], list]:
    """Files as given (checked later, one by one) and the audio files under each folder, sorted."""
    from ..audio import is_audio_path
    from ..errors import InputError

    files: list[Path] = []
    failures: list = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and is_audio_path(p))
            if not found:
                err = InputError(f"{path} holds no audio files (wav, flac, mp3, ogg, m4a, webm).")
                failures.append((path, err))
                print(f"llmkit: error: {err}", file=sys.stderr)
            files.extend(found)
        else:
            files.append(path)
    return files, failures


def _check_collisions(files: list[Path], output_dir: Path | None) -> None:
    from ..errors import InputError

    if output_dir is None:
        return
    seen: dict[str, Path] = {}
    for f in files:
        if f.stem in seen and seen[f.stem] != f:
            raise InputError(f"{seen[f.stem]} and {f} would both write {output_dir}/{f.stem}.*: "
                             "transcribe them into different --output-dir folders.")
        seen[f.stem] = f


def _transcribe_one(asr, path: Path, formats: list[str], output_dir: Path | None, several: bool,
                    layout=None) -> None:
    from ..tasks.transcribe import Transcription
    from ..writers import render, write

    info, stream = asr.start(path)
    result = Transcription.from_segments(info, _with_progress(stream, info.duration, path))
    if output_dir is not None:
        for fmt in formats:
            out = write(result, fmt, output_dir / f"{path.stem}.{fmt}", layout)
            print(f"wrote {out}", file=sys.stderr)
        return
    if several:
        print(f"==> {path} <==")
    sys.stdout.write(render(result, formats[0], layout))
    sys.stdout.flush()


def _with_progress(stream, duration: float, path: Path):
    """A progress bar in seconds of audio, on a terminal, for files over a minute."""
    from tqdm import tqdm

    show = duration >= 60 and sys.stderr.isatty()
    with tqdm(total=round(duration, 1), unit="s", desc=path.name, disable=not show, leave=False,
              file=sys.stderr, bar_format="{desc}: {percentage:3.0f}% {n:.0f}/{total:.0f} s [{elapsed}<{remaining}]") as bar:
        for segment in stream:
            bar.update(round(segment.end - bar.n, 1))
            yield segment
        bar.update(bar.total - bar.n)
