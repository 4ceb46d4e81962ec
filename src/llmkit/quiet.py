"""Silence third-party chatter (tracer warnings, 'Loading weights' bars, root-logger notes) around work whose
result llmkit reports itself. Errors still propagate."""
from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    restore_bars = None
    try:
        from transformers.utils import logging as hf_logging

        hf_level = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        if hf_logging.is_progress_bar_enabled():
            hf_logging.disable_progress_bar()
            restore_bars = hf_logging.enable_progress_bar
    except ImportError:  # transformers not installed: nothing of theirs to silence
        hf_logging = None
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)
        if hf_logging is not None:
            hf_logging.set_verbosity(hf_level)
        if restore_bars:
            restore_bars()
