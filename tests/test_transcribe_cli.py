"""`llmkit transcribe` end to end: several files and folders, every format, bad files in a batch."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from llmkit.cli import main
from speech_fixtures import SPEECH_MARKS, speech, wer  # noqa: F401 (speech: a fixture)
from test_transcribe_units import parse_srt, parse_tsv, parse_vtt

pytestmark = SPEECH_MARKS  # the session-wide `speech` clips fixture lives in speech_fixtures.py


def test_folder_and_files_with_a_bad_one_in_the_batch(speech, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (short0, ref0), (short1, ref1) = speech["short"][0], speech["short"][1]
    shutil.copy(short0, folder / "first.wav")
    shutil.copy(short1, folder / "second.flac")
    (folder / "broken.wav").write_text("not audio at all " * 50)
    (folder / "readme.md").write_text("ignored: not an audio extension")
    out = tmp_path / "out"
    code = main(["transcribe", str(folder), str(tmp_path / "missing.mp3"), "--format", "all",
                 "--output-dir", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert "broken.wav is not an audio file" in err and "missing.mp3: no such file" in err
    assert "2 of 4 input(s) failed" in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{stem}.{fmt}" for stem in ("first", "second") for fmt in ("txt", "srt", "vtt", "json", "tsv"))
    assert wer(ref0, (out / "first.txt").read_text()) <= 0.2
    cues = parse_srt((out / "second.srt").read_text())
    assert cues and wer(ref1, " ".join(c[2] for c in cues)) <= 0.2
    assert len(parse_vtt((out / "second.vtt").read_text())) == len(cues) == len(parse_tsv((out / "second.tsv").read_text()))
    data = json.loads((out / "first.json").read_text())
    assert data["language"] == "en" and data["duration"] > 1 and data["segments"] and data["text"]


def test_stdout_formats_and_flags(speech, capsys):
    path, reference = speech["short"][2]
    assert main(["transcribe", str(path)]) == 0
    assert wer(reference, capsys.readouterr().out) <= 0.2
    assert main(["transcribe", str(path), "--format", "json", "--word-timestamps", "--no-vad", "--batch-size", "1",
                 "--beam-size", "5", "--language", "en"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["segments"][0]["words"] and data["language"] == "en"
    assert main(["transcribe", str(path), str(path), "--format", "vtt"]) == 0
    assert capsys.readouterr().out.count("WEBVTT") == 2


@pytest.mark.parametrize("argv, message", [
    (["--format", "all"], "add --output-dir"),
    (["--beam-size", "0"], "--beam-size"),
    (["--max-duration", "2"], "--max-duration"),
    (["--task", "translate"], "whisper-base"),
    (["--model", "no-such-model"], "unknown model"),
])
def test_user_errors_are_one_line_and_non_zero(speech, capsys, argv, message):
    code = main(["transcribe", str(speech["short"][0][0]), *argv])
    err = capsys.readouterr().err.strip()
    assert code != 0 and message in err and "Traceback" not in err


def test_installed_command_runs_as_a_process(speech, tmp_path):
    empty = tmp_path / "empty.ogg"
    empty.write_bytes(b"")
    proc = subprocess.run([sys.executable, "-m", "llmkit.cli", "transcribe", str(empty)], capture_output=True,
                          text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"llmkit: error: {empty} is empty (0 bytes): give a recording with sound in it.",
    ]
