"""Path-level operations on an index: what ``simmatch index create|add|delete|search|info`` runs.

Each opens the index at a path, loads the models the operation needs (the index's recorded
embedding model through ``Index.open(load_encoder=True)``, a cross-encoder directory given as
``rerank=``) and returns JSON-ready dicts and lists; the CLI parses arguments and prints them.
BM25 search, ``delete`` and ``info`` never load a model.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from simmatch.data import load_documents
from simmatch.index.index import Index
from simmatch.index.options import DEFAULT_MODE, INDEX_DEFAULTS, IndexConfig
from simmatch.index.types import SearchHit, coerce_document


def create(
    path: str | Path, model: str, config: IndexConfig = INDEX_DEFAULTS, filter_fields: Sequence[str] = ()
) -> dict[str, Any]:
    """Create an empty index at ``path`` for embedding model ``model``; returns its ``info``.
    ``filter_fields``: Milvus only (see ``Index.create``)."""
    with Index.create(path, model, **config.as_kwargs(), filter_fields=filter_fields) as index:
        return index.info()


def add_file(
    path: str | Path,
    file: str | Path,
    *,
    format: str = "auto",
    batch_size: int = 256,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Add (or update) the documents of a JSONL/TSV file; returns counts and the new size. The
    whole file is validated, then the writer lock taken (a second writer fails here), before a
    model is loaded or anything is written."""
    documents = load_documents(file, format=format)
    for position, document in enumerate(documents):
        coerce_document(document, position)
    with Index.open(path, load_encoder=True, write=True) as index:
        stats = index.add(documents, batch_size=batch_size, show_progress=show_progress)
        return {**stats.to_dict(), "documents": len(index)}


def delete(path: str | Path, ids: Iterable[str]) -> dict[str, Any]:
    """Delete documents by id; returns ``{"deleted": n, "missing": [ids not in the index],
    "documents": size}``."""
    id_list = list(dict.fromkeys(ids))
    with Index.open(path, write=True) as index:
        missing = [doc_id for doc_id in id_list if doc_id not in index]
        deleted = index.delete(id_list)
        return {"deleted": deleted, "missing": missing, "documents": len(index)}


def hit_dicts(hits: Sequence[SearchHit]) -> list[dict[str, Any]]:
    """Hits as JSON-ready dicts with their 1-based ``rank`` first."""
    return [{"rank": rank, **hit.to_dict()} for rank, hit in enumerate(hits, 1)]


def search(
    path: str | Path, query: str | Sequence[str], *, mode: str = DEFAULT_MODE, **options: Any
) -> list[dict[str, Any]] | list[list[dict[str, Any]]]:
    """``Index.search`` on the index at ``path`` (``options``: its ``top_k``, ``rerank``,
    ``rerank_top_k``, ``filter``, ``rerank_fusion``): a single query gives a list of hit dicts
    (``rank``, ``id``, ``text``, ``metadata``, ``score``, ``scores``), a list of queries one such
    list per query. ``rerank``: a cross-encoder (``PairClassifier``) or its directory."""
    queries = [query] if isinstance(query, str) else list(query)
    with Index.open(path, load_encoder=mode in ("dense", "hybrid")) as index:
        results = index.search_batch(queries, mode=mode, **options)
    as_dicts = [hit_dicts(hits) for hits in results]
    return as_dicts[0] if isinstance(query, str) else as_dicts


def info(path: str | Path) -> dict[str, Any]:
    """Settings, document count and derived-file state of the index at ``path``."""
    with Index.open(path, read_only=True) as index:
        return index.info()
