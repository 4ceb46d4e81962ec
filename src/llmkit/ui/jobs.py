"""Background jobs for the web app: fine-tuning, multi-task training and transcription run in threads.

A job outlives the request that started it, so a reloaded page re-attaches by id (kept in the browser's local
storage) and other users' requests are never blocked behind it. The page polls ``snapshot()`` on a timer.

>>> jobs = JobManager()
>>> job = jobs.submit("demo", lambda job: job.emit({"event": "step", "loss": 1.0}) or "done")
>>> jobs.get(job.id).wait(5).result
'done'
"""
from __future__ import annotations

import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import LlmkitError


@dataclass
class Job:
    id: str
    kind: str
    title: str
    status: str = "running"  # running | done | failed
    events: list[dict[str, Any]] = field(default_factory=list)
    result: Any = None
    error: str = ""
    started: float = field(default_factory=time.time)
    finished: float | None = None
    _done: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def emit(self, event: dict[str, Any]) -> None:
        with self._lock:
            self.events.append(event)

    def snapshot(self) -> tuple[str, list[dict[str, Any]], Any, str]:
        """(status, a copy of the events, result, error), consistent with each other."""
        with self._lock:
            return self.status, list(self.events), self.result, self.error

    @property
    def running(self) -> bool:
        return self.status == "running"

    def wait(self, timeout: float | None = None) -> "Job":
        self._done.wait(timeout)
        return self

    def elapsed(self) -> float:
        return (self.finished or time.time()) - self.started


class JobManager:
    """Runs ``fn(job)`` in a daemon thread per job; keeps the last ``keep`` jobs for re-attaching."""

    def __init__(self, keep: int = 50):
        self.keep = keep
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def submit(self, kind: str, fn: Callable[[Job], Any], title: str = "") -> Job:
        job = Job(uuid.uuid4().hex[:12], kind, title or kind)
        with self._lock:
            self._jobs[job.id] = job
            self._trim()
        threading.Thread(target=self._run, args=(job, fn), name=f"llmkit-ui-{kind}-{job.id}", daemon=True).start()
        return job

    def get(self, job_id: str | None) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id or "")

    def _run(self, job: Job, fn: Callable[[Job], Any]) -> None:
        try:
            result = fn(job)
            status, error = "done", ""
        except LlmkitError as e:  # a user's mistake: one line that says what to do, never a traceback
            result, status, error = None, "failed", str(e)
        except Exception as e:  # a bug: the page still gets one line; the log gets the traceback
            traceback.print_exc()
            result, status, error = None, "failed", f"{type(e).__name__}: {e}"
        with job._lock:
            job.result, job.status, job.error, job.finished = result, status, error, time.time()
        job._done.set()

    def _trim(self) -> None:
        finished = [j for j in sorted(self._jobs.values(), key=lambda j: j.started) if not j.running]
        for j in finished[: max(0, len(self._jobs) - self.keep)]:
            del self._jobs[j.id]
