"""Texts and documents from files: :func:`load_texts` (what ``simmatch embed`` and ``simmatch rank``
read) and :func:`load_documents` (what ``simmatch index add`` reads).

Files are read by :mod:`simmatch.data.files`: a path or ``"-"`` for stdin, the one row policy
(every row checked, a blank line between rows is an error, blank lines at the end are ignored), the
one format rule and the one table of column names. Texts are returned as written: no stripping, so
row ``i`` of the result is row ``i`` of the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from simmatch.data import files
from simmatch.data.examples import Document
from simmatch.data.files import Source
from simmatch.errors import InputError

TEXT_FORMATS = ("auto", "jsonl", "lines")
DOCUMENT_FORMATS = ("auto", "jsonl", "tsv")
_DOCUMENT_KEYS = ("id", "text", "metadata")


def load_texts(
    path: str | Path,
    *,
    format: str = "auto",
    columns: Mapping[str, str] | None = None,
    limit: int | None = None,
) -> list[str]:
    """Texts from a file, or stdin (``"-"``): one text per line (``format="lines"``, each line as
    it is, without its line ending), or JSON lines with a ``text`` key (``columns={"text": "body"}``
    names another key; other keys are ignored). ``"auto"`` picks JSON lines by extension
    (``.jsonl``/``.json``/``.ndjson``) or by a first row starting with ``{``, else lines.

    Raises ``DataFormatError`` naming file and line for a blank line between rows, invalid JSON, a
    missing, empty or non-string text, and for a file without rows.
    """
    source = Source.of(path)
    if format not in TEXT_FORMATS:
        raise InputError(f"format must be one of {', '.join(TEXT_FORMATS)}, not {format!r}")
    files.check_limit(limit)
    cols = files.check_columns_arg(columns, ("text",), positions=False)
    first, rows = files.peek(source.rows())
    if format == "auto":
        format = files.detect_format(source, first[1] if first else None, "lines")
    texts: list[str] = []
    if format == "lines":
        for _, text in rows:
            texts.append(text)
            if limit is not None and len(texts) >= limit:
                break
    else:
        key: str | None = None
        for lineno, record in files.json_records(source, rows):
            if key is None:
                names = list(record)
                resolved = files.resolve_names(source, names, cols, ("text",), lineno)
                if "text" not in resolved:
                    raise source.error(lineno, f"no 'text' key (found: {', '.join(names) or 'no keys'})")
                key = names[resolved["text"]]
            if key not in record:
                raise source.error(lineno, "missing", field=key)
            texts.append(files.require_text(source, lineno, record[key], key))
            if limit is not None and len(texts) >= limit:
                break
    if not texts:
        raise source.error(None, "no rows")
    return texts


def load_documents(path: str | Path, *, format: str = "auto") -> list[Document]:
    """Documents for an index from a file, or stdin (``"-"``): JSON lines ``{"id", "text",
    "metadata"?}`` (ids may be strings or integers, stored as strings; no other keys) or TSV
    ``id<TAB>text`` (an optional first line ``id<TAB>text`` is a header). ``"auto"`` picks JSON lines
    by extension or by a first row starting with ``{``, else TSV.

    The whole file is read and checked before it is returned, so a caller that indexes the result
    indexes nothing from a bad file. Raises ``DataFormatError`` naming file, line and field.
    """
    source = Source.of(path)
    if format not in DOCUMENT_FORMATS:
        raise InputError(f"format must be one of {', '.join(DOCUMENT_FORMATS)}, not {format!r}")
    first, rows = files.peek(source.rows())
    if format == "auto":
        format = files.detect_format(source, first[1] if first else None, "tsv")
    if format == "csv":
        raise source.error(None, "documents are JSON lines or TSV, not CSV; pass format='jsonl' or 'tsv'")
    if format == "jsonl":
        documents = [
            _json_document(source, lineno, record) for lineno, record in files.json_records(source, rows)
        ]
    else:
        if first is not None and first[1].strip().lower() == "id\ttext":
            next(rows)  # the optional header
        documents = [_tsv_document(source, lineno, text) for lineno, text in rows]
    if not documents:
        raise source.error(None, "no rows")
    return documents


def _json_document(source: Source, lineno: int, record: dict[str, Any]) -> Document:
    for key in record:
        if key not in _DOCUMENT_KEYS:
            raise source.error(lineno, "unknown field; expected id, text, metadata", field=key)
    doc_id = record.get("id")
    if isinstance(doc_id, int) and not isinstance(doc_id, bool):
        doc_id = str(doc_id)
    if not isinstance(doc_id, str) or not doc_id:
        raise source.error(lineno, f"must be a non-empty string or an integer, got {doc_id!r}", field="id")
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise source.error(lineno, "must be a non-empty string", field="text")
    metadata = record.get("metadata")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        reason = f"must be a JSON object, got {type(metadata).__name__}"
        raise source.error(lineno, reason, field="metadata")
    return Document(doc_id, text, metadata)


def _tsv_document(source: Source, lineno: int, line: str) -> Document:
    fields = line.split("\t")
    if len(fields) != 2:
        raise source.error(lineno, f"expected 2 columns (id<TAB>text), found {len(fields)}")
    doc_id, text = fields[0].strip(), fields[1]
    if not doc_id:
        raise source.error(lineno, "empty id", field="id")
    if not text.strip():
        raise source.error(lineno, "empty text", field="text")
    return Document(doc_id, text, {})
