"""The service and its clients' lifetimes (issue 16): a client that disconnects takes its queued
work with it, and SIGTERM with more queued work than the grace period answers every waiting
request with the JSON 503 and exits within the grace period. Real uvicorn servers on loopback."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from simmatch.service import LoadedModels, ServiceSettings, create_app

from .conftest import API_KEY, AUTH, GatedEmbedder

SLOW_SERVER = Path(__file__).with_name("slow_server.py")
SRC = Path(__file__).resolve().parents[2] / "src"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(condition, timeout: float = 30.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError(f"{what} not reached in {timeout} s")
        time.sleep(0.01)


# ---------------------------------------------------------------------------- disconnect
@pytest.fixture
def gated_server(tiny_embedder):
    """uvicorn in a thread over a gated embedder; yields (base url, gated embedder, app)."""
    import uvicorn

    gated = GatedEmbedder(tiny_embedder)
    settings = ServiceSettings(
        model="tiny", api_key=API_KEY, batching={"max_batch_size": 1, "max_wait_ms": 0}
    )
    app = create_app(settings, models=LoadedModels(gated))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    _wait_for(lambda: server.started or not thread.is_alive(), what="uvicorn start")
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", sock.getsockname()[1], gated, app
    gated.gate.set()
    server.should_exit = True
    thread.join(10)
    sock.close()


def _raw_post(port: int, path: str, body: dict) -> socket.socket:
    """Send a POST on a raw socket and return it unread (so the test can hang up)."""
    payload = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {API_KEY}\r\nContent-Length: {len(payload)}\r\n\r\n"
    ).encode()
    conn = socket.create_connection(("127.0.0.1", port))
    conn.sendall(head + payload)
    return conn


def test_disconnected_client_work_is_dropped(gated_server):
    base, port, gated, app = gated_server
    batcher = lambda: app.state.engine.embed_batchers["query"]  # noqa: E731
    gated.gate.clear()
    first = _raw_post(port, "/v1/embeddings", {"input": "a"})
    _wait_for(gated.entered.is_set, what="first model call")  # the model is busy with "a"
    gone = _raw_post(port, "/v1/embeddings", {"input": ["x1", "x2", "x3", "x4"]})
    _wait_for(lambda: batcher().queued == 4, what="4 queued items")
    gone.close()  # the client hangs up while its items wait
    _wait_for(lambda: batcher().queued == 0, timeout=10, what="the queue to drop the gone client's items")
    gated.gate.set()
    first.settimeout(30)
    assert first.recv(65536).startswith(b"HTTP/1.1 200")
    first.close()
    r = httpx.post(f"{base}/v1/embeddings", json={"input": "b"}, headers=AUTH, timeout=30)
    assert r.status_code == 200
    assert gated.calls == [1, 1]  # "a" and "b": the gone client's four texts never ran
    assert batcher().stats.items == 2


# ---------------------------------------------------------------------------- SIGTERM
def test_sigterm_with_backlog_answers_503_and_exits_within_grace(tiny_embedder_dir):
    """Six requests wait on a model call that takes 60 s; SIGTERM with a 3 s grace period: all six
    get the JSON 503 with Retry-After (before: plain-text 500 after uvicorn's timeout), and the
    process exits within the 3 s although the model call is still running."""
    grace = 3.0
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, str(SLOW_SERVER), str(tiny_embedder_dir), str(port), str(grace)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"the service exited early:\n{proc.stdout.read().decode()}")  # type: ignore[union-attr]
            try:
                return httpx.get(f"{base}/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        _wait_for(ready, timeout=120, what="service start")
        results: list[httpx.Response | BaseException] = [None] * 6  # type: ignore[list-item]

        def send(i: int) -> None:
            text = "sleep:60 busy" if i == 0 else f"queued {i}"
            try:
                results[i] = httpx.post(f"{base}/v1/embeddings", json={"input": text}, timeout=60)
            except httpx.HTTPError as exc:
                results[i] = exc

        def stats() -> dict:
            return httpx.get(f"{base}/health", timeout=5).json()["batching"]["embed-query"]

        threads = [threading.Thread(target=send, args=(i,)) for i in range(6)]
        threads[0].start()
        _wait_for(lambda: stats()["running_requests"] == 1, what="the 60 s model call")
        for t in threads[1:]:
            t.start()
        _wait_for(lambda: stats()["queued"] == 5, what="5 queued requests")
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=grace + 30)
        exited_after = time.monotonic() - t0
        for t in threads:
            t.join(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = proc.stdout.read().decode()  # type: ignore[union-attr]
    for r in results:
        assert isinstance(r, httpx.Response), (r, log)
        assert r.status_code == 503, (r.status_code, r.text, log)
        assert r.headers["content-type"] == "application/json"
        assert r.headers["retry-after"] == "5"
        assert r.json() == {
            "error": {"type": "unavailable", "message": "the service is shutting down; retry after 5 s"}
        }
    assert exited_after <= grace, (exited_after, log)
    assert proc.returncode in (0, -signal.SIGTERM), (proc.returncode, log)


# ---------------------------------------------------------------------------- shut-down policy
def _post_threads(client, bodies):
    out: list = [None] * len(bodies)

    def send(i):
        out[i] = client.post("/v1/embeddings", json=bodies[i])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    return threads, out


@pytest.mark.parametrize("backlog_fits", [True, False])
def test_shutdown_serves_what_fits_and_refuses_the_rest_at_once(tiny_embedder, backlog_fits):
    """After the signal: queued work that fits in the grace period (by the drain estimate) is
    served; a backlog that does not is answered 503 at once, while the model call under way still
    finishes. New requests get 503 either way."""
    from .conftest import running

    gated = GatedEmbedder(tiny_embedder)
    with running(
        LoadedModels(gated), shutdown_grace_s=60, batching={"max_batch_size": 1, "max_wait_ms": 0}
    ) as c:
        engine = c.app.state.engine
        batcher = engine.embed_batchers["query"]
        gated.gate.clear()
        first, first_out = _post_threads(c, [{"input": "a"}])
        _wait_for(gated.entered.is_set, what="first model call")
        rest, rest_out = _post_threads(c, [{"input": "b"}, {"input": "c"}])
        _wait_for(lambda: batcher.queued == 2, what="2 queued")
        batcher.seconds_per_token = 1e-3 if backlog_fits else 10.0  # as if measured
        c.portal.call(engine.begin_shutdown)  # what the SIGTERM handler does
        late = c.post("/v1/embeddings", json={"input": "late"})
        if not backlog_fits:
            _wait_for(
                lambda: all(r is not None for r in rest_out), timeout=10, what="503 before the model frees"
            )
        gated.gate.set()
        for t in first + rest:
            t.join(30)
    assert first_out[0].status_code == 200
    assert [r.status_code for r in rest_out] == ([200, 200] if backlog_fits else [503, 503])
    assert late.status_code == 503 and late.headers["retry-after"] == "5"
    assert late.json()["error"]["message"] == "the service is shutting down; retry after 5 s"
    assert gated.calls == ([1, 1, 1] if backlog_fits else [1])
