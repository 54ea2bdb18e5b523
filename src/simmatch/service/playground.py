"""The playground page: static HTML, CSS and JavaScript shipped in ``static/`` and served at ``/``
(the page) and ``/ui/`` (its files). The page calls the service's own endpoints (``/models``,
``/compare``, ``/similarity``, ``/search``, ``/v1/embeddings``) and computes nothing the service
computes; it loads nothing from any other host. ``ServiceSettings.ui = False`` (``--no-ui``) leaves
it out."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).with_name("static")
# Paths served without the API key: the page must load before the user has typed the key.
# They hold no data, only the page's own files.
PAGE_PATH = "/"
FILES_PREFIX = "/ui"


def add_playground(app: FastAPI) -> None:
    """Serve the page at ``/`` and its files under ``/ui/``; both stay out of the OpenAPI schema."""

    @app.get(PAGE_PATH, include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8")

    app.mount(FILES_PREFIX, StaticFiles(directory=STATIC_DIR), name="ui")


def is_page_path(path: str) -> bool:
    """Whether ``path`` is the page or one of its files (open without the API key)."""
    return path == PAGE_PATH or path.startswith(FILES_PREFIX + "/")
