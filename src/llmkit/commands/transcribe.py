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
    p.add_argument("--language", default="auto", help="language code (en, de, ...) or auto to detect (default: auto)")
    p.add_argument("--task", default="transcribe", choices=["transcribe", "translate"],
                   help="translate: speech in any language to English text (multilingual models only)")
    p.add_argument("--format", default="txt", choices=["txt", "srt", "vtt", "json", "tsv", "all"],
                   help="output format (default: txt); all needs --output-dir")
    p.add_argument("--output-dir", type=Path, metavar="D",
                   help="write D/<input stem>.<format> instead of printing to stdout")
    p.add_argument("--word-timestamps", action="store_true",
                   help="time every word, with its probability (in json; subtitles stay per segment)")
    p.add_argument("--highlight-words", action="store_true",
                   help="srt/vtt: one cue per word with the spoken word underlined (implies --word-timestamps)")
    p.add_argument("--max-line-width", type=int, metavar="N",
                   help="srt/vtt: at most N characters per line, breaking between words (implies --word-timestamps)")
    p.add_argument("--max-line-count", type=int, metavar="N",
                   help="srt/vtt: at most N lines per cue (implies --word-timestamps)")
    p.add_argument("--vad", action=argparse.BooleanOptionalAction, default=True,
                   help="skip silence and noise with Silero VAD before decoding (default: on)")
    p.add_argument("--batch-size", type=int, default=8, metavar="N",
                   help="chunks decoded at once; 1 decodes 30 s windows one after another (default: 8)")
    from ..tasks.transcribe_options import PRESETS

    decoding = p.add_mutually_exclusive_group()
    decoding.add_argument("--beam-size", type=int, metavar="N",
                          help=f"beam search width; 1 is greedy (default: {PRESETS['accurate']['beam_size']})")
    decoding.add_argument("--fast", action="store_true",
                          help=f"the fast preset: greedy decoding (beam {PRESETS['fast']['beam_size']}), "
                               "faster and less accurate")
    p.add_argument("--max-duration", type=float, default=4 * 3600, metavar="SECONDS",
                   help="refuse audio longer than this (default: 14400, four hours)")


def run(args: argparse.Namespace) -> int:
    from ..errors import InputError, LlmkitError
    from ..pipelines import pipeline
    from ..tasks.transcribe_options import TranscribeOptions
    from ..writers import FORMATS

    from ..writers import SubtitleLayout

    formats = list(FORMATS) if args.format == "all" else [args.format]
    layout = SubtitleLayout(args.highlight_words, args.max_line_width, args.max_line_count)
    if layout.by_words and not set(formats) & {"srt", "vtt"}:
        raise InputError("--highlight-words, --max-line-width and --max-line-count shape subtitles: "
                         "add --format srt or vtt.")
    if args.format == "all" and args.output_dir is None:
        raise InputError("--format all writes five files per input: add --output-dir D.")
    explicit = {"beam_size": args.beam_size} if args.beam_size is not None else {}
    options = TranscribeOptions.preset(
        "fast" if args.fast else "accurate", **explicit,
        language=args.language, task=args.task, batch_size=args.batch_size,
        vad=args.vad, word_timestamps=args.word_timestamps or layout.by_words, max_duration=args.max_duration,
        timestamps=True if set(formats) & {"srt", "vtt", "tsv"} else None)  # subtitles want short cues
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
