"""The FastAPI app factory: start-up loads the models into the engine (``engine.py``), shut-down
stops it; the routes (``routes.py``) are thin doors onto the engine's async library API, with the
same numbers the library gives for the same input. ``simmatch.service.runner`` serves it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from simmatch.errors import require

require("fastapi", "serve")

from fastapi import FastAPI  # noqa: E402
from fastapi.openapi.utils import get_openapi  # noqa: E402

from simmatch.service.engine import Engine, LoadedModels, public_name  # noqa: E402
from simmatch.service.errors import install_error_handlers  # noqa: E402
from simmatch.service.guard import OPEN_PATHS, GuardMiddleware  # noqa: E402
from simmatch.service.playground import add_playground  # noqa: E402
from simmatch.service.routes import add_routes  # noqa: E402
from simmatch.service.settings import ServiceSettings  # noqa: E402

__all__ = ["Engine", "LoadedModels", "create_app", "public_name"]

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------- app
def create_app(settings: ServiceSettings, *, models: LoadedModels | None = None) -> FastAPI:
    """The service as an ASGI app. Models load once, at start-up (``lifespan``), unless ``models``
    is given; the engine's worker thread and batchers stop at shut-down."""
    from simmatch import __version__

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = Engine(settings, models if models is not None else LoadedModels.load(settings))
        engine.start()
        app.state.engine = engine
        logger.info("serving %s (cross-encoder: %s)", engine.embedder_id, engine.cross_encoder_id)
        try:
            yield
        finally:
            await engine.stop()

    app = FastAPI(
        title="simmatch",
        version=__version__,
        description=(
            "Semantic text matching: embeddings (OpenAI-compatible), pair similarity, ModelScope "
            "compare, TEI/Cohere rerank and index search. Every path but /health needs "
            "'Authorization: Bearer <key>' when the service has an API key."
        ),
        lifespan=lifespan,
    )
    api_key = settings.api_key.get_secret_value() if settings.api_key is not None else None
    app.add_middleware(GuardMiddleware, api_key=api_key, max_body_bytes=settings.limits.max_body_bytes)
    install_error_handlers(app)
    add_routes(app)
    if settings.ui:
        add_playground(app)
    app.openapi = partial(_openapi, app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    schema.setdefault("components", {})["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "the service's API key"}
    }
    schema["security"] = [{"bearer": []}]
    for path in OPEN_PATHS:
        for operation in schema["paths"].get(path, {}).values():
            operation["security"] = []
    app.openapi_schema = schema
    return schema
