"""Service fixtures: apps over the session's tiny models, run in-process with ``TestClient`` (which
runs the app's start-up and shut-down)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the service needs the 'serve' extra")

from fastapi.testclient import TestClient

from simmatch.service import LoadedModels, ServiceSettings, create_app

API_KEY = "test-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@contextmanager
def running(models: LoadedModels, *, auth: bool = True, raise_errors: bool = True, **settings: Any):
    """A started app over ``models``; ``settings`` are ``ServiceSettings`` fields."""
    if auth:
        settings.setdefault("api_key", API_KEY)
    app = create_app(ServiceSettings(model=models.embedder.model_name, **settings), models=models)
    headers = AUTH if auth else {}
    with TestClient(app, headers=headers, raise_server_exceptions=raise_errors) as client:
        yield client


@pytest.fixture(scope="session")
def cross3(tiny_cross3_dir):
    from simmatch.models import PairClassifier

    return PairClassifier(tiny_cross3_dir, device="cpu")


@pytest.fixture(scope="session")
def regression(tiny_regression_dir):
    from simmatch.models import PairClassifier

    return PairClassifier(tiny_regression_dir, device="cpu")


@pytest.fixture(scope="module")
def client(tiny_embedder, cross3) -> Iterator[TestClient]:
    """Embedder + 3-label cross-encoder, API key required (sent by default)."""
    with running(LoadedModels(tiny_embedder, cross3)) as c:
        yield c


@pytest.fixture(scope="module")
def cosine_client(tiny_embedder) -> Iterator[TestClient]:
    """Embedder only, no API key: /similarity and /rerank fall back to cosine."""
    with running(LoadedModels(tiny_embedder), auth=False) as c:
        yield c


class GatedEmbedder:
    """Wraps a real ``Embedder``: counts ``encode`` calls, records their sizes, and (while the gate
    is closed) holds every call until the test opens it, so requests pile up in the queue."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.calls: list[int] = []
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.gate.set()

    def encode(self, texts: Any, **kwargs: Any) -> Any:
        self.calls.append(len(texts))
        self.entered.set()
        if not self.gate.wait(timeout=30):
            raise TimeoutError("test gate never opened")
        return self._inner.encode(texts, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@contextmanager
def serving(models: LoadedModels, **settings: Any) -> Iterator[str]:
    """The app over ``models`` served by uvicorn in a thread on a free 127.0.0.1 port; yields its
    base URL. ``settings`` are ``ServiceSettings`` fields."""
    import uvicorn

    app = create_app(ServiceSettings(model=models.embedder.model_name, **settings), models=models)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
