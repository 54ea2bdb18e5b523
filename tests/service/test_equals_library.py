"""The HTTP answers of /similarity, /compare and /rerank equal the library's for the same input:
scores to 1e-6, and order, indices and labels exactly (the engine computes them with the
library's own functions)."""

from __future__ import annotations

import numpy as np
import pytest

from simmatch.service import LoadedModels

from .conftest import running

PAIRS = [
    ("吃完海鲜可以喝牛奶吗?", "吃海鲜不能同时喝牛奶吃水果"),
    ("你好", "你好"),
    ("how are you today", "今天天气怎么样"),
    ("cat", "dog"),
    ("  牛奶 milk ", "milk"),
]
QUERY = "喝牛奶 海鲜"
DOCS = ["吃海鲜不能同时喝牛奶吃水果", "你好", "cat", "今天天气怎么样", "milk 牛奶", "你好"]
TOL = 1e-6


@pytest.fixture(scope="module")
def served(tiny_embedder, cross3, regression):
    """Three services: cosine only, a 3-label cross-encoder, a regression head."""
    with (
        running(LoadedModels(tiny_embedder), auth=False) as cosine,
        running(LoadedModels(tiny_embedder, cross3), auth=False) as graded,
        running(LoadedModels(tiny_embedder, regression), auth=False) as reg,
    ):
        yield {"cosine": (cosine, tiny_embedder), "cross3": (graded, cross3), "regression": (reg, regression)}


def test_similarity_cosine_equals_similarity_pairwise(served):
    client, embedder = served["cosine"]
    body = client.post("/similarity", json={"pairs": [list(p) for p in PAIRS]}).json()
    want = embedder.similarity_pairwise([a for a, _ in PAIRS], [b for _, b in PAIRS])
    assert body["method"] == "cosine" and body["labels"] is None
    assert [d["score"] for d in body["data"]] == pytest.approx(want.tolist(), abs=TOL)
    assert all(d["label"] is None and d["probabilities"] is None for d in body["data"])


@pytest.mark.parametrize("head", ["cross3", "regression"])
def test_similarity_cross_encoder_equals_predict(served, head):
    client, clf = served[head]
    body = client.post("/similarity", json={"pairs": [list(p) for p in PAIRS]}).json()
    want = clf.predict(PAIRS)
    assert body["method"] == "cross-encoder" and body["labels"] == clf.labels
    assert [d["label"] for d in body["data"]] == [p.label for p in want]
    for got, exp in zip(body["data"], want, strict=True):
        assert got["probabilities"] == pytest.approx(exp.probabilities, abs=TOL)
        assert got["score"] == pytest.approx(exp.score, abs=TOL)


@pytest.mark.parametrize("return_embeddings", [False, True])
def test_compare_equals_embedder_compare(served, return_embeddings):
    client, embedder = served["cosine"]
    src, candidates = PAIRS[0][0], [b for _, b in PAIRS]
    body = client.post(
        "/compare",
        json={
            "source_sentence": [src],
            "sentences_to_compare": candidates,
            "return_embeddings": return_embeddings,
        },
    ).json()
    want = embedder.compare([src], candidates)
    assert body["scores"] == pytest.approx(want["scores"], abs=TOL)
    if return_embeddings:
        np.testing.assert_allclose(np.array(body["text_embedding"]), want["text_embedding"], atol=TOL)
    else:
        assert "text_embedding" not in body


@pytest.mark.parametrize("head", ["cosine", "cross3", "regression"])
@pytest.mark.parametrize("top_n", [None, 1, 3])
def test_rerank_equals_rank(served, head, top_n):
    """Same indices in the same order (ties, like the repeated "你好", keep input order) and the
    same scores as ``Embedder.rank`` / ``PairClassifier.rank`` with ``top_k=top_n``."""
    client, model = served[head]
    request = {"query": QUERY, "documents": DOCS, "return_documents": True}
    if top_n is not None:
        request["top_n"] = top_n
    body = client.post("/rerank", json=request).json()
    want = model.rank(QUERY, DOCS, top_k=top_n)
    assert body["method"] == ("cosine" if head == "cosine" else "cross-encoder")
    assert [(r["index"], r["document"]["text"]) for r in body["results"]] == [(d.index, d.text) for d in want]
    assert [r["relevance_score"] for r in body["results"]] == pytest.approx([d.score for d in want], abs=TOL)


def test_engine_is_the_async_library_api(tiny_embedder, cross3):
    """The engine answers without HTTP: each method gives what the library gives."""
    import asyncio

    from simmatch.service import Engine, ServiceSettings

    async def main():
        engine = Engine(ServiceSettings(model=tiny_embedder.model_name), LoadedModels(tiny_embedder, cross3))
        engine.start()
        try:
            return await asyncio.gather(
                engine.embed(DOCS, "passage"),
                engine.similarity(PAIRS),
                engine.compare(QUERY, DOCS),
                engine.rerank(QUERY, DOCS, 2),
            )
        finally:
            await engine.stop()

    embedded, similar, compared, ranked = asyncio.run(main())
    np.testing.assert_allclose(embedded.vectors, tiny_embedder.encode(DOCS, kind="passage"), atol=TOL)
    assert embedded.tokens == sum(tiny_embedder.count_tokens(DOCS, kind="passage"))
    assert [p.label for p in similar.predictions] == [p.label for p in cross3.predict(PAIRS)]
    assert compared["scores"] == pytest.approx(tiny_embedder.compare(QUERY, DOCS)["scores"], abs=TOL)
    assert [(d.index, d.text) for d in ranked.results] == [
        (d.index, d.text) for d in cross3.rank(QUERY, DOCS, 2)
    ]
