"""Data shapes of the index: documents in, hits out."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from simmatch.data.examples import Document as Document  # the data shape, re-exported here
from simmatch.errors import InputError

_DOCUMENT_KEYS = frozenset({"id", "text", "metadata"})
FILTER_VALUE_TYPES = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class SearchHit:
    """One search result. ``score`` is the score of the last stage that ordered the results
    (dense similarity, BM25, RRF or reranker score); ``scores`` holds every stage's value:
    ``dense``, ``dense_rank``, ``bm25``, ``bm25_rank``, ``rrf``, ``fusion_rank``, ``rerank``,
    ``first_stage_rank`` (ranks are 1-based; a rank is absent when the document was not in that
    stage's candidate list)."""

    id: str
    text: str
    metadata: dict[str, Any]
    score: float
    scores: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "metadata": self.metadata,
            "score": self.score,
            "scores": dict(self.scores),
        }


@dataclass(frozen=True)
class AddStats:
    """What one ``Index.add`` call did. ``encoded`` counts texts sent to the encoder (new documents
    and documents whose text changed); a document whose text is unchanged re-uses its embedding."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    encoded: int = 0

    def __add__(self, other: AddStats) -> AddStats:
        return AddStats(
            added=self.added + other.added,
            updated=self.updated + other.updated,
            unchanged=self.unchanged + other.unchanged,
            encoded=self.encoded + other.encoded,
        )

    def to_dict(self) -> dict[str, int]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "encoded": self.encoded,
        }


def coerce_document(item: Any, position: int) -> Document:
    """A ``Document`` from a ``Document`` or a mapping with keys ``id``, ``text`` and optional
    ``metadata``; ``InputError`` naming ``position`` (the item's index in the input) otherwise."""
    metadata: Any
    if isinstance(item, Document):
        doc_id, text, metadata = item.id, item.text, item.metadata
    elif isinstance(item, Mapping):
        unknown = set(item) - _DOCUMENT_KEYS
        if unknown:
            raise InputError(
                f"document {position}: unknown key(s) {sorted(map(str, unknown))}; "
                "a document has 'id', 'text' and optional 'metadata'"
            )
        for key in ("id", "text"):
            if key not in item:
                raise InputError(f"document {position}: missing {key!r}")
        doc_id, text, metadata = item["id"], item["text"], item.get("metadata")
        if metadata is None:
            metadata = {}
    else:
        raise InputError(f"document {position}: expected a Document or a dict, got {type(item).__name__}")
    if not isinstance(doc_id, str) or not doc_id:
        raise InputError(f"document {position}: 'id' must be a non-empty string, got {doc_id!r}")
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"document {position} (id {doc_id!r}): 'text' must be a non-empty string")
    if not isinstance(metadata, Mapping):
        raise InputError(f"document {position} (id {doc_id!r}): 'metadata' must be a dict")
    metadata = dict(metadata)
    if not all(isinstance(key, str) for key in metadata):
        raise InputError(f"document {position} (id {doc_id!r}): metadata keys must be strings")
    try:
        if metadata:
            metadata_json(metadata)
    except (TypeError, ValueError) as exc:
        raise InputError(f"document {position} (id {doc_id!r}): metadata is not JSON: {exc}") from exc
    return Document(doc_id, text, metadata)


def metadata_json(metadata: Mapping[str, Any]) -> str:
    """Canonical JSON of a metadata dict (sorted keys, so equal dicts give equal strings)."""
    return json.dumps(metadata, ensure_ascii=False, sort_keys=True, allow_nan=False)


def check_filter(filter: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate a metadata filter: equality on top-level keys with scalar JSON values."""
    if filter is None:
        return {}
    if not isinstance(filter, Mapping):
        raise InputError(f"filter must be a dict of metadata key -> value, got {type(filter).__name__}")
    checked: dict[str, Any] = {}
    for key, value in filter.items():
        if not isinstance(key, str) or not key or '"' in key:
            raise InputError(f"filter key {key!r} must be a non-empty string without '\"'")
        if not isinstance(value, FILTER_VALUE_TYPES):
            raise InputError(
                f"filter value for {key!r} must be a string, number, boolean or null "
                f"(equality only), got {type(value).__name__}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"filter value for {key!r} must be finite")
        checked[key] = value
    return checked
