"""Two ways to share a model between concurrent requests without blocking the event loop.

``DynamicBatcher`` (encoders: classification, embeddings): texts from concurrent requests are run together. While
one batch runs in the model's thread, new requests pile up and go together in the next; an idle model waits at
most ``max_wait`` for company. Batching pays on a CPU because a forward pass over 32 texts costs far less than 32
passes (Clipper, NSDI'17, https://www.usenix.org/conference/nsdi17/technical-sessions/presentation/crankshaw).

``FairQueue`` (generation, speech): whole jobs, served by worker threads that each own a copy of the model, taken
round-robin across clients so one client's burst cannot starve the others. Both are bounded: a full queue answers
503 (server full) or 429 (this client has too much queued), each with ``Retry-After``.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections import OrderedDict, deque
from typing import Any, Callable

from .errors import overloaded
from .metrics import Metrics


class DynamicBatcher:
    """``await batcher.submit(texts)`` -> ``fn(all_texts)`` sliced back to this request's rows.

    ``fn`` takes a list and returns a list of the same length; it runs in one dedicated thread.
    """

    def __init__(self, name: str, fn: Callable[[list[Any]], list[Any]], *, max_batch: int, max_wait: float,
                 max_pending: int, retry_after: int, metrics: Metrics):
        self.name, self.fn, self.max_batch, self.max_wait = name, fn, max_batch, max_wait
        self.max_pending, self.retry_after, self.metrics = max_pending, retry_after, metrics
        self._pending: deque[tuple[list[Any], asyncio.Future]] = deque()
        self._items = 0
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"batch-{name}")

    @property
    def depth(self) -> int:
        return self._items

    async def submit(self, items: list[Any]) -> list[Any]:
        if self._items + len(items) > self.max_pending:
            raise overloaded(f"{self.name}: {self._items} texts already waiting; retry shortly.", self.retry_after)
        loop = asyncio.get_running_loop()
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._collect())
        fut = loop.create_future()
        self._pending.append((items, fut))
        self._items += len(items)
        self._wake.set()
        return await fut

    async def _collect(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._pending:
                continue
            deadline = loop.time() + self.max_wait
            while self._items < self.max_batch and (left := deadline - loop.time()) > 0:
                try:
                    await asyncio.wait_for(self._wake.wait(), left)
                except asyncio.TimeoutError:
                    break
                self._wake.clear()
            batch = self._take()
            if self._pending:
                self._wake.set()
            if batch:
                await self._run(loop, batch)

    def _take(self) -> list[tuple[list[Any], asyncio.Future]]:
        """Whole requests, oldest first, up to max_batch texts (a bigger request goes alone)."""
        batch, n = [], 0
        while self._pending and (not batch or n + len(self._pending[0][0]) <= self.max_batch):
            items, fut = self._pending.popleft()
            self._items -= len(items)
            if fut.cancelled():  # the client went away while waiting
                continue
            batch.append((items, fut))
            n += len(items)
        return batch

    async def _run(self, loop: asyncio.AbstractEventLoop, batch: list[tuple[list[Any], asyncio.Future]]) -> None:
        flat = [x for items, _ in batch for x in items]
        self.metrics.observe("llmkit_batch_size", len(flat), model=self.name)
        try:
            out = await loop.run_in_executor(self._pool, self.fn, flat)
        except Exception as e:  # noqa: BLE001 - every request of the batch gets the error
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(e)
            return
        start = 0
        for items, fut in batch:
            if not fut.done():
                fut.set_result(out[start:start + len(items)])
            start += len(items)

    def close(self) -> None:
        if self._task:
            self._task.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)


class FairQueue:
    """Jobs ``fn(model) -> result`` run by ``workers`` threads, each holding its own ``load()``-ed model.

    ``submit(client, fn)`` returns a ``concurrent.futures.Future``; cancelling it before it starts drops the job.
    """

    def __init__(self, name: str, load: Callable[[], Any], *, workers: int, max_size: int, max_per_client: int,
                 retry_after: int):
        self.name, self.load, self.workers = name, load, workers
        self.max_size, self.max_per_client, self.retry_after = max_size, max_per_client, retry_after
        self._cond = threading.Condition()
        self._clients: OrderedDict[str, deque] = OrderedDict()
        self._size = 0
        self._threads: list[threading.Thread] = []
        self._closed = False
        self.loaded = threading.Event()
        self.load_error: BaseException | None = None

    @property
    def depth(self) -> int:
        return self._size

    def start(self) -> None:
        with self._cond:
            while len(self._threads) < self.workers:
                t = threading.Thread(target=self._work, name=f"{self.name}-{len(self._threads)}", daemon=True)
                self._threads.append(t)
                t.start()

    def submit(self, client: str, fn: Callable[[Any], Any]) -> concurrent.futures.Future:
        fut: concurrent.futures.Future = concurrent.futures.Future()
        with self._cond:
            if self._size >= self.max_size:
                raise overloaded(f"{self.name}: {self._size} requests queued, the most it holds; retry shortly.",
                                 self.retry_after)
            q = self._clients.setdefault(client, deque())
            if len(q) >= self.max_per_client:
                raise overloaded(f"{self.name}: you have {len(q)} requests queued, the most one client may; "
                                 "wait for some to finish.", self.retry_after, per_client=True)
            q.append((fn, fut))
            self._size += 1
            self._cond.notify()
        self.start()
        return fut

    def _take(self) -> tuple[Callable[[Any], Any], concurrent.futures.Future] | None:
        with self._cond:
            while not self._size and not self._closed:
                self._cond.wait()
            if self._closed:
                return None
            client, q = next(iter(self._clients.items()))
            job = q.popleft()
            self._size -= 1
            del self._clients[client]
            if q:  # round-robin: this client goes to the back of the line
                self._clients[client] = q
            return job

    def _work(self) -> None:
        try:
            model = self.load()
            self.loaded.set()
        except BaseException as e:  # noqa: BLE001 - every job gets the load error (e.g. missing weights)
            self.load_error = e
            model = None
        while (job := self._take()) is not None:
            fn, fut = job
            if not fut.set_running_or_notify_cancel():
                continue
            if model is None:
                fut.set_exception(self.load_error)
                continue
            try:
                fut.set_result(fn(model))
            except BaseException as e:  # noqa: BLE001
                fut.set_exception(e)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


async def wait(fut: concurrent.futures.Future) -> Any:
    """Await a worker's future; if the awaiting request is cancelled (client gone), a queued job is dropped."""
    return await asyncio.wrap_future(fut)


def now() -> float:
    return time.perf_counter()
