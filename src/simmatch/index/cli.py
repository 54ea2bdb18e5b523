"""Plain functions behind ``simmatch index …``: the CLI parses arguments and prints what these
return (JSON-ready dicts and lists); every decision lives here or in ``Index``.

Models are loaded by name through ``simmatch.models`` (``Embedder`` for the index's recorded model,
``PairClassifier`` for a reranker directory) only when an operation needs them: BM25 search,
``delete`` and ``info`` never load a model.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from simmatch.errors import DataFormatError, InputError
from simmatch.index.index import Index, read_settings
from simmatch.index.types import Document, coerce_document

FILE_FORMATS = ("auto", "jsonl", "tsv")
_JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
_TSV_SUFFIXES = (".tsv", ".txt")
_JSONL_KEYS = ("id", "text", "metadata")


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


def read_documents(file: str | Path, format: str = "auto") -> list[Document]:
    """Read a whole JSONL (``{"id", "text", "metadata"?}`` per line) or TSV (``id<TAB>text`` per
    line; an optional first line ``id<TAB>text`` is a header) document file.

    The whole file is validated before anything is indexed, so a bad line (reported as
    ``DataFormatError`` with file, line and field) leaves the index untouched. Blank lines are
    skipped; ids may be JSON strings or integers (stored as strings)."""
    path = Path(file)
    if format not in FILE_FORMATS:
        raise InputError(f"unknown document file format {format!r}; choose one of {', '.join(FILE_FORMATS)}")
    if format == "auto":
        suffix = path.suffix.lower()
        if suffix in _JSONL_SUFFIXES:
            format = "jsonl"
        elif suffix in _TSV_SUFFIXES:
            format = "tsv"
        else:
            raise InputError(
                f"cannot tell the format of {path} from its suffix; pass format='jsonl' or 'tsv'"
            )
    if not path.is_file():
        raise InputError(f"document file {path} does not exist")
    parse = _jsonl_document if format == "jsonl" else _tsv_document
    documents: list[Document] = []
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise DataFormatError(path, number, f"not UTF-8: {exc.reason}") from exc
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            if format == "tsv" and number == 1 and line.strip().lower() == "id\ttext":
                continue
            documents.append(parse(path, number, line))
    return documents


def _jsonl_document(path: Path, number: int, line: str) -> Document:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataFormatError(path, number, f"invalid JSON: {exc.msg} at column {exc.colno}") from exc
    if not isinstance(record, dict):
        raise DataFormatError(path, number, f"expected a JSON object, got {type(record).__name__}")
    for key in record:
        if key not in _JSONL_KEYS:
            raise DataFormatError(path, number, "unknown field; expected id, text, metadata", field=key)
    doc_id = record.get("id")
    if isinstance(doc_id, int) and not isinstance(doc_id, bool):
        doc_id = str(doc_id)
    if not isinstance(doc_id, str) or not doc_id:
        reason = f"must be a non-empty string or an integer, got {doc_id!r}"
        raise DataFormatError(path, number, reason, field="id")
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise DataFormatError(path, number, "must be a non-empty string", field="text")
    metadata = record.get("metadata", {})
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        reason = f"must be a JSON object, got {type(metadata).__name__}"
        raise DataFormatError(path, number, reason, field="metadata")
    return Document(doc_id, text, metadata)


def _tsv_document(path: Path, number: int, line: str) -> Document:
    fields = line.split("\t")
    if len(fields) != 2:
        raise DataFormatError(path, number, f"expected 2 tab-separated fields (id, text), got {len(fields)}")
    doc_id, text = fields[0].strip(), fields[1]
    if not doc_id:
        raise DataFormatError(path, number, "empty id", field="id")
    if not text.strip():
        raise DataFormatError(path, number, "empty text", field="text")
    return Document(doc_id, text, {})


def add_documents(
    path: str | Path,
    file: str | Path,
    *,
    format: str = "auto",
    batch_size: int = 256,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Add (or update) the documents of a JSONL/TSV file; returns counts and the new size."""
    documents = read_documents(file, format=format)
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
