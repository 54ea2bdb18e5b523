"""Dynamic batching: concurrent requests are merged into model batches.

Written here rather than taken from a library: the serving frameworks that batch (infinity, TEI,
Triton) are whole servers, not importable pieces, and what we need is small: one asyncio queue of
items per batched function, a dispatcher task that drains it into batches of at most
``max_batch_size`` items (waiting at most ``max_wait_ms`` for a batch to fill), and one worker thread
that runs every model call, so torch never blocks the event loop and two model calls never compete
for the same cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from simmatch.errors import SimmatchError

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class QueueFullError(Exception):
    """The batch queue holds ``max_queue`` items already; the service answers 429."""

    def __init__(self, name: str, queued: int, asked: int, limit: int, retry_after: int = 1):
        self.retry_after = retry_after
        super().__init__(
            f"server busy: the {name} queue holds {queued} items and this request adds {asked} "
            f"(max_queue={limit}); retry after {retry_after} s"
        )


class ServiceStoppingError(Exception):
    """The service shut down while the request waited; the service answers 503."""


class ModelWorker:
    """The single thread every model call runs in.

    ``trim_interval_s``: after a model call, hand freed heap memory back to the OS at most this
    often (glibc's ``malloc_trim``; 0 or a libc without it: never). Written by hand because no
    library does it for us: glibc raises its mmap threshold as large tensors are freed, after
    which tensors of ever-changing batch shapes come from the heap, and the freed parts stay in
    the process, so RSS creeps up under a varied load (measured: +7% in 60 s on
    multilingual-e5-small, flat with the trim; one trim took 3-6 ms).
    """

    def __init__(self, trim_interval_s: float = 1.0) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="simmatch-model")
        self._trim = _malloc_trim() if trim_interval_s > 0 else None
        self._trim_interval = trim_interval_s
        self._last_trim = time.monotonic()

    async def run(self, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(self._call, fn, args, kwargs))

    def _call(self, fn: Callable[..., R], args: tuple[Any, ...], kwargs: dict[str, Any]) -> R:
        try:
            return fn(*args, **kwargs)
        finally:
            if self._trim is not None and time.monotonic() - self._last_trim >= self._trim_interval:
                self._trim(0)
                self._last_trim = time.monotonic()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


@dataclass(eq=False)  # identity: requests are dict keys
class _Request(Generic[T, R]):
    items: list[T]
    future: asyncio.Future[list[R]]
    results: list[Any] = field(default_factory=list)
    remaining: int = 0

    def __post_init__(self) -> None:
        self.results = [None] * len(self.items)
        self.remaining = len(self.items)


@dataclass
class BatchStats:
    batches: int = 0
    items: int = 0
    largest: int = 0
    rejected: int = 0

    def to_dict(self) -> dict[str, float]:
        mean = self.items / self.batches if self.batches else 0.0
        return {
            "batches": self.batches,
            "items": self.items,
            "mean_batch_size": round(mean, 3),
            "largest_batch": self.largest,
            "rejected_requests": self.rejected,
        }


class Batcher(Generic[T, R]):
    """Merge the items of concurrent ``submit`` calls into calls of ``fn(items) -> results``.

    ``fn`` runs in ``worker``'s thread and must return one result per item, in order. A request
    may be split across two consecutive batches when it does not fit in the current one; its
    future resolves when all its items are done. If a merged call raises a ``SimmatchError``,
    each request in it is retried alone, so one bad request cannot fail its neighbours.
    """

    def __init__(
        self,
        name: str,
        fn: Callable[[list[T]], Sequence[R]],
        worker: ModelWorker,
        *,
        max_batch_size: int,
        max_wait_ms: float,
        max_queue: int,
    ) -> None:
        self.name = name
        self.fn = fn
        self.worker = worker
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self.stats = BatchStats()
        self._queue: asyncio.Queue[tuple[_Request[T, R], int]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._running: list[_Request[T, R]] = []  # requests in the model call under way

    @property
    def queued(self) -> int:
        return self._queue.qsize() if self._queue is not None else 0

    def start(self) -> None:
        """Start the dispatcher on the running event loop."""
        # Unbounded asyncio.Queue; ``submit`` enforces max_queue per request, so a request is
        # queued whole or refused whole.
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._dispatch(), name=f"batcher-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        stopping = ServiceStoppingError("the service is shutting down")
        for request in self._running:
            _fail(request, stopping)
        if self._queue is not None:
            while not self._queue.empty():
                request, _ = self._queue.get_nowait()
                _fail(request, stopping)

    async def submit(self, items: Sequence[T]) -> list[R]:
        """Queue ``items`` and wait for their results (in order). Raises ``QueueFullError`` when
        the queue cannot take them; an empty queue always takes a request, whatever its size."""
        if self._queue is None:
            raise RuntimeError(f"batcher {self.name!r} is not started")
        if not items:
            return []
        queued = self._queue.qsize()
        if queued and queued + len(items) > self.max_queue:
            self.stats.rejected += 1
            raise QueueFullError(self.name, queued, len(items), self.max_queue)
        request: _Request[T, R] = _Request(list(items), asyncio.get_running_loop().create_future())
        for i in range(len(request.items)):
            self._queue.put_nowait((request, i))
        return await request.future

    async def _dispatch(self) -> None:
        queue = self._queue
        if queue is None:
            raise RuntimeError("start() creates the queue before the dispatcher runs")
        loop = asyncio.get_running_loop()
        while True:
            batch = [await queue.get()]
            deadline = loop.time() + self.max_wait
            while len(batch) < self.max_batch_size:
                if not queue.empty():
                    batch.append(queue.get_nowait())
                    continue
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(queue.get(), remaining))
                except asyncio.TimeoutError:
                    break
            # A client that went away cancelled its future: do not spend the model on it.
            batch = [(r, i) for r, i in batch if not r.future.done()]
            if batch:
                await self._run(batch)

    async def _run(self, batch: list[tuple[_Request[T, R], int]]) -> None:
        items = [r.items[i] for r, i in batch]
        requests = list(dict.fromkeys(r for r, _ in batch))
        self._running = requests
        try:
            outputs = await self.worker.run(self.fn, items)
        except SimmatchError as exc:
            self._running = []
            if len(requests) == 1:
                _fail(requests[0], exc)
                return
            for request in requests:  # isolate the bad request: retry each alone
                await self._run([(r, i) for r, i in batch if r is request])
            return
        except Exception as exc:  # not swallowed: every waiting request receives it
            self._running = []
            logger.exception("model call failed in batcher %s", self.name)
            for request in requests:
                _fail(request, exc)
            return
        self._running = []
        if len(outputs) != len(items):
            bug = RuntimeError(f"batcher {self.name}: {len(items)} items gave {len(outputs)} results")
            for request in requests:
                _fail(request, bug)
            return
        self.stats.batches += 1
        self.stats.items += len(items)
        self.stats.largest = max(self.stats.largest, len(items))
        for (request, i), out in zip(batch, outputs):
            request.results[i] = out
            request.remaining -= 1
            if request.remaining == 0 and not request.future.done():
                request.future.set_result(request.results)


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None on a libc without it (macOS, musl, Windows)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name).malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


def _fail(request: _Request[Any, Any], exc: BaseException) -> None:
    if not request.future.done():
        request.future.set_exception(exc)
