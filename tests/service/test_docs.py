"""The curl examples in docs/serve.md are valid requests: each one, sent to a service over the
tiny models, succeeds."""

from __future__ import annotations

import json
import re
from pathlib import Path

from simmatch.service import LoadedModels

from .conftest import running

DOC = Path(__file__).resolve().parents[2] / "docs" / "serve.md"
CURL = re.compile(r"^curl -s localhost:8000(/\S+) .* -d '(.+)'$", re.MULTILINE)


def _examples() -> list[tuple[str, dict]]:
    return [(path, json.loads(body)) for path, body in CURL.findall(DOC.read_text(encoding="utf-8"))]


def test_doc_has_examples():
    paths = [p for p, _ in _examples()]
    assert paths == ["/v1/embeddings", "/similarity", "/compare", "/rerank", "/search"]


def test_doc_examples_succeed(tmp_path, tiny_embedder, cross3):
    from simmatch.index import Index

    with Index.create(tmp_path / "idx", tiny_embedder) as index:
        index.add([{"id": "1", "text": "吃海鲜不能同时喝牛奶", "metadata": {"lang": "zh"}}])
    index = Index.open(tmp_path / "idx", tiny_embedder, read_only=True)
    with running(LoadedModels(tiny_embedder, cross3, index)) as client:
        for path, body in _examples():
            body.pop("model", None)  # the docs name the built-in model; this service runs a tiny one
            r = client.post(path, json=body)
            assert r.status_code == 200, (path, r.text)
