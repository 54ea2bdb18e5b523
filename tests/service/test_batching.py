"""Dynamic batching: concurrent requests share model calls, get the results they would get alone,
and are refused with 429 when the queue is full."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from simmatch.errors import InputError
from simmatch.service import LoadedModels
from simmatch.service.batching import Batcher, ModelWorker, QueueFullError

from .conftest import GatedEmbedder, running


def _run(coro):
    return asyncio.run(coro)


class Recorder:
    """A batch function that records the batches it gets; items equal to 'bad' raise InputError."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def __call__(self, items: list[str]) -> list[str]:
        self.batches.append(list(items))
        if "bad" in items:
            raise InputError("bad item")
        if "boom" in items:
            raise RuntimeError("boom")
        return [x.upper() for x in items]


async def _with_batcher(fn, body, **kw):
    worker = ModelWorker()
    params = {"max_batch_size": 8, "max_wait_ms": 50, "max_queue": 100, **kw}
    batcher = Batcher("test", fn, worker, **params)
    batcher.start()
    try:
        return await body(batcher)
    finally:
        await batcher.stop()
        worker.shutdown()


def test_concurrent_requests_share_a_batch():
    fn = Recorder()

    async def body(b):
        return await asyncio.gather(b.submit(["a", "b"]), b.submit(["c"]), b.submit(["d", "e", "f"]))

    results = _run(_with_batcher(fn, body))
    assert results == [["A", "B"], ["C"], ["D", "E", "F"]]
    assert fn.batches == [["a", "b", "c", "d", "e", "f"]]


def test_batches_are_capped_and_requests_interleave():
    """A request larger than a batch is split, and its parts alternate with the other requests'
    items (before issue 16, the second request waited for all of the first)."""
    fn = Recorder()

    async def body(b):
        return await asyncio.gather(b.submit(list("abc")), b.submit(list("defg")))

    results = _run(_with_batcher(fn, body, max_batch_size=3))
    assert results == [list("ABC"), list("DEFG")]
    assert fn.batches == [list("abd"), list("cef"), list("g")]  # arrival order within a call


def test_a_bad_request_fails_alone():
    fn = Recorder()

    async def body(b):
        return await asyncio.gather(
            b.submit(["a"]), b.submit(["bad"]), b.submit(["c"]), return_exceptions=True
        )

    ok1, bad, ok2 = _run(_with_batcher(fn, body))
    assert ok1 == ["A"] and ok2 == ["C"]
    assert isinstance(bad, InputError)
    assert fn.batches[0] == ["a", "bad", "c"]  # merged first, then retried one request at a time
    assert sorted(map(tuple, fn.batches[1:])) == [("a",), ("bad",), ("c",)]


def test_unexpected_error_reaches_every_request_of_the_batch():
    fn = Recorder()

    async def body(b):
        return await asyncio.gather(b.submit(["a"]), b.submit(["boom"]), return_exceptions=True)

    results = _run(_with_batcher(fn, body))
    assert all(isinstance(r, RuntimeError) for r in results)


async def _until(condition, timeout: float = 30.0) -> None:
    """Wait for ``condition()`` (set by another thread), however loaded the machine is."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.001)


def test_queue_full_refuses_whole_requests():
    release = threading.Event()
    entered = threading.Event()

    def slow(items):
        entered.set()
        release.wait(30)
        return items

    async def body(b):
        first = asyncio.ensure_future(b.submit(["a"]))
        await _until(entered.is_set)  # 'a' is in the model: the queue is empty
        second = asyncio.ensure_future(b.submit(["b", "c"]))
        await asyncio.sleep(0)
        assert b.queued == 2
        with pytest.raises(QueueFullError, match=r"max_queue=2"):
            await b.submit(["d"])
        release.set()
        return await first, await second

    assert _run(_with_batcher(slow, body, max_queue=2, max_wait_ms=0)) == (["a"], ["b", "c"])


def test_an_empty_queue_takes_an_oversized_request():
    fn = Recorder()

    async def body(b):
        return await b.submit(list("abcde"))

    assert _run(_with_batcher(fn, body, max_queue=2, max_batch_size=2)) == list("ABCDE")


# ---------------------------------------------------------------------------- through HTTP
def _post_all(client, bodies):
    """POST ``bodies`` to /v1/embeddings from one thread each; responses in order."""
    out: list = [None] * len(bodies)

    def send(i):
        out[i] = client.post("/v1/embeddings", json=bodies[i])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    return threads, out


def _wait_for(condition, timeout=10.0):
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("condition not reached")
        time.sleep(0.005)


def test_http_requests_are_merged_and_equal_unbatched(tiny_embedder):
    gated = GatedEmbedder(tiny_embedder)
    texts = [
        ["吃完海鲜可以喝牛奶吗?"],
        ["hello world", "今天天气怎么样"],
        ["可以喝柠檬水吗"],
        ["我爱吃水果", "cat", "dog"],
    ]
    with running(LoadedModels(gated), batching={"max_batch_size": 64, "max_wait_ms": 1}) as c:
        batcher = c.app.state.engine.embed_batchers["query"]
        gated.gate.clear()
        first, first_out = _post_all(c, [{"input": texts[0]}])
        _wait_for(gated.entered.is_set)  # request 0 is inside the model; the rest must queue
        rest, rest_out = _post_all(c, [{"input": t} for t in texts[1:]])
        _wait_for(lambda: batcher.queued == sum(len(t) for t in texts[1:]))
        gated.gate.set()
        for t in first + rest:
            t.join(30)
    responses = first_out + rest_out
    assert gated.calls == [1, 6]  # four requests, two model calls
    for response, request_texts in zip(responses, texts):
        assert response.status_code == 200, response.text
        got = np.array([d["embedding"] for d in response.json()["data"]], dtype=np.float32)
        np.testing.assert_allclose(got, tiny_embedder.encode(request_texts), atol=1e-5)


def test_http_queue_full_is_429_with_retry_after(tiny_embedder):
    gated = GatedEmbedder(tiny_embedder)
    with running(LoadedModels(gated), batching={"max_queue": 2, "max_wait_ms": 0}) as c:
        batcher = c.app.state.engine.embed_batchers["query"]
        gated.gate.clear()
        a, a_out = _post_all(c, [{"input": "a"}])
        _wait_for(gated.entered.is_set)
        b, b_out = _post_all(c, [{"input": ["b", "c"]}])
        _wait_for(lambda: batcher.queued == 2)
        refused = c.post("/v1/embeddings", json={"input": "d"})
        health = c.get("/health").json()
        gated.gate.set()
        for t in a + b:
            t.join(30)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    error = refused.json()["error"]
    assert error["type"] == "overloaded"
    assert "the embed-query queue holds 2 items and this request adds 1 (max_queue=2)" in error["message"]
    assert health["batching"]["embed-query"]["rejected_requests"] == 1
    assert a_out[0].status_code == 200 and b_out[0].status_code == 200


def test_worker_trims_the_heap_at_most_once_per_interval():
    calls = []

    async def body(interval):
        worker = ModelWorker(trim_interval_s=interval)
        if worker._trim is not None:
            worker._trim = calls.append  # count instead of trimming
        try:
            for _ in range(3):
                assert await worker.run(lambda x: x + 1, 1) == 2
        finally:
            worker.shutdown()
        return worker

    assert _run(body(0))._trim is None  # 0 disables
    worker = _run(body(3600))
    if worker._trim is None:
        pytest.skip("this libc has no malloc_trim")
    assert calls == []  # the interval has not passed since start-up
    _run(body(1e-9))
    assert calls == [0, 0, 0]


def test_stop_answers_waiting_requests():
    from simmatch.service.batching import ServiceStoppingError

    release = threading.Event()
    entered = threading.Event()

    def slow(items):
        entered.set()
        release.wait(30)
        return items

    async def body():
        worker = ModelWorker()
        b = Batcher("test", slow, worker, max_batch_size=1, max_wait_ms=0, max_queue=10)
        b.start()
        first = asyncio.ensure_future(b.submit(["a"]))
        second = asyncio.ensure_future(b.submit(["b"]))
        await _until(lambda: entered.is_set() and b.queued == 1)  # 'a' is in the model, 'b' queued
        await b.stop()
        release.set()
        worker.shutdown()
        return await asyncio.gather(first, second, return_exceptions=True)

    results = _run(body())
    assert [type(r) for r in results] == [ServiceStoppingError, ServiceStoppingError]


# ---------------------------------------------------------------------------- fairness (issue 16)
def test_a_long_request_does_not_hold_up_short_ones():
    """One request of 20 long items is split into token-capped model calls; a short request that
    arrives while it runs goes into the very next call, not after all of the long one."""
    release = threading.Event()
    entered = threading.Event()
    batches: list[list[str]] = []

    def fn(items):
        batches.append(list(items))
        entered.set()
        if not release.wait(30):
            raise TimeoutError("test gate never opened")
        return items

    async def body(b):
        heavy = asyncio.ensure_future(b.submit([f"h{i}" for i in range(20)], costs=[100] * 20))
        await _until(entered.is_set)  # the first 3 long items are in the model
        light = asyncio.ensure_future(b.submit(["l0", "l1"], costs=[5, 5]))
        await asyncio.sleep(0)
        assert (b.queued, b.queued_tokens) == (17 + 2, 1700 + 10)
        release.set()
        done = await light
        assert not heavy.done()  # the short request finished first
        return done, await heavy

    light, heavy = _run(_with_batcher(fn, body, max_batch_size=8, max_batch_tokens=300, max_wait_ms=0))
    assert light == ["l0", "l1"] and heavy == [f"h{i}" for i in range(20)]
    # Capped at 300 tokens a call; the short request is in the very next call, which the model
    # gets as two length groups (so "l0" and "l1" are not padded to the long items).
    assert batches[:3] == [["h0", "h1", "h2"], ["h3", "h4"], ["l0", "l1"]]
    assert batches[3] == ["h5", "h6", "h7"]


def test_fair_share_is_by_tokens():
    """Two waiting requests share model calls in proportion to tokens, not items: the one with
    cheap items gets more of them into each call."""
    fn = Recorder()

    async def body(b):
        return await asyncio.gather(
            b.submit(list("ABCD"), costs=[40] * 4), b.submit(list("abcdefgh"), costs=[10] * 8)
        )

    _run(_with_batcher(fn, body, max_batch_size=8, max_batch_tokens=80))
    assert fn.batches[0] == ["A", "a", "b", "c", "d"]  # 40 tokens each side


def test_length_groups_keep_short_items_from_long_padding():
    from simmatch.service.batching import length_groups

    assert length_groups([5, 6, 7]) == [[0, 1, 2]]  # equal enough: one model call
    assert length_groups([20, 500, 22, 480, 3]) == [[1, 3], [0, 2, 4]]
    assert length_groups([]) == []


def test_mixed_lengths_go_to_the_model_in_groups_and_equal_the_library(tiny_embedder):
    gated = GatedEmbedder(tiny_embedder)
    texts = ["今天天气怎么样" * 20, "cat", "我爱吃水果", "今天天气怎么样" * 19]
    with running(LoadedModels(gated), batching={"max_wait_ms": 0}) as c:
        r = c.post("/v1/embeddings", json={"input": texts})
    assert r.status_code == 200, r.text
    assert sorted(gated.calls) == [2, 2]  # one dispatch, two length groups
    got = np.array([d["embedding"] for d in r.json()["data"]], dtype=np.float32)
    np.testing.assert_allclose(got, tiny_embedder.encode(texts), atol=1e-6)


# ---------------------------------------------------------------------------- Retry-After (issue 16)
def test_retry_after_estimates_the_drain_time():
    """429's Retry-After is the queued tokens times the measured seconds per token (it was 1 s
    whatever the queue held)."""
    import math

    release = threading.Event()
    entered = threading.Event()

    def fn(items):
        if items == ["slow"]:
            time.sleep(0.2)
        elif items == ["block"]:
            entered.set()
            release.wait(30)
        return items

    async def body(b):
        await b.submit(["slow"], costs=[20])  # measured: about 0.2 s / 20 tokens
        per_token = b.seconds_per_token
        assert per_token is not None and per_token >= 0.2 / 20
        blocked = asyncio.ensure_future(b.submit(["block"], costs=[1]))
        await _until(entered.is_set)
        queued = asyncio.ensure_future(b.submit(["q1", "q2"], costs=[300, 300]))
        await asyncio.sleep(0)
        with pytest.raises(QueueFullError) as refused:
            await b.submit(["r"])
        release.set()
        await asyncio.gather(blocked, queued)
        return refused.value, per_token

    refused, per_token = _run(_with_batcher(fn, body, max_queue=2, max_wait_ms=0))
    assert math.ceil(600 * per_token) <= refused.retry_after <= math.ceil(601 * per_token)
    assert refused.retry_after >= 6
    assert str(refused).endswith(f"retry after {refused.retry_after} s")


# ---------------------------------------------------------------------------- cancellation (issue 16)
def test_cancelled_requests_leave_the_queue_unrun():
    release = threading.Event()
    entered = threading.Event()
    seen: list[str] = []

    def fn(items):
        seen.extend(items)
        entered.set()
        release.wait(30)
        return items

    async def body(b):
        first = asyncio.ensure_future(b.submit(["a"]))
        await _until(entered.is_set)
        gone = asyncio.ensure_future(b.submit(["x1", "x2", "x3"], costs=[7, 7, 7]))
        stays = asyncio.ensure_future(b.submit(["b"]))
        await asyncio.sleep(0)
        assert (b.queued, b.queued_tokens) == (4, 22)
        gone.cancel()  # what the route does when its client disconnects
        await asyncio.sleep(0)
        assert (b.queued, b.queued_tokens) == (1, 1)
        release.set()
        return await first, await stays

    assert _run(_with_batcher(fn, body, max_wait_ms=0)) == (["a"], ["b"])
    assert seen == ["a", "b"]


# ------------------------------------------------------------------ keeping the worker busy (issue 16)
def test_next_call_is_formed_while_the_current_one_runs():
    """While the worker runs call k, call k+1 is formed and handed to it, so the worker starts
    k+1 without waiting for the event loop: here the loop is blocked (a synchronous wait) when
    call k ends, and k+1 still starts. Before, k+1 was formed on the loop after k's answer."""
    release = threading.Event()
    second_started = threading.Event()
    calls: list[list[str]] = []

    def fn(items):
        calls.append(list(items))
        if len(calls) == 2:  # the first call after the warm-up: held until the test releases it
            release.wait(30)
        if len(calls) == 3:
            second_started.set()
        return [x.upper() for x in items]

    async def body(b):
        assert await b.submit(["w"]) == ["W"]  # measures the cost per token
        b.seconds_per_token = 1e-9  # so the running call is "about to end" at once
        first = asyncio.ensure_future(b.submit(["a"]))
        await _until(lambda: len(calls) == 2)  # 'a' is in the model
        second = asyncio.ensure_future(b.submit(["b", "c"]))
        await _until(lambda: b.prepared == 2)  # formed while 'a' runs
        assert (b.queued, b.running) == (2, 1)
        assert "b" not in calls[-1]
        release.set()
        started = second_started.wait(10)  # blocks the event loop: the worker goes on alone
        return started, await first, await second

    started, first, second = _run(_with_batcher(fn, body, max_wait_ms=0))
    assert started, "the worker waited for the event loop between calls"
    assert (first, second) == (["A"], ["B", "C"])
    assert calls == [["w"], ["a"], ["b", "c"]]


def test_a_single_request_is_not_delayed_by_the_prepared_call():
    """With the worker idle, a request goes to the model after ``max_wait_ms``, as before: the
    prepared call only forms while another call runs."""
    fn = Recorder()

    async def body(b):
        assert await b.submit(["x"]) == ["X"]
        return b.prepared, b.stats.batches

    prepared, batches = _run(_with_batcher(fn, body, max_wait_ms=0))
    assert (prepared, batches) == (0, 1)


def test_nothing_is_kept_per_request():
    """After requests are answered or abandoned, the batcher and the worker hold none of them
    (before, an abandoned request stayed in the queue's heap, texts and all, until the next call
    was formed)."""
    release = threading.Event()
    entered = threading.Event()

    def fn(items):
        entered.set()
        release.wait(30)
        return items

    async def body(b):
        first = asyncio.ensure_future(b.submit(["a"]))
        await _until(entered.is_set)
        gone = asyncio.ensure_future(b.submit(["b", "c"]))
        await _until(lambda: b.queued == 2)
        gone.cancel()
        await asyncio.sleep(0)
        assert (b.queued, b.queued_tokens, len(b._heap)) == (0, 0, 0)
        release.set()
        assert await first == ["a"]
        await _until(lambda: not b._inflight)
        return b.worker._pending, b._heap, b._inflight

    pending, heap, inflight = _run(_with_batcher(fn, body, max_wait_ms=0))
    assert (pending, heap, inflight) == ({}, [], {})


def test_a_split_request_gives_its_longest_items_first():
    """A request split across model calls (issue 12, /rerank of 50 titles over max_batch_tokens)
    fills them longest first, as the library batches by length: each call holds items of similar
    length, not a slice of the input padded to its longest item. Results stay in input order."""
    fn = Recorder()
    costs = [10, 50, 12, 48, 11, 52]

    async def body(b):
        return await b.submit(list("abcdef"), costs=costs)

    result = _run(_with_batcher(fn, body, max_batch_size=8, max_batch_tokens=150, max_wait_ms=0))
    assert result == list("ABCDEF")
    # In input order the first call would be a b c d e (131 tokens, padded to 50) and f alone.
    assert fn.batches == [["b", "d", "f"], ["a", "c", "e"]]
