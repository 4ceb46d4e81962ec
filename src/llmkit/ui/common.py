"""What every tab shares: the app's context (settings, jobs, loaded pipelines) and small helpers.

Pipelines are loaded once per (task, model) and shared by every user: loading is the slow part, and the task
objects are safe to call from several threads (llama.cpp has its own request queue; encoders and Whisper are
called under no shared mutable state of ours).
"""
from __future__ import annotations

import html
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..catalog import CATALOG, canonical_name
from ..errors import InputError, LlmkitError
from ..hub import is_installed, resolve
from ..manifest import Manifest
from ..task_table import get
from .jobs import JobManager


AUTH_ENV = "LLMKIT_UI_AUTH"
AUTH_FIX = f"--auth USER:PASSWORD (or set {AUTH_ENV})"


@dataclass(frozen=True)
class UiSettings:
    host: str = "127.0.0.1"
    port: int = 7860
    share: bool = False
    runs_dir: Path | None = None  # where fine-tuned models go; None: LLMKIT_HOME/runs
    concurrency: int = 4  # requests of one kind served at once (others queue)
    # "USER:PASSWORD" for Gradio's login page; the environment variable keeps the password out of `ps`.
    auth: str | None = field(default_factory=lambda: os.environ.get(AUTH_ENV) or None)
    allowed_hosts: tuple[str, ...] = ()  # Host names accepted besides localhost and IPs (see llmkit.netguard)
    # Off: the model pickers load catalog models and folders in the runs folder only, so a visitor cannot make
    # the app read an arbitrary path (or fetch a hub id).
    allow_any_model: bool = False

    def __post_init__(self) -> None:
        if self.auth is not None and not re.fullmatch(r"[^:]+:.+", self.auth):
            raise InputError(f"--auth wants USER:PASSWORD (a user name, a colon, a password), as does {AUTH_ENV}.")
        object.__setattr__(self, "allowed_hosts", tuple(self.allowed_hosts))

    def credentials(self) -> tuple[str, str] | None:
        return tuple(self.auth.split(":", 1)) if self.auth else None  # type: ignore[return-value]

    def runs(self) -> Path:
        from ..hub import home

        path = Path(self.runs_dir) if self.runs_dir else home() / "runs"
        path.mkdir(parents=True, exist_ok=True)
        return path


@dataclass
class UiContext:
    settings: UiSettings
    jobs: JobManager = field(default_factory=JobManager)
    _pipes: dict[tuple, Any] = field(default_factory=dict)
    job_states: dict[str, Any] = field(default_factory=dict)  # tab key -> gr.BrowserState (see jobview)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def pipeline(self, task: str, model: str, /, **options: Any) -> Any:
        """A shared, cached pipeline. Never builds or downloads a model behind the user's back."""
        from ..pipelines import pipeline

        model = self.model(model)
        key = (task, model, tuple(sorted(options.items())))
        with self._lock:  # one load at a time: two users asking for the same model share one copy
            if key not in self._pipes:
                self._pipes[key] = pipeline(task, model=resolve(model, build=False), **options)
            return self._pipes[key]

    def model(self, model: str | None) -> str:
        """``model`` as the app may load it: a catalog name, or a folder inside the runs folder (given as a path
        or relative to it); any path or hub id only when the app was started with --allow-any-model."""
        model = (model or "").strip()
        if not model:
            raise InputError("choose a model first.")
        if self.settings.allow_any_model or canonical_name(model):
            return model
        from ..providers import parse

        if parse(model) is not None:  # a remote model (docs/remote.md): the opt-in is checked when it loads
            return model
        runs = self.settings.runs().resolve()
        path = (runs / Path(model).expanduser()).resolve()  # an absolute path replaces runs; `..` is resolved
        if path != runs and path.is_relative_to(runs) and path.is_dir():
            return str(path)
        raise InputError(f"model {model!r} is neither a catalog model nor a folder in the runs folder ({runs}); "
                         "start the app with `llmkit ui --allow-any-model` to load other folders or hub ids.")

    def run_folder(self, name: str | None, default_prefix: str) -> Path:
        """Where a new run goes: the runs folder / a plain name (a blank name gets a dated one)."""
        name = (name or "").strip() or time.strftime(f"{default_prefix}-%Y%m%d-%H%M%S")
        return self.settings.runs() / plain_name(name)

    def finetuned(self) -> list[str]:
        """Fine-tuned model folders under the runs folder, newest first."""
        runs = self.settings.runs()
        done = [p for p in runs.iterdir() if Manifest.present(p)]
        return [str(p) for p in sorted(done, key=lambda p: p.stat().st_mtime, reverse=True)]

    def models_for(self, task: str) -> list[str]:
        """Installed catalog models for ``task`` or an alias of it, its default first (plus, for classification,
        the fine-tuned folders before them)."""
        # A text-generation picker is the Chat tab's: a base model (catalog "chat": False) cannot chat.
        names = [n for n, e in CATALOG.items()
                 if e["task"] in get(task).names and e.get("chat", True) and is_installed(n)]
        names.sort(key=lambda n: n != get(task).default_model)  # the task's default first: what a picker shows
        if task == "text-classification":
            names = self.finetuned() + names
        return names


def plain_name(name: str) -> str:
    """A run name is one folder name: no `/` or `\\` (no way out of the runs folder), no leading `.` (no `..`,
    no hidden folders), nothing a shell or another OS would read differently."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", name or ""):
        raise InputError(f"the name {name!r} is not a plain folder name: use letters, digits, '.', '_' and '-' "
                         "(up to 100), starting with a letter or digit, e.g. my-model.")
    return name


def error_html(e: BaseException | str) -> str:
    """One readable line in the page; never a traceback."""
    text = str(e) if isinstance(e, (LlmkitError, str)) else f"{type(e).__name__}: {e}"
    return f'<div class="llmkit-error" role="alert">{html.escape(text)}</div>'


CSS = """
.llmkit-error { color: #b91c1c; background: #fef2f2; border: 1px solid #fecaca; border-radius: 6px;
                padding: 8px 12px; font-weight: 600; }
"""
