"""The output folder of a training run: refuse to clobber by accident, write the model with its manifest last, and
replace an old model only at the end.

A run with ``--overwrite`` over a finished model trains in a hidden sibling (``.<name>.partial``, checkpoints
included, so ``--resume`` finds them there) and swaps it in only once the new model is complete: a typo in the
data, a crash or Ctrl-C leaves the old model where it was, loadable. Other runs train in the folder itself.

>>> run = prepare_output(Path("runs/food"), overwrite=True, resume=False)     # doctest: +SKIP
>>> ...  # train and save into ``run``
>>> finish_output(run, Path("runs/food"))                                    # doctest: +SKIP
"""
from __future__ import annotations

import ctypes
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..manifest import Manifest
from .checkpoint import latest_checkpoint

# what a run writes besides the files it always rewrites; an old folder's copy of these is not carried over
RUN_ARTEFACTS = ("checkpoints", "baselines", "comparison.json")
ARTEFACT_SUFFIXES = (".onnx", ".png")


def default_output(kind: str) -> Path:
    """Where a run goes when no output folder is given: ``runs/<kind>-<time>`` (the CLI's default too)."""
    return Path("runs") / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}"


def staging(output: Path) -> Path:
    return output.parent / f".{output.name}.partial"


def _old(output: Path) -> Path:
    return output.parent / f".{output.name}.old"


def run_folder(output: Path) -> Path:
    """Where a run writes its checkpoints and model: ``output`` itself, or its staging sibling while ``output``
    still holds a finished model."""
    return staging(output) if Manifest.present(output) else output


def check_output(output: Path, overwrite: bool, resume: bool = False) -> None:
    """Refuse to replace a finished model unless asked to (``--resume`` continues an interrupted --overwrite)."""
    _recover(output)
    if Manifest.present(output) and not overwrite and not resume:
        raise InputError(f"{output} already holds a model; choose another --output or pass --overwrite.")
    if output.exists() and not output.is_dir():
        raise InputError(f"{output} is a file; --output must be a folder.")


def prepare_output(output: Path, *, overwrite: bool, resume: bool, parts: tuple[str, ...] = ()) -> Path:
    """The folder to train in. An interrupted run (checkpoints, or any of ``parts``, e.g. finished baselines)
    continues only with --resume; --overwrite clears it. Call it once the data and options are validated: it is
    the first step that deletes anything, and it never touches a finished model."""
    run = run_folder(output)
    started = latest_checkpoint(run) is not None or any((run / p).exists() for p in parts)
    if resume and not started:
        raise InputError(f"--resume: {output} has no interrupted run to resume; start without --resume.")
    if started and not resume and not overwrite:
        raise InputError(f"{output} holds an interrupted run; continue it with --resume, or pass --overwrite.")
    if overwrite and not resume:
        if run != output:
            shutil.rmtree(run, ignore_errors=True)
        else:
            for sub in ("checkpoints", *parts):
                shutil.rmtree(run / sub, ignore_errors=True)
    run.mkdir(parents=True, exist_ok=True)
    return run


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically (a temp file renamed into place): a killed run leaves the old file
    or the new one, never half of one. Paths (data given as ``Path``) are written as text."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def selection(tasks: list[Any]) -> dict[str, dict[str, Any]]:
    """Per task: the data the kept weights were chosen on and the test data, as the reports name them."""
    return {t.spec.name: {"eval": t.eval_name or None, "test": t.test_name or None,
                          "selected_on_test": t.selected_on_test} for t in tasks}


def save_run(net: Any, tokenizer: Any, output: Path, manifest: Manifest, result: Any, tasks: list[Any],
             report: Callable[..., None] | None = None, cfg: Any = None) -> None:
    """Write the finished model into ``output``: every file renamed into place from a temp folder, the manifest
    last (a folder without ``llmkit.json`` never looks finished); then drop the checkpoints. ``report(folder, result,
    tasks)`` writes report.md (default: the single-run report; multi-task runs pass their comparison report).
    With ``cfg`` (the TrainConfig), each single-label head is calibrated first (calibration.py: a temperature in
    the manifest, ECE and a reliability diagram in the report)."""
    from .calibration import calibrate_run, write_calibration
    from .report import write_report

    output.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=output, prefix=".final-"))
    try:
        calibration = calibrate_run(net, tokenizer, tasks, cfg, manifest, tmp) if cfg is not None else {}
        net.save(tmp, manifest, tokenizer)
        metrics = {"best": result.best, "history": result.history, "steps": result.steps,
                   "train_seconds": round(result.train_seconds, 2),
                   "train_samples_per_second": round(result.samples_per_second, 2),
                   "stopped_early": result.stopped_early, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
                   "selection": selection(tasks), "test": result.test}
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        (report or write_report)(tmp, result, tasks)
        write_calibration(tmp, calibration)
        files = sorted(tmp.iterdir(), key=lambda f: f.name == Manifest.FILE)  # the manifest goes last
        for f in files:
            target = output / f.name
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(f, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(output / "checkpoints", ignore_errors=True)


def finish_output(run: Path, output: Path) -> None:
    """Put the finished model in ``run`` at ``output``. From a staging folder: the user's own files in the old
    folder are linked into the new one first, then the two folders trade places in one atomic step (Linux
    renameat2 RENAME_EXCHANGE; elsewhere two renames, undone by the next run if a crash falls between them)."""
    if run == output:
        return
    for entry in output.iterdir():
        if not (run / entry.name).exists() and not _is_artefact(entry.name):
            _link(entry, run / entry.name)
    if not _exchange(run, output):
        old = _old(output)
        shutil.rmtree(old, ignore_errors=True)
        os.replace(output, old)
        os.replace(run, output)
        run = old
    shutil.rmtree(run, ignore_errors=True)


def _is_artefact(name: str) -> bool:
    return name.startswith((".", "confusion_")) or name in RUN_ARTEFACTS or name.endswith(ARTEFACT_SUFFIXES)


def _link(src: Path, dst: Path) -> None:
    """Hard links (copies across devices): the file stays in the old folder until the swap is done."""
    def link(a: str, b: str) -> None:
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    if src.is_dir():
        shutil.copytree(src, dst, copy_function=link, symlinks=True)
    else:
        link(str(src), str(dst))


def _exchange(a: Path, b: Path) -> bool:
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _recover(output: Path) -> None:
    """A crash between the two fallback renames leaves the old model at ``.<name>.old``: put it back."""
    old = _old(output)
    if not output.exists() and Manifest.present(old):
        os.replace(old, output)
