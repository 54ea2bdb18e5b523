"""The document-file reader of ``simmatch index add`` (JSONL or TSV), used by
``simmatch.index.ops``. Moving to ``simmatch.data`` (one reader for every data file); the index's
path-level operations are in ``simmatch.index.ops``."""

from __future__ import annotations

import json
from pathlib import Path

from simmatch.errors import DataFormatError, InputError
from simmatch.index.types import Document

FILE_FORMATS = ("auto", "jsonl", "tsv")
_JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
_TSV_SUFFIXES = (".tsv", ".txt")
_JSONL_KEYS = ("id", "text", "metadata")


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
