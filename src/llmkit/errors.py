"""The few error types users see. Every message says what to do next.

The CLI prints ``str(err)`` as one line and exits with ``err.exit_code``; no traceback
is shown for a user's mistake.
"""
from __future__ import annotations


class LlmkitError(Exception):
    """Base class: a problem the user can fix. ``str()`` is one line that names the fix."""

    exit_code = 1

    def __init__(self, message: str):
        super().__init__(" ".join(message.split()))  # always one line


class InputError(LlmkitError):
    """Bad input: empty text, a malformed file (with its line number), a non-audio file..."""

    exit_code = 2


class ModelNotFoundError(LlmkitError):
    """An unknown model name, or a model that is not available offline."""

    exit_code = 3


class IntegrityError(LlmkitError):
    """A weights file whose sha256 does not match the catalog."""

    exit_code = 4


class EngineUnavailableError(LlmkitError):
    """The engine a model needs is not installed (names the extra to install)."""

    exit_code = 5


class TrainingError(LlmkitError):
    """A training run could not go on (NaN loss, bad data); the last good checkpoint is kept."""

    exit_code = 6


class RemoteError(LlmkitError):
    """A remote provider refused or could not be reached (bad key, unknown model, quota, network down)."""

    exit_code = 7
