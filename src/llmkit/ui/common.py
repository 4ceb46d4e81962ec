"""What every tab shares: the app's context (settings, jobs, loaded pipelines) and small helpers.

Pipelines are loaded once per (task, model) and shared by every user: loading is the slow part, and the task
objects are safe to call from several threads (llama.cpp has its own request queue; encoders and Whisper are
called under no shared mutable state of ours).
"""
from __future__ import annotations

import html
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..catalog import CATALOG
from ..errors import InputError, LlmkitError
from ..hub import MANIFEST, is_installed, resolve
from .jobs import JobManager


@dataclass(frozen=True)
class UiSettings:
    host: str = "127.0.0.1"
    port: int = 7860
    share: bool = False
    runs_dir: Path | None = None  # where fine-tuned models go; None: LLMKIT_HOME/runs
    concurrency: int = 4  # requests of one kind served at once (others queue)

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

    def pipeline(self, kind: str, model: str, /, **options: Any) -> Any:
        """A shared, cached pipeline. Never builds or downloads a model behind the user's back."""
        from ..pipelines import pipeline

        if not model:
            raise InputError("choose a model first.")
        key = (kind, model, tuple(sorted(options.items())))
        with self._lock:  # one load at a time: two users asking for the same model share one copy
            if key not in self._pipes:
                self._pipes[key] = pipeline(kind, model=resolve(model, build=False), **options)
            return self._pipes[key]

    def finetuned(self) -> list[str]:
        """Fine-tuned model folders under the runs folder, newest first."""
        runs = self.settings.runs()
        done = [p for p in runs.iterdir() if (p / MANIFEST).exists()]
        return [str(p) for p in sorted(done, key=lambda p: p.stat().st_mtime, reverse=True)]

    def models_for(self, task: str) -> list[str]:
        """Installed catalog models for ``task`` (plus, for classification, the fine-tuned folders)."""
        names = [n for n, e in CATALOG.items() if e["task"] == task and is_installed(n)]
        if task == "text-classification":
            names = self.finetuned() + names
        return names


def error_html(e: BaseException | str) -> str:
    """One readable line in the page; never a traceback."""
    text = str(e) if isinstance(e, (LlmkitError, str)) else f"{type(e).__name__}: {e}"
    return f'<div class="llmkit-error" role="alert">{html.escape(text)}</div>'


def info_html(text: str) -> str:
    return f'<div class="llmkit-info">{html.escape(text)}</div>'


CSS = """
.llmkit-error { color: #b91c1c; background: #fef2f2; border: 1px solid #fecaca; border-radius: 6px;
                padding: 8px 12px; font-weight: 600; }
.llmkit-info { color: #1e3a8a; background: #eff6ff; border: 1px solid #bfdbfe; border-radius: 6px;
               padding: 8px 12px; }
"""
