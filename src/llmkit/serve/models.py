"""The models a server holds: resolved on first use (or at start with ``--model``), loaded once, shared.

Which names a client may ask for is a safety decision: catalog names and the models the server was started with,
and local folders or hub ids only with ``allow_any_model`` (a client must not make the server read any path).

Clients see names, never the server's paths: a ``--model`` folder is listed and labelled by its folder's name
(``--model ./runs/toy`` is ``toy``), which requests may use. A remote model (``--model fast=openai:gpt-4o-mini``,
``llmkit.providers``) is served under its local name, and only when given with ``--model``: a client must not
make the server send text, with the server's keys, to a provider or URL of the client's choosing. Every
resolved model has one name (a catalog entry's key, whatever case or alias the request used), and only that
name is used as a metric label.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import task_table
from ..catalog import CATALOG, canonical_name
from ..errors import InputError
from ..hub import ModelRef, resolve
from .errors import APIError
from .metrics import Metrics
from .queues import DynamicBatcher, FairQueue
from .settings import ServeSettings

log = logging.getLogger("llmkit.serve")


def _route_for(task: str) -> str:
    entry = task_table.find(task)
    return entry.routes[0] if entry and entry.routes else "none"


class ModelPool:
    def __init__(self, settings: ServeSettings, metrics: Metrics):
        self.settings, self.metrics = settings, metrics
        self._folders = _folder_names(settings.models)  # public name -> the --model path it stands for
        self._remote = _remote_names(settings.models)  # public name -> the remote reference it stands for
        _check_remote(self._remote.values(), settings)
        self._refs: dict[str, ModelRef] = {}
        self._batchers: dict[tuple, DynamicBatcher] = {}
        self._queues: dict[tuple, FairQueue] = {}
        self._locks: dict[tuple, asyncio.Lock] = {}
        metrics.gauge("llmkit_queue_depth", self._depths)
        metrics.gauge("llmkit_models_loaded", lambda: {(): float(len(self._batchers) + len(self._queues))})

    # ------------------------------------------------------------------------------------------ naming

    def ids(self) -> list[str]:
        return list(dict.fromkeys([*map(self._key, self.settings.models), *CATALOG]))

    def listing(self) -> list[dict[str, Any]]:
        loaded = {k[1] for k in [*self._batchers, *self._queues]}
        out = []
        for name in self.ids():
            entry = CATALOG.get(self._key(name), {})
            ref = self._refs.get(self._key(name))
            out.append({"id": name, "object": "model", "created": 0, "owned_by": "llmkit",
                        "task": entry.get("task") or (ref.task if ref else None), "loaded": name in loaded})
        return out

    def _key(self, name: str) -> str:
        """The one name a request's model string stands for: a --model folder's name, a catalog key, or as is."""
        for public, spec in self._folders.items():
            if name in (public, spec):
                return public
        for public, spec in self._remote.items():
            if name in (public, spec, f"{public}={spec}"):
                return public
        return canonical_name(name) or name

    def _allowed(self, name: str) -> bool:
        if name in self._remote or name in self.settings.models or canonical_name(name) or name in self._folders:
            return True
        # any folder or hub id, but only the remote models the server was started with (see the module's doc)
        return self.settings.allow_any_model and not _is_remote(name)

    async def ref(self, task: str, name: str | None, *, build: bool = False) -> ModelRef:
        """The model ``name`` (blank: the task's default) for a route that serves ``task``."""
        entry = task_table.get(task)
        name = (name or "").strip() or entry.default_model
        if not self._allowed(name):
            raise APIError(404, f"model {name!r} is not served here; GET /v1/models lists the ones that are "
                                f"(start the server with --model {name} to add it).", param="model",
                           code="model_not_found")
        key = self._key(name)
        if key not in self._refs:
            self._refs[key] = await asyncio.to_thread(self._resolve, key, build)
        ref = self._refs[key]
        if ref.task not in entry.names:
            raise APIError(400, f"model {name!r} is a {ref.task} model; use it with {_route_for(ref.task)} "
                                f"(this route serves {', '.join(sorted(entry.names))}).", param="model",
                           code="model_task_mismatch")
        return ref

    # ------------------------------------------------------------------------------------------ loading

    def _lock(self, key: tuple) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    def _load(self, task: str, ref: ModelRef, **options: Any):
        from ..pipelines import pipeline

        log.info("loading %s (%s)", ref.name, task)
        if ref.format == "remote":  # opt-in and redaction (None: LLMKIT_ALLOW_REMOTE, LLMKIT_REDACT, the config)
            s = self.settings
            options = {**options, "allow_remote": True if s.allow_remote else None, "redact": s.redact}
            options.pop("device", None)  # it runs on its provider
        return pipeline(task, model=ref, **options)

    async def batcher(self, task: str, name: str | None, head: str | None = None) -> tuple[ModelRef, Any, DynamicBatcher]:
        """The (ref, pipeline, batcher) of an encoder model, loading it on first use."""
        ref = await self.ref(task, name)
        if head is not None:
            _check_head(ref, head)
        key = (task, ref.name, head)
        async with self._lock(key):
            if key not in self._batchers:
                s = self.settings
                opts: dict[str, Any] = {"threads": s.threads, "batch_size": s.batch_max_size, "device": s.device,
                                        "precision": s.precision}
                if head:
                    opts["task"] = head
                pipe = await asyncio.to_thread(self._load, task, ref, **opts)
                fn = BATCHED[task](pipe)
                label = ref.name if head is None else f"{ref.name}:{head}"
                self._batchers[key] = DynamicBatcher(
                    label, fn, max_batch=s.batch_max_size, max_wait=s.batch_max_wait_ms / 1000,
                    max_pending=s.batch_max_pending, retry_after=s.retry_after_s, metrics=self.metrics)
                self._batchers[key].pipe = pipe  # type: ignore[attr-defined]
        b = self._batchers[key]
        return ref, b.pipe, b  # type: ignore[attr-defined]

    async def queue(self, task: str, name: str | None) -> tuple[ModelRef, FairQueue]:
        """The (ref, fair queue) of a generation or speech model; its workers load their copies lazily."""
        ref = await self.ref(task, name)
        key = (task, ref.name)
        if key not in self._queues:
            s = self.settings
            if task == "text-generation":
                workers = s.generation_slots
                opts: dict[str, Any] = {"threads": s.threads, "n_ctx": s.n_ctx, "parallel": workers,
                                        "prompt_cache_mib": s.prompt_cache_mib,
                                        "speculative": s.speculative, "draft": s.draft, "repack": s.repack,
                                        "device": s.device}
                load = shared_when_concurrent(lambda: self._load(task, ref, **opts), workers)
            else:  # speech both ways: one worker, the engine's own threads; Piper (text-to-speech) on the CPU
                opts = {"threads": s.threads} if task == "text-to-speech" else {"cpu_threads": s.threads or 0,
                                                                                 "device": s.device}
                workers = 1
                load = lambda: self._load(task, ref, **opts)  # noqa: E731
            self._queues[key] = FairQueue(ref.name, load, workers=workers,
                                          max_size=s.queue_size, max_per_client=s.queue_per_client,
                                          retry_after=s.retry_after_s)
        return ref, self._queues[key]

    def _resolve(self, key: str, build: bool) -> ModelRef:
        """Resolve a name from ``_key``; a --model folder's ref carries its public name, not its path."""
        if key in self._folders:
            return dataclasses.replace(resolve(self._folders[key], build=build), name=key)
        if key in self._remote:
            return dataclasses.replace(resolve(self._remote[key], build=build), name=key)
        return resolve(key, build=build)

    async def preload(self, name: str) -> None:
        """Load ``name`` now (``--model``), whatever its task; a model that needs building is built."""
        name = self._key(name)
        ref = self._refs.get(name) or self._resolve(name, True)
        self._refs[name] = ref
        entry = task_table.find(ref.task)
        if entry is None or not entry.routes:
            raise APIError(400, f"{name}: a {ref.task} model cannot be served yet.")
        if entry.name in BATCHED:
            await self.batcher(entry.name, name)
            return
        _, q = await self.queue(entry.name, name)
        q.start()
        await asyncio.to_thread(_wait_loaded, q)

    def _depths(self) -> dict[tuple, float]:
        out = {(("model", b.name), ("queue", "batch")): float(b.depth) for b in self._batchers.values()}
        out.update({(("model", q.name), ("queue", "jobs")): float(q.depth) for q in self._queues.values()})
        return out

    def close(self) -> None:
        for b in self._batchers.values():
            b.close()
        for q in self._queues.values():
            q.close()


def _folder_names(models: list[str]) -> dict[str, str]:
    """``--model`` paths -> the names clients see: the folder's (or file's) own name. Two paths with one name,
    or a name that is also a catalog model, would make a request ambiguous, so they are refused at start."""
    out: dict[str, str] = {}
    for spec in models:
        if canonical_name(spec) or not Path(spec).expanduser().exists():
            continue  # a catalog name or a hub id: already a name
        name = Path(os.path.abspath(Path(spec).expanduser())).name  # a link is served by its own name
        if name in out or canonical_name(name):
            other = out.get(name) or f"the catalog model {canonical_name(name)}"
            raise InputError(f"--model {spec} would be served as {name!r}, the name of {other} too; rename the "
                             "folder (clients see folder names, not paths).")
        out[name] = spec
    return out


def _is_remote(name: str) -> bool:
    from .. import providers

    try:
        return providers.parse(name) is not None
    except InputError:
        return True  # "openai:" with no model: a remote reference all the same


def _check_remote(refs: Any, settings: ServeSettings) -> None:
    """Refuse, before the server starts, a remote model without the opt-in or without a key (one line each)."""
    from .. import providers

    for ref in refs:
        spec = providers.parse(ref)
        providers.check_allowed(spec, True if settings.allow_remote else None)  # type: ignore[arg-type]
        providers.settings(spec)  # type: ignore[arg-type]


def _remote_names(models: list[str]) -> dict[str, str]:
    """Remote ``--model`` entries -> {the name clients use: the reference}. ``NAME=PROVIDER:MODEL[@URL]`` is served
    as NAME; a bare reference (or a config alias) as its own name, a base URL shown without credentials. A NAME
    that is a catalog model, or given twice, is refused at start (a request for it would be ambiguous)."""
    from .. import providers

    out: dict[str, str] = {}
    for spec in models:
        if Path(spec).expanduser().exists():
            continue
        if _is_remote(spec):
            out[providers.parse(spec).name] = spec  # type: ignore[union-attr]
            continue
        name, sep, ref = spec.partition("=")
        if not sep or not _is_remote(ref):
            continue
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name) or canonical_name(name) or name in out:
            raise InputError(f"--model {spec}: {name!r} cannot be its local name; use letters, digits, '.', '_' "
                             "or '-', not a catalog model's name, and give each remote model its own name.")
        out[name] = ref
    return out


def shared_when_concurrent(load: Callable[[], Any], workers: int) -> Callable[[], Any]:
    """The ``load`` for a generation queue's workers. An engine that generates for several requests at once
    (llama.cpp slots: one model, one KV cache per slot, decoded as one batch) is loaded once and shared by all
    workers; any other engine is loaded once per worker (a copy each)."""
    lock = threading.Lock()
    shared: list[Any] = []

    def load_for_worker() -> Any:
        with lock:
            if shared:
                return shared[0]
            pipe = load()
            if getattr(pipe.engine, "slots", 1) >= workers > 1:
                shared.append(pipe)
            return pipe

    return load_for_worker


def _check_head(ref: ModelRef, head: str) -> None:
    """Refuse an unknown head before loading anything (a client must not make the server load in a loop)."""
    from ..engines.encoder import read_heads

    heads = read_heads(ref).tasks
    if head not in heads:
        raise APIError(400, f"model {ref.name!r} has no head {head!r} (the request's task); its heads: "
                            f"{', '.join(heads) or 'none'}.", param="task")


def _wait_loaded(q: FairQueue) -> None:
    while not q.loaded.wait(0.1):
        if q.load_error is not None:
            raise q.load_error


def _embed_fn(pipe: Any):
    def run(texts: list[str]) -> list[tuple[Any, int]]:
        ids, _ = pipe.tokenizer.encode(texts)
        vectors = pipe(texts, normalize=True)
        return [(v, len(i)) for v, i in zip(vectors, ids)]

    return run


def _classify_fn(pipe: Any):
    def run(texts: list[str]) -> list[tuple[list[dict[str, Any]], int]]:
        ids, _ = pipe.tokenizer.encode(texts)
        ranked = pipe(texts, top_k=None)
        return [(r, len(i)) for r, i in zip(ranked, ids)]

    return run


# How each task is served (its routes and default model are the task table's): an encoder task's texts from
# concurrent requests share forward passes in a DynamicBatcher that runs this function on the pipeline; any
# other task goes through a FairQueue of workers.
BATCHED: dict[str, Callable[[Any], Callable]] = {"text-classification": _classify_fn,
                                                 "sentence-embeddings": _embed_fn}
