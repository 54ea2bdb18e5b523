"""/search returns what ``Index.search`` returns for the same query and options."""

from __future__ import annotations

import pytest

from simmatch.index import DEFAULT_MODE, Index
from simmatch.service import LoadedModels, ServiceSettings, create_app

from .conftest import running

DOCS = [
    {"id": "a", "text": "吃完海鲜可以喝牛奶吗?", "metadata": {"lang": "zh", "topic": "food"}},
    {"id": "b", "text": "吃海鲜不能同时喝牛奶吃水果", "metadata": {"lang": "zh", "topic": "food"}},
    {"id": "c", "text": "今天天气怎么样", "metadata": {"lang": "zh", "topic": "weather"}},
    {"id": "d", "text": "how are you today", "metadata": {"lang": "en", "topic": "chat"}},
    {"id": "e", "text": "what a good day for a walk", "metadata": {"lang": "en", "topic": "weather"}},
]


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory, tiny_embedder):
    path = tmp_path_factory.mktemp("service-index") / "idx"
    with Index.create(path, tiny_embedder) as index:
        index.add(DOCS)
    return path


@pytest.fixture(scope="module")
def served(index_dir, tiny_embedder, cross3):
    index = Index.open(index_dir, tiny_embedder, read_only=True)
    with running(LoadedModels(tiny_embedder, cross3, index)) as c:
        yield c, index


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"mode": "bm25", "top_k": 3},
        {"mode": "hybrid", "top_k": 4},
        {"mode": "dense", "filter": {"lang": "zh"}},
        {"mode": "hybrid", "rerank": True, "rerank_top_k": 5, "top_k": 2},
        {"rerank": True, "rerank_top_k": 4, "rerank_fusion": "replace"},
        {"rerank": True, "rerank_top_k": 4, "rerank_fusion": "rrf"},
    ],
)
def test_search_equals_index_search(served, cross3, options):
    client, index = served
    query = "喝牛奶 海鲜"
    r = client.post("/search", json={"query": query, **options})
    assert r.status_code == 200, r.text
    kwargs = {k: v for k, v in options.items() if k != "rerank"}
    want = index.search(query, rerank=cross3 if options.get("rerank") else None, **kwargs)
    hits = r.json()["hits"]
    assert [h["id"] for h in hits] == [w.id for w in want]
    for got, exp in zip(hits, want):
        assert (got["text"], got["metadata"]) == (exp.text, exp.metadata)
        assert got["score"] == pytest.approx(exp.score, abs=1e-5)
        assert got["scores"] == pytest.approx(exp.scores, abs=1e-5)
    # Without a mode, HTTP searches with the library's default mode (declared once, simmatch.index.options).
    assert r.json()["mode"] == options.get("mode", DEFAULT_MODE)


def test_search_errors(served):
    client, _ = served
    r = client.post("/search", json={"query": "q", "rerank": True, "rerank_fusion": "mean"})
    assert r.status_code == 422 and "rerank_fusion" in r.text
    r = client.post("/search", json={"query": "q", "filter": {"lang": ["zh"]}})
    assert r.status_code == 422
    assert r.json()["error"] == {
        "type": "input_error",
        "message": (
            "filter value for 'lang' must be a string, number, boolean or null (equality only), got list"
        ),
        "param": "filter",
    }
    r = client.post("/search", json={"query": "q", "top_k": 1000})
    assert r.status_code == 422
    assert r.json()["error"]["message"] == "top_k=1000 exceeds max_items_per_request=256"


def test_models_describe_the_index(served):
    client, _ = served
    assert client.get("/models").json()["index"] == {"name": "idx", "documents": len(DOCS)}


def test_index_loaded_from_settings(index_dir, tiny_embedder_dir):
    from fastapi.testclient import TestClient

    app = create_app(ServiceSettings(model=str(tiny_embedder_dir), index=index_dir, device="cpu"))
    with TestClient(app) as c:
        hits = c.post("/search", json={"query": "天气", "mode": "bm25"}).json()["hits"]
        assert {h["id"] for h in hits} >= {"c"}
        r = c.post("/search", json={"query": "天气", "rerank": True})
        assert r.status_code == 400
        assert (
            r.json()["error"]["message"]
            == "rerank needs a cross-encoder: start the service with --cross-encoder PATH"
        )
