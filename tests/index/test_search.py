"""Search results on the fixture corpus: BM25, dense, hybrid fusion, reranking, filters."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simmatch.errors import InputError
from simmatch.index import RRF_K, reciprocal_rank_fusion
from simmatch.index.tokenize import auto_tokens, jieba_tokens, word_tokens

from .conftest import CORPUS


def lucene_bm25(query_tokens, docs_tokens, k1=1.5, b=0.75):
    """Independent BM25 (Lucene variant, as bm25s's default): idf = ln(1 + (N - df + .5)/(df + .5)),
    term score = idf * tf / (tf + k1 * (1 - b + b * dl / avgdl))."""
    n = len(docs_tokens)
    avgdl = sum(len(d) for d in docs_tokens) / n
    scores = []
    for doc in docs_tokens:
        total = 0.0
        for token in set(query_tokens):
            df = sum(token in d for d in docs_tokens)
            if not df:
                continue
            tf = doc.count(token)
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            total += idf * tf / (tf + k1 * (1 - b + b * len(doc) / avgdl))
        scores.append(total)
    return scores


def test_tokenizers():
    assert word_tokens("Ｈｅｌｌｏ, World! iPhone12") == ["hello", "world", "iphone12"]
    assert jieba_tokens("苹果手机多少钱？") == ["苹果", "手机", "多少", "钱"]
    assert auto_tokens("Beijing weather") == ["beijing", "weather"]
    assert auto_tokens("北京天气怎么样") == ["北京", "天气", "怎么", "怎么样"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("北京天气怎么样", ["zh-3", "zh-2", "zh-4"]),
        ("手机多少钱", ["zh-1", "zh-2"]),
        ("Beijing weather", ["en-3", "en-4"]),
        ("phone battery", ["en-2"]),
    ],
)
def test_bm25_exact(filled, query, expected):
    hits = filled.search(query, top_k=5, mode="bm25")
    assert [h.id for h in hits] == expected  # only documents sharing a token are returned
    tokens = [auto_tokens(doc["text"]) for doc in CORPUS]
    reference = dict(zip([d["id"] for d in CORPUS], lucene_bm25(auto_tokens(query), tokens)))
    for rank, hit in enumerate(hits, 1):
        assert hit.score == pytest.approx(reference[hit.id], rel=1e-5)
        assert hit.scores == {"bm25": hit.score, "bm25_rank": rank}
    top_scores = {
        "北京天气怎么样": 2.6672,
        "手机多少钱": 2.6442,
        "Beijing weather": 1.2589,
        "phone battery": 1.5406,
    }
    assert hits[0].score == pytest.approx(top_scores[query], abs=1e-4)


def test_bm25_no_shared_token_returns_nothing(filled):
    assert filled.search("zzz unknown", mode="bm25") == []


@pytest.mark.parametrize(
    ("query", "expected_top3"),
    [
        ("北京天气怎么样", ["zh-3", "zh-2", "zh-5"]),
        ("手机多少钱", ["zh-1", "zh-2", "en-1"]),
        ("Beijing weather", ["en-3", "en-2", "en-5"]),
        ("passport", ["en-4", "en-5", "en-1"]),
    ],
)
def test_dense_exact(filled, encoder, query, expected_top3):
    hits = filled.search(query, top_k=10, mode="dense")
    assert [h.id for h in hits[:3]] == expected_top3
    # Scores are the cosine of the fake encoder's vectors, all ten documents ranked.
    doc_vectors = encoder.encode([d["text"] for d in CORPUS])
    cosine = doc_vectors @ encoder.encode(query)
    reference = dict(zip([d["id"] for d in CORPUS], cosine))
    assert len(hits) == len(CORPUS)
    for rank, hit in enumerate(hits, 1):
        assert hit.score == pytest.approx(float(reference[hit.id]), abs=1e-5)
        assert hit.scores["dense_rank"] == rank
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].text == next(d["text"] for d in CORPUS if d["id"] == hits[0].id)
    assert hits[0].metadata == next(d["metadata"] for d in CORPUS if d["id"] == hits[0].id)


def test_rrf_hand_example():
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a", "d"]])
    assert RRF_K == 60
    expected = {"a": 1 / 61 + 1 / 62, "c": 1 / 63 + 1 / 61, "b": 1 / 62, "d": 1 / 63}
    assert [key for key, _ in fused] == ["a", "c", "b", "d"]
    for key, score in fused:
        assert score == pytest.approx(expected[key], abs=1e-15)
    # Ties: equal fused score -> better single rank first, then first appearance.
    assert [k for k, _ in reciprocal_rank_fusion([["x", "y"], ["y", "x"]])] == ["x", "y"]
    assert [k for k, _ in reciprocal_rank_fusion([["p"], ["q"]], k=1)] == ["p", "q"]


def test_hybrid_scores_are_rrf_of_stage_ranks(filled):
    query = "北京天气怎么样"
    hits = filled.search(query, top_k=4, mode="hybrid")
    dense = {h.id: (r, h.score) for r, h in enumerate(filled.search(query, top_k=100, mode="dense"), 1)}
    bm25 = {h.id: (r, h.score) for r, h in enumerate(filled.search(query, top_k=100, mode="bm25"), 1)}
    # dense ranks zh-3 1, zh-2 2, zh-5 3, zh-4 4; bm25 ranks zh-3 1, zh-2 2, zh-4 3.
    assert [h.id for h in hits] == ["zh-3", "zh-2", "zh-4", "zh-5"]
    assert hits[2].score == pytest.approx(1 / (60 + dense["zh-4"][0]) + 1 / 63)
    for rank, hit in enumerate(hits, 1):
        expected = 1 / (RRF_K + dense[hit.id][0]) + (1 / (RRF_K + bm25[hit.id][0]) if hit.id in bm25 else 0)
        assert hit.score == pytest.approx(expected, abs=1e-12)
        assert hit.scores["rrf"] == hit.score
        assert hit.scores["fusion_rank"] == rank
        assert hit.scores["dense"] == pytest.approx(dense[hit.id][1], abs=1e-6)
        assert hit.scores["bm25"] == pytest.approx(bm25[hit.id][1] if hit.id in bm25 else 0.0, abs=1e-6)
        assert ("bm25_rank" in hit.scores) == (hit.id in bm25)


def test_rerank(filled, reranker):
    hits = filled.search(
        "Beijing weather today",
        top_k=3,
        mode="hybrid",
        rerank=reranker,
        rerank_top_k=6,
        rerank_fusion="replace",
    )
    assert reranker.calls == 1
    first_stage = filled.search("Beijing weather today", top_k=6, mode="hybrid")
    expected = sorted(first_stage, key=lambda h: -len(set("beijing weather today") & set(h.text.lower())))[:3]
    assert [h.id for h in hits] == [h.id for h in expected]
    for hit in hits:
        assert hit.score == hit.scores["rerank"]
        assert {"rrf", "dense", "bm25", "first_stage_rank"} <= set(hit.scores)
    # Only the first stage's top rerank_top_k reach the reranker.
    assert all(h.id in {f.id for f in first_stage} for h in hits)


def test_rerank_rrf_fuses_first_stage_and_reranker_ranks(filled, reranker):
    query = "Beijing weather today"
    first_stage = filled.search(query, top_k=6, mode="hybrid")
    replaced = filled.search(
        query, top_k=6, mode="hybrid", rerank=reranker, rerank_top_k=6, rerank_fusion="replace"
    )
    fused = filled.search(query, top_k=6, mode="hybrid", rerank=reranker, rerank_top_k=6)  # rrf: the default
    expected = reciprocal_rank_fusion([[h.id for h in first_stage], [h.id for h in replaced]])
    assert [h.id for h in fused] == [doc_id for doc_id, _ in expected]
    for hit, (_, value) in zip(fused, expected):
        assert hit.score == pytest.approx(value)
        assert hit.scores["rerank_rank"] == [h.id for h in replaced].index(hit.id) + 1
        assert hit.scores["first_stage_rank"] == [h.id for h in first_stage].index(hit.id) + 1
    with pytest.raises(InputError, match="rerank_fusion"):
        filled.search(query, rerank=reranker, rerank_fusion="mean")


def test_rerank_top_k_below_top_k_reranks_the_head_and_keeps_the_tail(filled, reranker):
    first_stage = filled.search("phone", top_k=5, mode="dense")
    hits = filled.search("phone", top_k=5, mode="dense", rerank=reranker, rerank_top_k=2)
    assert len(hits) == 5
    assert {h.id for h in hits[:2]} == {h.id for h in first_stage[:2]}
    assert all("rerank" in h.scores for h in hits[:2])
    # The tail is never sent to the reranker: first-stage order and scores, no rerank score.
    assert [(h.id, h.score) for h in hits[2:]] == [(h.id, h.score) for h in first_stage[2:]]
    assert all("rerank" not in h.scores for h in hits[2:])


def test_filter_applied_before_top_k(filled):
    hits = filled.search("北京天气怎么样", top_k=5, mode="dense", filter={"lang": "en"})
    assert len(hits) == 5 and {h.metadata["lang"] for h in hits} == {"en"}
    hits = filled.search("phone", top_k=3, mode="hybrid", filter={"lang": "zh", "topic": "phone"})
    assert sorted(h.id for h in hits) == ["zh-1", "zh-2"]
    assert [h.id for h in filled.search("天气", mode="bm25", filter={"topic": "weather"})] == ["zh-3"]
    assert filled.search("天气", mode="bm25", filter={"topic": "food"}) == []
    assert filled.search("x", mode="dense", filter={"lang": "fr"}) == []


def test_filter_compares_json_types(filled):
    assert [h.id for h in filled.search("pork", filter={"stars": 5})] == ["en-5"]
    assert [h.id for h in filled.search("pork", filter={"stars": 5.0})] == ["en-5"]
    assert filled.search("pork", filter={"stars": "5"}) == []
    assert filled.search("pork", filter={"stars": True}) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "sparse"}, "unknown mode 'sparse'"),
        ({"top_k": 0}, "top_k must be a positive integer"),
        ({"filter": {"lang": ["en"]}}, "equality only"),
        ({"filter": "lang=en"}, "filter must be a dict"),
        ({"rerank": object()}, "scores"),
    ],
)
def test_search_rejects_bad_options(filled, kwargs, message):
    with pytest.raises(InputError, match=message):
        filled.search("phone", **kwargs)


def test_search_rejects_bad_queries(filled):
    with pytest.raises(InputError, match="query 1 must be a non-empty string"):
        filled.search_batch(["ok", "  "])
    with pytest.raises(InputError, match="query must be a string"):
        filled.search(["a list"])


def test_search_batch_matches_single_searches(filled):
    queries = ["北京天气怎么样", "phone battery", "passport"]
    for mode in ("dense", "bm25", "hybrid"):
        batch = filled.search_batch(queries, top_k=4, mode=mode)
        for query, hits in zip(queries, batch):
            single = filled.search(query, top_k=4, mode=mode)
            assert [h.id for h in hits] == [h.id for h in single]
            assert np.allclose([h.score for h in hits], [h.score for h in single])
