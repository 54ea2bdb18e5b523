"""Each endpoint returns what the library returns for the same input."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from simmatch.service import LoadedModels

from .conftest import running

TEXTS = ["吃完海鲜可以喝牛奶吗?", "hello world", "今天天气怎么样", "可以喝柠檬水吗"]
PAIRS = [
    ("吃完海鲜可以喝牛奶吗?", "吃海鲜不能同时喝牛奶吃水果"),
    ("how are you", "what a good day"),
    ("我爱吃水果", "他不喜欢蔬菜"),
]


def _vectors(body: dict) -> np.ndarray:
    return np.array([row["embedding"] for row in body["data"]], dtype=np.float32)


# ---------------------------------------------------------------------------- /v1/embeddings
def test_embeddings_equal_library(client, tiny_embedder):
    r = client.post("/v1/embeddings", json={"input": TEXTS, "model": "tiny-embedder"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "list"
    assert body["model"] == "tiny-embedder"
    assert [d["index"] for d in body["data"]] == list(range(len(TEXTS)))
    assert all(d["object"] == "embedding" for d in body["data"])
    np.testing.assert_allclose(_vectors(body), tiny_embedder.encode(TEXTS, kind="query"), atol=1e-5)
    tokens = sum(tiny_embedder.count_tokens(TEXTS, kind="query"))
    assert body["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}


def test_embeddings_single_string_and_passage_kind(client, tiny_embedder):
    one = client.post("/v1/embeddings", json={"input": TEXTS[0]}).json()
    assert len(one["data"]) == 1
    np.testing.assert_allclose(_vectors(one)[0], tiny_embedder.encode(TEXTS[0]), atol=1e-5)
    passage = client.post("/v1/embeddings", json={"input": TEXTS[0], "input_type": "passage"}).json()
    expected = tiny_embedder.encode(TEXTS[0], kind="passage")
    np.testing.assert_allclose(_vectors(passage)[0], expected, atol=1e-5)
    assert not np.allclose(_vectors(passage)[0], _vectors(one)[0], atol=1e-3)  # the prompt mattered
    assert passage["usage"]["prompt_tokens"] == tiny_embedder.count_tokens(TEXTS[0], kind="passage")[0]


def test_embeddings_base64_is_little_endian_float32(client, tiny_embedder):
    body = client.post("/v1/embeddings", json={"input": TEXTS, "encoding_format": "base64"}).json()
    decoded = np.stack([np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4") for d in body["data"]])
    np.testing.assert_allclose(decoded, tiny_embedder.encode(TEXTS), atol=1e-5)


def test_embeddings_dimensions_only_when_equal(client, tiny_embedder):
    ok = client.post("/v1/embeddings", json={"input": "a", "dimensions": tiny_embedder.dim})
    assert ok.status_code == 200
    r = client.post("/v1/embeddings", json={"input": "a", "dimensions": 8})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["param"] == "dimensions"
    assert f"gives {tiny_embedder.dim}-dimensional" in err["message"]


@pytest.mark.parametrize("tokens", [[1, 2, 3], [[1, 2], [3]]])
def test_embeddings_reject_token_ids(client, tokens):
    r = client.post("/v1/embeddings", json={"input": tokens})
    assert r.status_code == 422
    assert "token-id input (lists of integers) is not supported" in r.json()["error"]["message"]
    assert r.json()["error"]["param"] == "input"


def test_embeddings_unknown_model_and_field(client):
    r = client.post("/v1/embeddings", json={"input": "a", "model": "text-embedding-3-small"})
    assert r.status_code == 422
    assert r.json()["error"] == {
        "type": "model_not_found",
        "message": "model 'text-embedding-3-small' is not loaded; this service embeds with 'tiny-embedder'",
        "param": "model",
    }
    r = client.post("/v1/embeddings", json={"input": "a", "normalise": True})
    assert r.status_code == 422
    assert r.json()["error"]["message"] == "normalise: Extra inputs are not permitted"


def test_embeddings_bad_text_is_the_library_message(client):
    r = client.post("/v1/embeddings", json={"input": ["ok", "  "]})
    assert r.status_code == 422
    assert r.json()["error"] == {
        "type": "input_error",
        "message": "input[1] is empty or whitespace only",
        "param": "input",
    }


# ---------------------------------------------------------------------------- /similarity
def test_similarity_cross_encoder_equals_predict(client, cross3):
    r = client.post("/similarity", json={"pairs": [list(p) for p in PAIRS]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["method"] == "cross-encoder"
    assert body["model"] == "tiny-cross3"
    assert body["labels"] == ["0", "1", "2"]
    for got, want in zip(body["data"], cross3.predict(PAIRS)):
        assert got["label"] == want.label
        assert got["probabilities"] == pytest.approx(want.probabilities, abs=1e-5)
        assert got["score"] == pytest.approx(want.score, abs=1e-5)


def test_similarity_regression_head(tiny_embedder, regression):
    with running(LoadedModels(tiny_embedder, regression)) as c:
        body = c.post("/similarity", json={"pairs": [list(p) for p in PAIRS]}).json()
    assert body["labels"] == regression.labels
    for got, want in zip(body["data"], regression.predict(PAIRS)):
        assert got["label"] == want.label
        assert got["probabilities"] == {}
        assert got["score"] == pytest.approx(want.score, abs=1e-5)


def test_similarity_cosine_without_cross_encoder(cosine_client, tiny_embedder):
    body = cosine_client.post("/similarity", json={"pairs": [list(p) for p in PAIRS]}).json()
    assert body["method"] == "cosine"
    assert body["labels"] is None
    expected = [tiny_embedder.similarity(a, b) for a, b in PAIRS]
    assert [d["score"] for d in body["data"]] == pytest.approx(expected, abs=1e-5)
    assert all(d["label"] is None and d["probabilities"] is None for d in body["data"])


# ---------------------------------------------------------------------------- /compare
def test_compare_equals_library(client, tiny_embedder):
    src, cands = TEXTS[0], TEXTS[1:]
    want = tiny_embedder.compare(src, cands)
    plain = client.post("/compare", json={"source_sentence": [src], "sentences_to_compare": cands}).json()
    assert set(plain) == {"model", "scores"}
    assert plain["scores"] == pytest.approx(want["scores"], abs=1e-5)
    full = client.post(
        "/compare", json={"source_sentence": src, "sentences_to_compare": cands, "return_embeddings": True}
    ).json()
    np.testing.assert_allclose(np.array(full["text_embedding"]), want["text_embedding"], atol=1e-5)


def test_compare_source_must_be_one_text(client):
    r = client.post("/compare", json={"source_sentence": ["a", "b"], "sentences_to_compare": ["c"]})
    assert r.status_code == 422
    assert r.json()["error"]["message"] == "source_sentence must hold one text, got 2"


# ---------------------------------------------------------------------------- /rerank
def test_rerank_equals_pair_classifier_rank(client, cross3):
    query, docs = TEXTS[0], TEXTS[1:]
    want = cross3.rank(query, docs, top_k=2)
    body = client.post("/rerank", json={"query": query, "documents": docs, "top_n": 2}).json()
    assert body["method"] == "cross-encoder"
    assert [r["index"] for r in body["results"]] == [d.index for d in want]
    assert [r["relevance_score"] for r in body["results"]] == pytest.approx([d.score for d in want], abs=1e-5)
    assert all("document" not in r for r in body["results"])
    # TEI's field name, with the documents returned
    tei = client.post("/rerank", json={"query": query, "texts": docs, "return_documents": True}).json()
    assert [r["document"]["text"] for r in tei["results"]] == [d.text for d in cross3.rank(query, docs)]


def test_rerank_cosine_equals_embedder_rank(cosine_client, tiny_embedder):
    query, docs = TEXTS[0], TEXTS[1:]
    want = tiny_embedder.rank(query, docs)
    body = cosine_client.post("/rerank", json={"query": query, "documents": docs}).json()
    assert body["method"] == "cosine"
    assert [r["index"] for r in body["results"]] == [d.index for d in want]
    assert [r["relevance_score"] for r in body["results"]] == pytest.approx([d.score for d in want], abs=1e-5)


@pytest.mark.parametrize("extra", [{}, {"documents": ["a"], "texts": ["a"]}])
def test_rerank_needs_exactly_one_document_list(client, extra):
    r = client.post("/rerank", json={"query": "q", **extra})
    assert r.status_code == 422
    assert "exactly one of 'documents' or 'texts'" in r.json()["error"]["message"]


# ---------------------------------------------------------------------------- /models, /health
def test_models_lists_loaded_models(client, tiny_embedder):
    body = client.get("/models").json()
    emb, cross = body["data"]
    assert emb == {
        "id": "tiny-embedder",
        "object": "model",
        "created": 0,
        "owned_by": "simmatch",
        "role": "embedder",
        "backend": "torch",
        "dim": tiny_embedder.dim,
        "max_seq_length": tiny_embedder.max_seq_length,
        "prompts": {"query": "query: ", "passage": "passage: "},
    }
    assert cross["id"] == "tiny-cross3"
    assert cross["labels"] == ["0", "1", "2"]
    assert cross["regression"] is False
    assert client.get("/v1/models").json() == body


def test_health_reports_batching(client):
    client.post("/v1/embeddings", json={"input": ["a", "b"]})
    body = client.get("/health", headers={"Authorization": ""}).json()
    assert body["status"] == "ok"
    assert body["batching"]["embed-query"]["items"] >= 2
    assert set(body["batching"]) == {"embed-query", "embed-passage", "pairs"}


def test_health_reports_the_model_workers_busy_time(client):
    """``worker_busy_s`` / ``worker_calls`` (issue 16): the bench divides the change in busy time
    by the window's length to show whether the worker waits between calls."""
    before = client.get("/health").json()
    client.post("/v1/embeddings", json={"input": ["a", "b"]})
    after = client.get("/health").json()
    engine = client.app.state.engine
    assert after["worker_calls"] == before["worker_calls"] + 1 == engine.worker.calls
    assert after["worker_busy_s"] > before["worker_busy_s"] >= 0
