"""The playground page as HTTP serves it: at / without the API key, nothing from other hosts,
shipped as package data, and gone with ``ui=False`` (``--no-ui``) while /docs stays."""

from __future__ import annotations

import re
from fnmatch import fnmatch
from pathlib import Path

import pytest

from simmatch.service import LoadedModels, ServiceSettings
from simmatch.service.playground import STATIC_DIR

from .conftest import running

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STATIC_FILES = sorted(p for p in STATIC_DIR.rglob("*") if p.is_file())
URL = re.compile(r"[a-z][a-z0-9+.-]*://[^\s\"'<>)]*", re.IGNORECASE)


def test_static_files_name_no_other_host():
    """Every script, style and font is local: no absolute URL at all in the shipped files (the page
    calls its own origin through relative paths)."""
    assert {p.name for p in STATIC_FILES} >= {"index.html", "app.js", "style.css"}
    found = {p.name: URL.findall(p.read_text(encoding="utf-8")) for p in STATIC_FILES}
    assert found == {p.name: [] for p in STATIC_FILES}
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    assert re.findall(r'(?:src|href)="([^"]+)"', html) == ["ui/style.css", "ui/app.js", "docs"]
    # The page talks to the service's own endpoints only, by relative path.
    js = (STATIC_DIR / "app.js").read_text(encoding="utf-8")
    called = set(re.findall(r'api\("(?:GET|POST)", "([^"]+)"', js))
    assert called == {"models", "openapi.json", "compare", "similarity", "search", "v1/embeddings"}


def test_static_files_are_package_data():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["simmatch"]
    package_root = PROJECT_ROOT / "src" / "simmatch"
    for path in STATIC_FILES:
        relative = path.relative_to(package_root).as_posix()
        assert any(fnmatch(relative, pattern) for pattern in patterns), relative


def test_page_at_root_without_the_key(tiny_embedder):
    with running(LoadedModels(tiny_embedder), auth=False, api_key="k") as client:
        page = client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.text == (STATIC_DIR / "index.html").read_text(encoding="utf-8")
        for name, kind in (("app.js", "javascript"), ("style.css", "text/css")):
            r = client.get(f"/ui/{name}")
            assert r.status_code == 200 and kind in r.headers["content-type"]
        # The page's files are open; the data is not.
        assert client.get("/models").status_code == 401
        assert (
            client.post("/compare", json={"source_sentence": "a", "sentences_to_compare": ["b"]}).status_code
            == 401
        )
        assert client.get("/ui/missing.js").status_code == 404
        # The page stays out of the API's schema.
        assert "/" not in client.get("/openapi.json", headers={"Authorization": "Bearer k"}).json()["paths"]


def test_no_ui_leaves_the_page_out_and_keeps_docs(tiny_embedder):
    assert ServiceSettings().ui is True
    with running(LoadedModels(tiny_embedder), auth=False, ui=False) as client:
        assert client.get("/").status_code == 404
        assert client.get("/ui/app.js").status_code == 404
        assert client.get("/docs").status_code == 200
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/models").status_code == 200
    # With a key and no page, / is a plain 404: nothing there to protect or to show.
    with running(LoadedModels(tiny_embedder), auth=False, ui=False, api_key="k") as client:
        assert client.get("/").status_code == 404
        assert client.get("/docs").status_code == 401


def test_serve_flag_no_ui(monkeypatch):
    """``simmatch serve --no-ui``: the flag is generated from ``ServiceSettings.ui``."""
    from simmatch.cli.main import main
    from simmatch.service import server

    seen = {}
    monkeypatch.setattr(server, "serve", lambda settings, log_level: seen.update(s=settings))
    monkeypatch.delenv("SIMMATCH_API_KEY", raising=False)
    assert main(["serve", "--no-ui"]) == 0
    assert seen["s"].ui is False
    assert main(["serve"]) == 0
    assert seen["s"].ui is True


def test_docs_show_a_screenshot_of_each_tab():
    names = [f"playground-{tab}.png" for tab in ("compare", "similarity", "search", "embed")]
    for doc, prefix in (("docs/serve.md", ""), ("README.md", "docs/")):
        text = (PROJECT_ROOT / doc).read_text(encoding="utf-8")
        assert [n for n in names if f"]({prefix}{n})" not in text] == [], doc
    for name in names:
        assert (PROJECT_ROOT / "docs" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
