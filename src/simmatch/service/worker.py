"""The single thread every model call of the service runs in (``ModelWorker``), and the error a
caller gets once the service is shutting down."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

R = TypeVar("R")


class Drains(Protocol):
    """A queue the worker drains (a batcher): how long its queued work will take."""

    def drain_seconds(self) -> float: ...


class ServiceStoppingError(Exception):
    """The service is shutting down: the request cannot be served; the service answers 503 with
    ``Retry-After``."""

    retry_after = 5

    def __init__(self, message: str = f"the service is shutting down; retry after {retry_after} s") -> None:
        super().__init__(message)


@dataclass(eq=False)
class _Call:
    """One function call queued for the worker thread."""

    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    abandoned: bool = False  # set on the event loop: the caller no longer waits; skip if not started


class ModelWorker:
    """The single thread every model call runs in.

    A daemon thread, so a model call still running when the process exits does not hold it up
    (after ``shutdown``, which the service bounds by its grace period). ``fail_pending`` answers
    every caller still waiting (the running call's included) at once.

    ``trim_interval_s``: after a model call, hand freed heap memory back to the OS at most this
    often (glibc's ``malloc_trim``; 0 or a libc without it: never). Written by hand because no
    library does it for us: glibc raises its mmap threshold as large tensors are freed, after
    which tensors of ever-changing batch shapes come from the heap, and the freed parts stay in
    the process, so RSS creeps up under a varied load (measured: +7% in 60 s on
    multilingual-e5-small, flat with the trim; one trim took 3-6 ms).
    """

    def __init__(self, trim_interval_s: float = 1.0) -> None:
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._pending: dict[asyncio.Future[Any], _Call] = {}
        self._closed: ServiceStoppingError | None = None
        self._trim = _malloc_trim() if trim_interval_s > 0 else None
        self._trim_interval = trim_interval_s
        self._last_trim = time.monotonic()
        self.batchers: list[Drains] = []  # those whose queues this worker drains
        self.busy_seconds = 0.0  # time spent in calls (written by the worker thread only)
        self.calls = 0
        self._thread = threading.Thread(target=self._serve, name="simmatch-model", daemon=True)
        self._thread.start()

    async def run(self, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        if self._closed is not None:
            raise self._closed
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        call = _Call(loop, future, fn, args, kwargs)
        self._pending[future] = call
        future.add_done_callback(self._forget)
        self._calls.put(call)
        return await future

    def _forget(self, future: asyncio.Future[Any]) -> None:
        call = self._pending.pop(future, None)
        if call is not None:
            call.abandoned = True

    def _serve(self) -> None:
        while (call := self._calls.get()) is not None:
            if call.abandoned:
                continue
            result: Any = None
            error: BaseException | None = None
            t0 = time.perf_counter()
            try:
                result = call.fn(*call.args, **call.kwargs)
            except BaseException as exc:  # handed to the caller, not swallowed
                error = exc
            finally:
                self.busy_seconds += time.perf_counter() - t0
                self.calls += 1
                if self._trim is not None and time.monotonic() - self._last_trim >= self._trim_interval:
                    self._trim(0)
                    self._last_trim = time.monotonic()
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
                call.loop.call_soon_threadsafe(settle, call.future, result, error)

    def drain_seconds(self) -> float:
        """Estimated seconds until the work queued in this worker's batchers is done."""
        return sum(b.drain_seconds() for b in self.batchers)

    def fail_pending(self, exc: BaseException) -> None:
        """Answer every waiting caller with ``exc`` and refuse new calls (shut-down)."""
        if isinstance(exc, ServiceStoppingError):
            self._closed = exc
        for future in list(self._pending):
            settle(future, None, exc)

    def shutdown(self, timeout: float | None = None) -> bool:
        """Stop the thread after the call it runs; wait at most ``timeout`` seconds (None: until
        it ends). Whether the thread has ended."""
        self._closed = self._closed or ServiceStoppingError()
        self._calls.put(None)
        self._thread.join(timeout)
        return not self._thread.is_alive()


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


def settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    """Complete ``future`` with ``error`` or ``result``, unless it is done already."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
