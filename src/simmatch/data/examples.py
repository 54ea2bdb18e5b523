"""The data shapes every other module codes against: sentence pairs, retrieval training examples,
retrieval evaluation tasks and the documents an index stores."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from simmatch.errors import InputError


@dataclass(frozen=True, slots=True)
class PairExample:
    """Two sentences and their label.

    ``label`` is a ``str`` for class labels (``"0"``, ``"1"``, ``"2"``), a ``float`` for similarity
    scores (for example 0–5 on STS-B) and ``None`` for unlabeled pairs. ``id`` is the row id when the
    file has one.
    """

    sentence1: str
    sentence2: str
    label: str | float | None
    id: str | None = None


@dataclass(frozen=True, slots=True)
class RetrievalExample:
    """A retrieval training example: a query, its relevant passages and (optionally) hard negatives."""

    query: str
    pos: list[str]
    neg: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RetrievalTask:
    """A retrieval evaluation task: query id → text, document id → text, query id → relevant ids.

    ``exclude`` lists, per query, document ids that must be removed from a ranking before it is
    scored (used when a query's own text is also a document of the corpus). Every id in ``relevant``
    and ``exclude`` must exist in ``queries`` / ``corpus``, and every query in ``relevant`` must have at
    least one relevant document; ``InputError`` otherwise.
    """

    name: str
    queries: dict[str, str]
    corpus: dict[str, str]
    relevant: dict[str, set[str]]
    exclude: dict[str, set[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for what, mapping in (("relevant", self.relevant), ("exclude", self.exclude)):
            for qid, docids in mapping.items():
                if qid not in self.queries:
                    raise InputError(f"task {self.name!r}: {what} names unknown query id {qid!r}")
                missing = [d for d in docids if d not in self.corpus]
                if missing:
                    raise InputError(
                        f"task {self.name!r}: {what}[{qid!r}] names unknown document id {missing[0]!r}"
                    )
        empty = [qid for qid, docids in self.relevant.items() if not docids]
        if empty:
            raise InputError(f"task {self.name!r}: query {empty[0]!r} has no relevant document")

    def __repr__(self) -> str:
        return (
            f"RetrievalTask(name={self.name!r}, queries={len(self.queries)}, corpus={len(self.corpus)}, "
            f"relevant_pairs={sum(len(v) for v in self.relevant.values())})"
        )


@dataclass(frozen=True)
class Document:
    """One stored document: a caller-chosen unique ``id``, the ``text`` that is embedded and
    BM25-indexed, and free-form JSON ``metadata`` (top-level keys can be used in search filters)."""

    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "metadata": self.metadata}
