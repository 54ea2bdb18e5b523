"""The exact dense search and BM25 helpers that the index, hard-negative mining and the retrieval
evaluator share, checked against a plain numpy / bm25s computation."""

from __future__ import annotations

import numpy as np
import pytest

from simmatch.errors import InputError
from simmatch.index import DEFAULT_MODE, MODES, RERANK_FUSIONS, Index, IndexConfig
from simmatch.index.lexical import LexicalIndex
from simmatch.index.vectors import exact_search, top_k


def test_top_k_orders_best_first_and_breaks_ties_by_position():
    scores = np.array([0.5, 0.9, 0.5, 0.1, 0.9], dtype=np.float32)
    assert top_k(scores, 3).tolist() == [1, 4, 0]
    assert top_k(scores, 10).tolist() == [1, 4, 0, 2, 3]
    assert top_k(scores, 0).tolist() == []
    assert top_k(np.array([], dtype=np.float32), 3).tolist() == []


@pytest.mark.parametrize("metric", ["ip", "cosine", "l2"])
def test_exact_search_equals_brute_force(metric):
    rng = np.random.default_rng(0)
    queries = rng.normal(size=(7, 16)).astype(np.float32)
    vectors = rng.normal(size=(50, 16)).astype(np.float32)
    scores, ids = exact_search(queries, vectors, 5, metric)
    q, v = queries.astype(np.float64), vectors.astype(np.float64)
    if metric == "cosine":
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        v = v / np.linalg.norm(v, axis=1, keepdims=True)
    brute = -((q[:, None, :] - v[None, :, :]) ** 2).sum(-1) if metric == "l2" else q @ v.T
    assert ids.tolist() == np.argsort(-brute, axis=1, kind="stable")[:, :5].tolist()
    assert np.allclose(scores, np.take_along_axis(brute, ids, axis=1), atol=1e-4)
    assert exact_search(queries, vectors[:3], 5, metric)[1].shape == (7, 3)
    with pytest.raises(InputError, match="unknown metric"):
        exact_search(queries, vectors, 5, "dot")


def test_lexical_top_equals_bm25s_scores():
    import bm25s

    corpus = [["北京", "天气"], ["手机", "价格"], ["北京", "手机"], ["护照"]]
    lexical = LexicalIndex.build(range(len(corpus)), corpus)
    reference = bm25s.BM25()
    reference.index(corpus, show_progress=False)
    expected = np.asarray(reference.get_scores(["北京", "手机"]), dtype=np.float32)
    order = np.argsort(-expected, kind="stable")
    hits = lexical.top(lexical.scores(["北京", "手机"]), 4, positive_only=False)
    assert [row for row, _ in hits] == order.tolist()
    assert np.allclose([score for _, score in hits], expected[order])
    positive = lexical.search([["北京", "手机"], ["nothing"]], 4)
    assert [row for row, _ in positive[0]] == [int(i) for i in order if expected[i] > 0]
    assert positive[1] == []


def test_vocabulary_is_declared_once():
    assert DEFAULT_MODE == "hybrid" and DEFAULT_MODE in MODES
    assert MODES == ("dense", "bm25", "hybrid") and RERANK_FUSIONS == ("replace", "rrf")
    assert Index.search.__defaults__[1] == DEFAULT_MODE  # type: ignore[index]
    with pytest.raises(InputError, match="unknown metric 'dot'"):
        IndexConfig(metric="dot")
    with pytest.raises(InputError, match="ann_threshold must be a positive integer"):
        IndexConfig(ann_threshold=0)


def test_open_loads_the_recorded_encoder_and_rerank_takes_a_directory(filled, monkeypatch):
    from simmatch.index import encoders

    from .conftest import FakeEncoder, FakeReranker

    loaded: list[str] = []
    monkeypatch.setattr(encoders, "load_encoder", lambda name: loaded.append(str(name)) or FakeEncoder())
    monkeypatch.setattr(encoders, "load_reranker", lambda path: FakeReranker())
    expected = filled.search("phone", rerank=FakeReranker())
    filled.close()
    with Index.open(filled.path, load_encoder=True, read_only=True) as index:
        assert loaded == ["fake-ngram-64"]
        assert index.search("phone", rerank="some/cross-encoder") == expected
