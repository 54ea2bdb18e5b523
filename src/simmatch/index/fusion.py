"""Reciprocal-rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009).

``rrf(d) = sum over rankings r containing d of 1 / (k + rank_r(d))``, ranks 1-based, ``k = 60``
(the value from the paper, also the default of Elasticsearch and OpenSearch). A document missing
from a ranking gets nothing from it. Written by hand because neither FAISS nor bm25s offers it
and it is five lines.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

RRF_K = 60

K = TypeVar("K", bound=Hashable)


def reciprocal_rank_fusion(rankings: Sequence[Sequence[K]], k: int = RRF_K) -> list[tuple[K, float]]:
    """Fuse best-first rankings into ``[(key, rrf_score)]``, best first.

    Ties are broken by the best single rank the key reached, then by first appearance (ranking
    order, then position), so the result is deterministic."""
    fused: dict[K, float] = {}
    best_rank: dict[K, int] = {}
    first_seen: dict[K, int] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            fused[key] = fused.get(key, 0.0) + 1.0 / (k + rank)
            best_rank[key] = min(best_rank.get(key, rank), rank)
            first_seen.setdefault(key, len(first_seen))
    order = sorted(fused, key=lambda key: (-fused[key], best_rank[key], first_seen[key]))
    return [(key, fused[key]) for key in order]
