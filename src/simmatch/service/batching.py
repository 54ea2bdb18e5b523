"""Dynamic batching: concurrent requests are merged into model batches, fairly.

Written here rather than taken from a library: the serving frameworks that batch (infinity, TEI,
Triton) are whole servers, not importable pieces, and what we need is small: per batched function,
a queue of waiting requests and a dispatcher task that forms model calls from them, and one
worker thread (``worker.py``) that runs every model call, so torch never blocks the event loop
and two model calls never compete for the same cores.

A model call takes at most ``max_batch_size`` items and ``max_batch_tokens`` tokens (a single
longer item runs alone). Items are picked by start-time fair queueing over requests, weighted by
tokens: each request has a virtual start time that grows by the tokens of each item taken from it,
the item with the smallest one goes next, and a request that arrives starts at the current virtual
time. So a long request is split into sub-batches that interleave with other requests' items, and
short requests keep moving while it runs. A request's own items are taken longest first (as the
library sorts a call's inputs by length), so the calls a split request makes hold items of similar
length rather than slices of its input each padded to its longest item. Within a model call, items
of very different lengths go to the model in separate groups, so a short text is not padded to a
long one.

The next model call is formed while the current one runs and handed to the worker at once (one
prepared call per batcher), so the worker goes from one call to the next without waiting for the
event loop (which answers the finished requests and encodes their responses meanwhile). The
prepared call is formed when the running call is about to end by the measured cost per token
(before the first measurement: when it ends), so it leaves out as few of the requests arriving
meanwhile as it can; with the worker idle, a call waits at most ``max_wait_ms`` to fill, as ever.

The batcher measures the model's recent cost per token, which gives the ``Retry-After`` of a full
queue (the estimated time to drain all queues of the worker). A request whose future is cancelled
(its client went away) leaves the queue at once; its items still waiting are never run.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from simmatch.errors import SimmatchError
from simmatch.service.worker import ModelWorker, ServiceStoppingError

__all__ = [
    "BatchStats",
    "Batcher",
    "ModelWorker",
    "QueueFullError",
    "ServiceStoppingError",
    "length_groups",
    "retry_after_seconds",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

# The cost per token assumed before the first model call is measured (about what
# multilingual-e5-small costs on two busy CPU cores); only Retry-After estimates use it.
PRIOR_SECONDS_PER_TOKEN = 1e-3
# How much of each new measurement enters the running estimate of the cost per token.
_EWMA = 0.3
# Items of one model call go to the model in separate groups when their lengths differ by more
# than this many tokens and by more than half the longest.
_PAD_SLACK = 32
# While a model call runs, the next one is formed this long before the running one should end
# (a margin for the event loop, busy answering requests, to get to it).
_PREPARE_LEAD_S = 0.02


def retry_after_seconds(seconds: float) -> int:
    """A ``Retry-After`` value: whole seconds, at least 1."""
    return max(1, math.ceil(seconds))


class QueueFullError(Exception):
    """The batch queue holds ``max_queue`` items already; the service answers 429."""

    def __init__(self, name: str, queued: int, asked: int, limit: int, retry_after: int = 1):
        self.retry_after = retry_after
        super().__init__(
            f"server busy: the {name} queue holds {queued} items and this request adds {asked} "
            f"(max_queue={limit}); retry after {retry_after} s"
        )


@dataclass(eq=False)  # identity: requests are dict keys
class _Request(Generic[T, R]):
    items: list[T]
    costs: list[int]
    future: asyncio.Future[list[R]]
    seq: int  # arrival order
    results: list[Any] = field(default_factory=list)
    remaining: int = 0  # items without a result yet
    # The order the items go to the model: most tokens first (ties in input order), as the
    # library batches by length, so when the request is split across model calls each call holds
    # items of similar length instead of a slice of the input padded to its longest item.
    order: list[int] = field(default_factory=list)
    next: int = 0  # position in ``order`` of the first item not yet given to the model

    def __post_init__(self) -> None:
        self.results = [None] * len(self.items)
        self.remaining = len(self.items)
        self.order = sorted(range(len(self.items)), key=lambda i: -self.costs[i])


@dataclass(eq=False)
class _Batch(Generic[T, R]):
    """One model call handed to the worker: its items as (request, index), and its tokens."""

    entries: list[tuple[_Request[T, R], int]]
    tokens: int
    started: float | None = None  # monotonic time the worker began it (set in the worker thread)

    @property
    def requests(self) -> list[_Request[T, R]]:
        return list(dict.fromkeys(r for r, _ in self.entries))


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
    is split across model calls when it does not fit in one, interleaved with other requests (see
    the module docstring); its future resolves when all its items are done. If a merged call
    raises a ``SimmatchError``, each request in it is retried alone, so one bad request cannot
    fail its neighbours.
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
        max_batch_tokens: int | None = None,
    ) -> None:
        self.name = name
        self.fn = fn
        self.worker = worker
        self.max_batch_size = max_batch_size
        self.max_batch_tokens = max_batch_tokens if max_batch_tokens is not None else math.inf
        self.max_wait = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self.stats = BatchStats()
        self.seconds_per_token: float | None = None  # measured, recent model calls
        self._heap: list[tuple[float, int, _Request[T, R]]] = []  # (virtual start, seq, request)
        self._vtime = 0.0
        self._seq = itertools.count()
        self._queued_items = 0
        self._queued_tokens = 0
        self._arrived: asyncio.Event | None = None  # set on arrivals and when a model call ends
        self._task: asyncio.Task[None] | None = None
        self._inflight: dict[_Batch[T, R], asyncio.Task[None]] = {}  # handed to the worker, not answered
        self._closed: ServiceStoppingError | None = None
        worker.batchers.append(self)

    @property
    def queued(self) -> int:
        """Items waiting for the model: not yet in a model call, or in the prepared call that
        waits behind the one under way."""
        return self._queued_items + self.prepared

    @property
    def queued_tokens(self) -> int:
        return self._queued_tokens + sum(b.tokens for b in self._inflight if b.started is None)

    @property
    def running(self) -> int:
        """Requests with items in the model call under way."""
        started = [b for b in self._inflight if b.started is not None]
        return len({r for b in started for r in b.requests})

    @property
    def prepared(self) -> int:
        """Items formed into a model call that waits for the worker (the call after the one under
        way)."""
        return sum(len(b.entries) for b in self._inflight if b.started is None)

    def drain_seconds(self) -> float:
        """Estimated seconds to finish this batcher's queued items and its model calls handed to
        the worker."""
        per_token = self.seconds_per_token or PRIOR_SECONDS_PER_TOKEN
        return self._queued_tokens * per_token + self._inflight_seconds(per_token)

    def _inflight_seconds(self, per_token: float) -> float:
        """Estimated seconds until the model calls handed to the worker are done."""
        now = time.monotonic()
        seconds = 0.0
        for batch in list(self._inflight):
            elapsed = 0.0 if batch.started is None else now - batch.started
            seconds += max(0.0, batch.tokens * per_token - elapsed)
        return seconds

    def start(self) -> None:
        """Start the dispatcher on the running event loop."""
        self._arrived = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._dispatch(), name=f"batcher-{self.name}")

    def close(self, exc: ServiceStoppingError) -> None:
        """Refuse new requests with ``exc``; queued ones are still served."""
        self._closed = exc

    def fail_queued(self, exc: BaseException) -> None:
        """Answer every request with items still waiting with ``exc``."""
        for _, _, request in list(self._heap):
            _fail(request, exc)  # its done-callback takes its items out of the queue

    async def stop(self) -> None:
        stopping = self._closed or ServiceStoppingError()
        self._closed = stopping
        inflight = dict(self._inflight)  # cancelling their tasks forgets them
        tasks = [t for t in (self._task, *inflight.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None
        for batch in inflight:
            for request in batch.requests:
                _fail(request, stopping)
        self.fail_queued(stopping)

    async def submit(self, items: Sequence[T], costs: Sequence[int] | None = None) -> list[R]:
        """Queue ``items`` and wait for their results (in order). ``costs``: each item's tokens
        (default 1 each), which weigh fairness, the model-call size and the drain estimate.
        Raises ``QueueFullError`` when the queue cannot take them (an empty queue always takes a
        request, whatever its size) and ``ServiceStoppingError`` after ``close``."""
        if self._arrived is None:
            raise RuntimeError(f"batcher {self.name!r} is not started")
        if self._closed is not None:
            raise self._closed
        if not items:
            return []
        weights = [1] * len(items) if costs is None else [max(1, int(c)) for c in costs]
        if len(weights) != len(items):
            raise ValueError(f"{len(items)} items with {len(weights)} costs")
        queued = self.queued
        if queued and queued + len(items) > self.max_queue:
            self.stats.rejected += 1
            wait = retry_after_seconds(self.worker.drain_seconds())
            raise QueueFullError(self.name, queued, len(items), self.max_queue, retry_after=wait)
        future: asyncio.Future[list[R]] = asyncio.get_running_loop().create_future()
        request: _Request[T, R] = _Request(list(items), weights, future, next(self._seq))
        heapq.heappush(self._heap, (self._vtime, request.seq, request))
        self._queued_items += len(items)
        self._queued_tokens += sum(weights)
        future.add_done_callback(lambda _: self._dequeue(request))
        self._arrived.set()
        return await future

    def _dequeue(self, request: _Request[T, R]) -> None:
        """The request is answered (or its client is gone): its waiting items leave the queue."""
        left = request.order[request.next :]
        if left:
            self._queued_items -= len(left)
            self._queued_tokens -= sum(request.costs[i] for i in left)
            request.next = len(request.items)
        if not self._queued_items:  # every entry left is spent: keep no request (and its texts)
            self._heap.clear()

    def _full(self) -> bool:
        return self._queued_items >= self.max_batch_size or self._queued_tokens >= self.max_batch_tokens

    def _take(self) -> list[tuple[_Request[T, R], int]]:
        """The next model call's items, fairly across the waiting requests."""
        batch: list[tuple[_Request[T, R], int]] = []
        tokens = 0
        heap = self._heap
        while heap and len(batch) < self.max_batch_size:
            start, seq, request = heap[0]
            if request.next >= len(request.items) or request.future.done():  # answered or gone
                heapq.heappop(heap)
                continue
            item = request.order[request.next]
            cost = request.costs[item]
            if batch and tokens + cost > self.max_batch_tokens:
                break
            heapq.heappop(heap)
            self._vtime = start
            batch.append((request, item))
            tokens += cost
            request.next += 1
            self._queued_items -= 1
            self._queued_tokens -= cost
            if request.next < len(request.items):
                heapq.heappush(heap, (start + cost, seq, request))
        batch.sort(key=lambda entry: (entry[0].seq, entry[1]))  # arrival order within the call
        return batch

    async def _dispatch(self) -> None:
        wake = self._arrived
        if wake is None:
            raise RuntimeError("start() creates the event before the dispatcher runs")
        loop = asyncio.get_running_loop()
        while True:
            # At most one call waits for the worker behind the one under way.
            while not self._queued_items or len(self._inflight) >= 2:
                wake.clear()
                await wake.wait()
            # While another call is under way, keep filling until that call is about to end
            # (until it ends, before the cost per token is measured): a call formed too early
            # would leave out requests arriving meanwhile. Otherwise give the batch a moment to
            # fill, unless it is full already.
            deadline = loop.time() + self.max_wait
            while True:
                remaining: float | None
                if self._inflight:
                    per_token = self.seconds_per_token
                    remaining = (
                        None if per_token is None else self._inflight_seconds(per_token) - _PREPARE_LEAD_S
                    )
                elif self._full():
                    break
                else:
                    remaining = deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    break
                wake.clear()
                try:
                    await asyncio.wait_for(wake.wait(), remaining)
                except asyncio.TimeoutError:
                    break
            entries = self._take()
            if entries:
                self._launch(_Batch(entries, sum(r.costs[i] for r, i in entries)))
            else:  # only abandoned requests were left: let their callbacks update the counts
                await asyncio.sleep(0)

    def _launch(self, batch: _Batch[T, R]) -> None:
        """Hand ``batch`` to the worker now; its requests are answered when it is done."""
        task = asyncio.get_running_loop().create_task(self._run(batch), name=f"batch-{self.name}")
        self._inflight[batch] = task

        def done(_: asyncio.Task[None]) -> None:
            self._inflight.pop(batch, None)
            if self._arrived is not None:
                self._arrived.set()

        task.add_done_callback(done)

    def _call(self, batch: _Batch[T, R], items: list[T], costs: list[int]) -> tuple[list[R], float]:
        """In the worker thread: ``fn`` over groups of similar length; the results in item
        order, and the seconds the model took."""
        batch.started = time.monotonic()
        t0 = time.perf_counter()
        out: list[Any] = [None] * len(items)
        for group in length_groups(costs):
            results = self.fn([items[i] for i in group])
            if len(results) != len(group):
                raise RuntimeError(f"batcher {self.name}: {len(group)} items gave {len(results)} results")
            for i, result in zip(group, results):
                out[i] = result
        return out, time.perf_counter() - t0

    async def _run(self, batch: _Batch[T, R]) -> None:
        entries = batch.entries
        items = [r.items[i] for r, i in entries]
        costs = [r.costs[i] for r, i in entries]
        requests = batch.requests
        try:
            outputs, seconds = await self.worker.run(self._call, batch, items, costs)
        except ServiceStoppingError as exc:
            for request in requests:
                _fail(request, exc)
            return
        except SimmatchError as exc:
            if len(requests) == 1:
                _fail(requests[0], exc)
                return
            for request in requests:  # isolate the bad request: retry each alone
                if not request.future.done():
                    alone = [(r, i) for r, i in entries if r is request]
                    await self._run(_Batch(alone, sum(r.costs[i] for r, i in alone)))
            return
        except Exception as exc:  # not swallowed: every waiting request receives it
            logger.exception("model call failed in batcher %s", self.name)
            for request in requests:
                _fail(request, exc)
            return
        self._observe(batch.tokens, seconds)
        self.stats.batches += 1
        self.stats.items += len(items)
        self.stats.largest = max(self.stats.largest, len(items))
        for (request, i), out in zip(entries, outputs):
            request.results[i] = out
            request.remaining -= 1
            if request.remaining == 0 and not request.future.done():
                request.future.set_result(request.results)

    def _observe(self, tokens: int, seconds: float) -> None:
        per_token = seconds / max(tokens, 1)
        old = self.seconds_per_token
        self.seconds_per_token = per_token if old is None else (1 - _EWMA) * old + _EWMA * per_token


def length_groups(costs: Sequence[int]) -> list[list[int]]:
    """Indices of ``costs`` grouped for padded model calls: longest first, a new group when an
    item is more than ``_PAD_SLACK`` tokens and more than half shorter than its group's longest.
    Equal costs make one group in input order."""
    order = sorted(range(len(costs)), key=lambda i: -costs[i])
    groups: list[list[int]] = []
    longest = 0
    for i in order:
        gap = longest - costs[i]
        if not groups or (gap > _PAD_SLACK and gap > longest // 2):
            groups.append([])
            longest = costs[i]
        groups[-1].append(i)
    for group in groups:
        group.sort()
    return groups


def _fail(request: _Request[Any, Any], exc: BaseException) -> None:
    if not request.future.done():
        request.future.set_exception(exc)
