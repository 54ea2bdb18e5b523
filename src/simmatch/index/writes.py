"""What an ``Index.add`` batch changes, decided before anything is written: documents to embed
(new ids and changed texts), ids whose row is replaced, metadata-only updates, unchanged ones;
then the rows and the one transaction that writes them."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from simmatch.index.store import Store
from simmatch.index.types import AddStats, Document, coerce_document, metadata_json


def batches(docs: Iterable[Document | Mapping[str, Any]], batch_size: int) -> Iterator[list[Document]]:
    """Validated ``Document`` batches of at most ``batch_size`` (errors name the input position)."""
    iterator = iter(docs)
    position = 0
    while True:
        chunk = list(itertools.islice(iterator, batch_size))
        if not chunk:
            return
        yield [coerce_document(item, position + i) for i, item in enumerate(chunk)]
        position += len(chunk)


@dataclass
class BatchPlan:
    to_embed: list[Document] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)  # ids whose text changed: new row, new row id
    metadata_rows: list[tuple[str, str]] = field(default_factory=list)  # (metadata_json, id)
    unchanged: int = 0
    metadata: dict[str, str] = field(default_factory=dict)  # id -> metadata_json

    def stats(self) -> AddStats:
        return AddStats(
            added=len(self.to_embed) - len(self.replaced),
            updated=len(self.replaced) + len(self.metadata_rows),
            unchanged=self.unchanged,
            encoded=len(self.to_embed),
        )


def latest_by_id(batch: list[Document]) -> list[Document]:
    """Within a batch the last occurrence of an id wins."""
    return list({doc.id: doc for doc in batch}.values())


def plan_batch(docs: list[Document], stored: Mapping[str, tuple[int, str, str]]) -> BatchPlan:
    """Compare ``docs`` (distinct ids) with their stored ``(row_id, text, metadata_json)``."""
    plan = BatchPlan(metadata={doc.id: metadata_json(doc.metadata) for doc in docs})
    for doc in docs:
        meta = plan.metadata[doc.id]
        if doc.id not in stored:
            plan.to_embed.append(doc)
        elif stored[doc.id][1] != doc.text:
            plan.to_embed.append(doc)
            plan.replaced.append(doc.id)
        elif stored[doc.id][2] != meta:
            plan.metadata_rows.append((meta, doc.id))
        else:
            plan.unchanged += 1
    return plan


Row = tuple[str, str, str, str, bytes]  # (id, text, metadata_json, tokens, embedding bytes)


def embedded_rows(plan: BatchPlan, vectors: Any, tokenize: Callable[[str], list[str]]) -> list[Row]:
    """The rows to insert for ``plan.to_embed`` and their ``vectors``."""
    return [
        (
            doc.id,
            doc.text,
            plan.metadata[doc.id],
            " ".join(tokenize(doc.text)),
            vector.astype("<f4").tobytes(),
        )
        for doc, vector in zip(plan.to_embed, vectors)
    ]


def commit_batch(store: Store, plan: BatchPlan, rows: list[Row]) -> bool:
    """Write one batch in one transaction; ``True`` when the set of row ids changed."""
    if not (rows or plan.metadata_rows):
        return False
    with store.write_transaction():
        if plan.replaced:
            # A changed text gets a new row (and row id), so a row id names one vector forever.
            store.delete_ids(plan.replaced)
        store.insert(rows)
        store.update_metadata(plan.metadata_rows)
        if rows:
            store.bump_generation()
    return bool(rows)
