"""Serving the app with uvicorn, and stopping it on time.

uvicorn alone, on SIGTERM, waits up to its graceful timeout for requests in flight, then cancels
them (each gets a plain-text 500) and only then shuts the app down, which waits for the model call
under way. Here the engine hears the signal at once (``Engine.begin_shutdown``): new requests get
503, queued work is served while it fits in ``shutdown_grace_s``, and whatever still waits is
answered with the JSON 503 and ``Retry-After`` before the grace period ends; the model thread does
not hold the exit up. uvicorn's own graceful timeout is the same grace period, as a backstop.
"""

from __future__ import annotations

import asyncio
from types import FrameType
from typing import TYPE_CHECKING, Any

from simmatch.errors import require

require("uvicorn", "serve")

import uvicorn  # noqa: E402

if TYPE_CHECKING:
    from fastapi import FastAPI

    from simmatch.service.settings import ServiceSettings


class Server(uvicorn.Server):
    """uvicorn's server that tells the app's engine as soon as a signal asks it to stop."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self._app = app
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: Any = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        engine = getattr(self._app.state, "engine", None)
        if engine is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(engine.begin_shutdown)


def run_uvicorn(app: FastAPI, settings: ServiceSettings, *, log_level: str = "info") -> None:
    """Serve ``app`` (made by ``create_app(settings)``) on ``settings.host:port`` until SIGTERM or
    Ctrl+C."""
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        access_log=settings.access_log,
        timeout_graceful_shutdown=settings.shutdown_grace_s,  # type: ignore[arg-type]
    )
    Server(config, app).run()
