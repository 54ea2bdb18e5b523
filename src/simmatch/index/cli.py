"""Plain functions behind ``simmatch index …``: the CLI parses arguments and prints what these
return (JSON-ready dicts and lists); every decision lives here or in ``Index``.

Models are loaded by name through ``simmatch.models`` (``Embedder`` for the index's recorded model,
``PairClassifier`` for a reranker directory) only when an operation needs them: BM25 search,
``delete`` and ``info`` never load a model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from simmatch.data import load_documents
from simmatch.index.index import Index, read_settings
from simmatch.index.types import coerce_document


def _load_encoder(model: str) -> Any:
    from simmatch.models import Embedder

    return Embedder(model)


def _load_reranker(path: str | Path) -> Any:
    from simmatch.models import PairClassifier

    return PairClassifier(str(path))


def create_index(
    path: str | Path,
    model: str,
    *,
    metric: str = "cosine",
    ann: str = "auto",
    ann_threshold: int = 50_000,
    tokenizer: str = "auto",
) -> dict[str, Any]:
    """Create an empty index at ``path`` for embedding model ``model``; returns ``index_info``."""
    encoder = _load_encoder(model)
    with Index.create(
        path, encoder, metric=metric, ann=ann, ann_threshold=ann_threshold, tokenizer=tokenizer
    ) as index:
        return index.info()


def add_documents(
    path: str | Path,
    file: str | Path,
    *,
    format: str = "auto",
    batch_size: int = 256,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Add (or update) the documents of a JSONL/TSV file; returns counts and the new size."""
    documents = load_documents(file, format=format)
    # Validate every document (JSON-able metadata etc.) before loading a model or writing.
    for position, document in enumerate(documents):
        coerce_document(document, position)
    settings = read_settings(path)
    encoder = _load_encoder(settings["model_name"])
    with Index.open(path, encoder) as index:
        stats = index.add(documents, batch_size=batch_size, show_progress=show_progress)
        return {**stats.to_dict(), "documents": len(index)}


def delete_documents(path: str | Path, ids: Iterable[str]) -> dict[str, Any]:
    """Delete documents by id; returns ``{"deleted": n, "missing": [ids not in the index]}``."""
    id_list = list(dict.fromkeys(ids))
    with Index.open(path) as index:
        missing = [doc_id for doc_id in id_list if doc_id not in index]
        deleted = index.delete(id_list)
        return {"deleted": deleted, "missing": missing, "documents": len(index)}


def search_index(
    path: str | Path,
    query: str | Sequence[str],
    *,
    top_k: int = 10,
    mode: str = "dense",
    reranker: str | Path | None = None,
    rerank_top_k: int = 50,
    filter: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]] | list[list[dict[str, Any]]]:
    """Search; a single query gives a list of hit dicts (``rank``, ``id``, ``text``, ``metadata``,
    ``score``, ``scores``), a list of queries gives one such list per query. ``reranker`` is a
    cross-encoder (``PairClassifier``) directory."""
    queries = [query] if isinstance(query, str) else list(query)
    encoder = None
    if mode in ("dense", "hybrid"):
        encoder = _load_encoder(read_settings(path)["model_name"])
    rerank = _load_reranker(reranker) if reranker is not None else None
    with Index.open(path, encoder) as index:
        results = index.search_batch(
            queries, top_k=top_k, mode=mode, rerank=rerank, rerank_top_k=rerank_top_k, filter=filter
        )
    as_dicts = [[{"rank": rank, **hit.to_dict()} for rank, hit in enumerate(hits, 1)] for hits in results]
    return as_dicts[0] if isinstance(query, str) else as_dicts


def index_info(path: str | Path) -> dict[str, Any]:
    """Settings, document count and derived-file state of the index at ``path``."""
    with Index.open(path, read_only=True) as index:
        return index.info()
