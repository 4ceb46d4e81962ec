"""llmkit speak: text to speech with a Piper voice, into an audio file (or to stdout, streamed)."""
from __future__ import annotations

import sys
from pathlib import Path

HELP = "Speak text with an offline voice (Piper) into wav, mp3, opus, aac, flac or raw pcm."
EXAMPLES = """\
  llmkit speak "Hello there. How are you?" -o hello.wav
  echo "Read from stdin." | llmkit speak -o stdin.mp3
  llmkit speak --file notes.txt -o notes.opus --speed 1.2
  llmkit speak "Streamed to a player." --format wav | aplay     # sentence by sentence, as it is made
"""


def add_arguments(p) -> None:
    from ..audio_out import FORMATS
    from ..tasks.speak import MAX_SPEED, MIN_SPEED

    p.add_argument("text", nargs="*", metavar="TEXT", help="what to say (default: read stdin; '-' also reads stdin)")
    p.add_argument("--file", "-f", metavar="F", help="read the text from a UTF-8 text file")
    p.add_argument("--output", "-o", metavar="OUT", type=Path,
                   help="audio file; the format follows the extension (.wav .mp3 .opus/.ogg .aac .flac .pcm)")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="audio format (default: from --output's extension; wav on stdout)")
    p.add_argument("--model", "-m", default=None, help="a Piper voice: catalog name or folder (default: piper-joe-medium)")
    p.add_argument("--voice", default=None, help="speaker name, for voices with several speakers")
    p.add_argument("--speed", type=float, default=1.0,
                   help=f"speaking rate, {MIN_SPEED}-{MAX_SPEED} (default: 1.0; 1.5 is half again as fast)")
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (default: all cores)")


def run(args) -> int:
    from ..audio_out import encode_stream, format_for
    from ..errors import InputError
    from ..pipelines import pipeline
    from ..tasks.speak import check_speed, check_text

    text = check_text(_read_text(args))
    check_speed(args.speed)
    fmt = args.format or (format_for(args.output) if args.output else "wav")
    if args.output is None and sys.stdout.isatty():
        raise InputError("audio would go to the terminal: give -o FILE (or pipe stdout into a player).")
    if args.output is not None and not args.output.parent.is_dir():
        raise InputError(f"folder {args.output.parent} does not exist; create it or choose another -o path.")
    tts = pipeline("text-to-speech", model=args.model, threads=args.threads)
    if args.output is None:  # stream: the first sentence plays while the next is being made
        out = sys.stdout.buffer
        for data in encode_stream(tts.stream(text, speed=args.speed, voice=args.voice), tts.sampling_rate, fmt):
            out.write(data)
            out.flush()
        return 0
    speech = tts(text, speed=args.speed, voice=args.voice)
    speech.save(args.output, fmt)
    print(f"llmkit: wrote {args.output} ({speech.duration:.1f} s of audio, {fmt}).", file=sys.stderr)
    return 0


def _read_text(args) -> str:
    from ..errors import InputError
    from ..textio import decode_utf8

    if args.file:
        if args.text:
            raise InputError("give the text as arguments or with --file, not both.")
        try:
            return decode_utf8(Path(args.file).read_bytes(), args.file)
        except FileNotFoundError:
            raise InputError(f"{args.file} does not exist.") from None
    if args.text and args.text != ["-"]:
        return " ".join(args.text)
    if sys.stdin is None or sys.stdin.isatty():
        raise InputError("nothing to say: give TEXT, --file F, or pipe text on stdin.")
    return decode_utf8(sys.stdin.buffer.read(), "stdin")
