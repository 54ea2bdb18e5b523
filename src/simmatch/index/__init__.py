"""Persistent semantic search: SQLite documents + FAISS vectors + BM25, hybrid fusion, reranking.

```python
from simmatch.index import Index

with Index.create("my-index", encoder) as index:        # encoder: e.g. Embedder("multilingual-e5-small")
    index.add([{"id": "1", "text": "苹果手机多少钱", "metadata": {"lang": "zh"}}])
    hits = index.search("iPhone 价格", top_k=5, mode="hybrid", filter={"lang": "zh"})
```

See ``docs/retrieval.md`` for storage, durability and concurrency guarantees.
"""

from simmatch.index.fusion import RRF_K, reciprocal_rank_fusion
from simmatch.index.index import Index, read_settings
from simmatch.index.types import AddStats, Document, SearchHit
from simmatch.index.vectors import AnnParams

__all__ = [
    "RRF_K",
    "AddStats",
    "AnnParams",
    "Document",
    "Index",
    "SearchHit",
    "read_settings",
    "reciprocal_rank_fusion",
]
