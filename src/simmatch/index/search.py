"""The search pipeline behind ``Index.search``: first stage (dense, BM25 or their reciprocal-rank
fusion) over one database snapshot, then optional cross-encoder reranking of the head.

A first stage yields, per query, ``[(row_id, score, scores_dict)]`` best first; ``Index`` turns row
ids into ``SearchHit``s and hands them to ``rerank``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from simmatch.errors import InputError
from simmatch.index.derived import DerivedState
from simmatch.index.encoders import as_reranker
from simmatch.index.fusion import reciprocal_rank_fusion
from simmatch.index.lexical import LexicalIndex
from simmatch.index.options import FUSION_CANDIDATES, MODES, RERANK_FUSIONS, choice, positive_int
from simmatch.index.store import Store
from simmatch.index.types import SearchHit, check_filter
from simmatch.index.vectors import AnnParams, exact_scores, exact_search

# Per query: ``[(row_id, score, scores_dict)]``, best first.
Ranked = list[tuple[int, float, dict[str, float]]]


@dataclass(frozen=True)
class SearchRequest:
    """Validated arguments of one ``Index.search_batch`` call."""

    queries: list[str]
    top_k: int
    mode: str
    reranker: Any
    rerank_top_k: int
    conditions: dict[str, Any]
    batch_size: int
    rerank_fusion: str

    @classmethod
    def check(
        cls,
        queries: Sequence[str],
        *,
        top_k: int,
        mode: str,
        rerank: Any,
        rerank_top_k: int,
        filter: Mapping[str, Any] | None,
        batch_size: int,
        rerank_fusion: str,
    ) -> SearchRequest:
        if isinstance(queries, str) or not isinstance(queries, Sequence):
            raise InputError("queries must be a list of strings")
        for position, query in enumerate(queries):
            if not isinstance(query, str) or not query.strip():
                raise InputError(f"query {position} must be a non-empty string, got {query!r}")
        positive_int("top_k", top_k)
        positive_int("rerank_top_k", rerank_top_k)
        positive_int("batch_size", batch_size)
        choice("mode", mode, MODES)
        choice("rerank_fusion", rerank_fusion, RERANK_FUSIONS)
        conditions = check_filter(filter)
        reranker = as_reranker(rerank)
        return cls(list(queries), top_k, mode, reranker, rerank_top_k, conditions, batch_size, rerank_fusion)

    @property
    def depth(self) -> int:
        """How many first-stage hits each query needs."""
        return max(self.top_k, self.rerank_top_k) if self.reranker is not None else self.top_k

    @property
    def needs_vectors(self) -> bool:
        return self.mode in ("dense", "hybrid")

    def finish(self, results: list[list[SearchHit]]) -> list[list[SearchHit]]:
        """Rerank the first-stage hits when a reranker was asked for."""
        if self.reranker is None:
            return results
        return rerank(self.reranker, self.queries, results, self.top_k, self.rerank_top_k, self.rerank_fusion)


class FirstStage:
    """Dense, BM25 and hybrid candidate lists of one open index. Call inside a store snapshot,
    under the owning index's lock."""

    def __init__(self, store: Store, derived: DerivedState, tokenize: Any, settings: dict[str, Any]):
        self.store = store
        self.derived = derived
        self.tokenize = tokenize
        self.dim = int(settings["dim"])
        self.metric = str(settings["metric"])
        self.params = AnnParams.from_dict(settings["ann_params"])

    def hits(self, request: SearchRequest, query_vectors: np.ndarray | None) -> list[list[SearchHit]]:
        """The first stage's hits of every query (inside a store snapshot)."""
        queries, depth = request.queries, request.depth
        allowed = self.store.filter_row_ids(request.conditions) if request.conditions else None
        if allowed is not None and not len(allowed):
            return [[] for _ in queries]
        if query_vectors is None:  # mode == "bm25"
            ranked = self.bm25_only(queries, depth, allowed)
        elif request.mode == "dense":
            ranked = self.dense_only(query_vectors, depth, allowed)
        else:
            ranked = self.hybrid(queries, query_vectors, depth, allowed)
        rows = self.store.rows({row_id for hits in ranked for row_id, _, _ in hits})
        return [
            [
                SearchHit(rows[row_id][0], rows[row_id][1], rows[row_id][2], score, scores)
                for row_id, score, scores in hits
                if row_id in rows
            ]
            for hits in ranked
        ]

    def dense_lists(
        self, query_vectors: np.ndarray, depth: int, allowed: np.ndarray | None
    ) -> list[list[tuple[int, float]]]:
        vectors = self.derived.sync_vectors()
        if allowed is not None and vectors.kind != "flat" and len(allowed) <= self.params.exact_filter_limit:
            # Exact scoring of the few allowed documents: ANN walks restricted to a small subset
            # miss results (IVF probes may hold none of them).
            stored = self.store.embeddings(allowed, self.dim)
            # Stored and query vectors are already normalized for "cosine": score them as "ip",
            # exactly as the FAISS index does.
            metric = "l2" if self.metric == "l2" else "ip"
            scores, positions = exact_search(query_vectors, stored, depth, metric)
            return [
                [(int(allowed[i]), float(s)) for s, i in zip(score_row, position_row)]
                for score_row, position_row in zip(scores, positions)
            ]
        k = min(depth, len(allowed) if allowed is not None else vectors.n_live)
        if k == 0:
            return [[] for _ in query_vectors]
        scores, ids = vectors.search(query_vectors, k, allowed)
        return [
            [(int(i), float(s)) for s, i in zip(score_row, id_row) if i >= 0]
            for score_row, id_row in zip(scores, ids)
        ]

    def bm25_scores(self, lexical: LexicalIndex, query: str, allowed: np.ndarray | None) -> np.ndarray:
        scores = lexical.scores(self.tokenize(query))
        if allowed is not None:
            scores = np.where(np.isin(lexical.row_ids, allowed, assume_unique=True), scores, 0.0)
        return scores

    def dense_only(self, query_vectors: np.ndarray, depth: int, allowed: np.ndarray | None) -> list[Ranked]:
        lists = self.dense_lists(query_vectors, depth, allowed)
        return [
            [
                (row_id, score, {"dense": score, "dense_rank": rank})
                for rank, (row_id, score) in enumerate(hits, 1)
            ]
            for hits in lists
        ]

    def bm25_only(self, queries: Sequence[str], depth: int, allowed: np.ndarray | None) -> list[Ranked]:
        lexical = self.derived.sync_bm25()
        out = []
        for query in queries:
            hits = lexical.top(self.bm25_scores(lexical, query, allowed), depth)
            out.append(
                [
                    (row_id, score, {"bm25": score, "bm25_rank": rank})
                    for rank, (row_id, score) in enumerate(hits, 1)
                ]
            )
        return out

    def hybrid(
        self, queries: Sequence[str], query_vectors: np.ndarray, depth: int, allowed: np.ndarray | None
    ) -> list[Ranked]:
        candidates = max(FUSION_CANDIDATES, depth)
        dense_lists = self.dense_lists(query_vectors, candidates, allowed)
        lexical = self.derived.sync_bm25()
        out = []
        for query, query_vector, dense in zip(queries, query_vectors, dense_lists):
            bm25_all = self.bm25_scores(lexical, query, allowed)
            bm25_list = lexical.top(bm25_all, candidates)
            fused = reciprocal_rank_fusion([[r for r, _ in dense], [r for r, _ in bm25_list]])[:depth]
            dense_score = dict(dense)
            dense_rank = {r: rank for rank, (r, _) in enumerate(dense, 1)}
            bm25_rank = {r: rank for rank, (r, _) in enumerate(bm25_list, 1)}
            # Fill in the dense score of documents only BM25 found (from their stored vectors).
            absent = np.array([r for r, _ in fused if r not in dense_score], dtype=np.int64)
            if len(absent):
                stored = self.store.embeddings(absent, self.dim)
                extra = exact_scores(query_vector[None, :], stored, self.metric)[0]
                dense_score.update(zip(absent.tolist(), extra.tolist()))
            hits = []
            for rank, (row_id, rrf) in enumerate(fused, 1):
                scores: dict[str, float] = {
                    "dense": float(dense_score[row_id]),
                    "bm25": float(bm25_all[np.searchsorted(lexical.row_ids, row_id)]),
                    "rrf": rrf,
                    "fusion_rank": rank,
                }
                if row_id in dense_rank:
                    scores["dense_rank"] = dense_rank[row_id]
                if row_id in bm25_rank:
                    scores["bm25_rank"] = bm25_rank[row_id]
                hits.append((row_id, rrf, scores))
            out.append(hits)
        return out


def rerank(
    reranker: Any,
    queries: Sequence[str],
    results: list[list[SearchHit]],
    top_k: int,
    rerank_top_k: int,
    fusion: str = "replace",
) -> list[list[SearchHit]]:
    """Rescore each query's first ``rerank_top_k`` hits with ``reranker.scores(pairs)``; the
    rest (up to ``top_k``) follow in first-stage order. ``fusion="rrf"`` orders the head by RRF of
    its first-stage rank and its reranker rank instead of the reranker score alone."""
    tails = [hits[rerank_top_k:top_k] for hits in results]
    results = [hits[:rerank_top_k] for hits in results]
    pairs = [(query, hit.text) for query, hits in zip(queries, results) for hit in hits]
    if not pairs:
        return [head + tail for head, tail in zip(results, tails)]
    scores = np.asarray(reranker.scores(pairs), dtype=np.float64).reshape(-1)
    if len(scores) != len(pairs):
        raise InputError(f"reranker returned {len(scores)} scores for {len(pairs)} pairs")
    reranked = []
    offset = 0
    for hits, tail in zip(results, tails):
        own = scores[offset : offset + len(hits)]
        offset += len(hits)
        by_reranker = [int(i) for i in np.argsort(-own, kind="stable")]
        if fusion == "rrf":
            fused = reciprocal_rank_fusion([list(range(len(hits))), by_reranker])
            order, final = [i for i, _ in fused], {i: value for i, value in fused}
        else:
            order, final = by_reranker, {i: float(own[i]) for i in by_reranker}
        rerank_rank = {i: rank for rank, i in enumerate(by_reranker, 1)}
        reranked.append(
            [
                SearchHit(
                    hits[i].id,
                    hits[i].text,
                    hits[i].metadata,
                    final[i],
                    {
                        **hits[i].scores,
                        "first_stage_rank": i + 1,
                        "rerank": float(own[i]),
                        "rerank_rank": rerank_rank[i],
                    },
                )
                for i in order[:top_k]
            ]
            + tail
        )
    return reranked
