"""Persistent semantic search: SQLite documents + FAISS vectors + BM25, hybrid fusion, reranking.

```python
from simmatch.index import Index

with Index.create("my-index", encoder) as index:        # encoder: e.g. Embedder("multilingual-e5-small")
    index.add([{"id": "1", "text": "苹果手机多少钱", "metadata": {"lang": "zh"}}])
    hits = index.search("iPhone 价格", top_k=5, filter={"lang": "zh"})   # mode="hybrid" by default
```

The vocabulary every door shares is declared in ``simmatch.index.options`` and exported here:
``Mode`` / ``MODES`` / ``DEFAULT_MODE``, ``RerankFusion`` / ``RERANK_FUSIONS`` /
``DEFAULT_RERANK_FUSION``, ``DEFAULT_TOP_K``, ``DEFAULT_RERANK_TOP_K`` and ``IndexConfig`` (the
settings of ``Index.create``, ``INDEX_DEFAULTS`` their defaults). Path-level operations (what
``simmatch index`` runs) are in ``simmatch.index.ops``.

See ``docs/retrieval.md`` for storage, durability and concurrency guarantees.
"""

from simmatch.index.fusion import RRF_K, reciprocal_rank_fusion
from simmatch.index.index import Index, read_settings
from simmatch.index.options import (
    DEFAULT_MODE,
    DEFAULT_RERANK_FUSION,
    DEFAULT_RERANK_TOP_K,
    DEFAULT_TOP_K,
    INDEX_DEFAULTS,
    MODES,
    RERANK_FUSIONS,
    IndexConfig,
    Mode,
    RerankFusion,
)
from simmatch.index.types import AddStats, Document, SearchHit
from simmatch.index.vectors import AnnParams

__all__ = [
    "DEFAULT_MODE",
    "DEFAULT_RERANK_FUSION",
    "DEFAULT_RERANK_TOP_K",
    "DEFAULT_TOP_K",
    "INDEX_DEFAULTS",
    "MODES",
    "RERANK_FUSIONS",
    "RRF_K",
    "AddStats",
    "AnnParams",
    "Document",
    "Index",
    "IndexConfig",
    "Mode",
    "RerankFusion",
    "SearchHit",
    "read_settings",
    "reciprocal_rank_fusion",
]
