"""BM25 (``bm25s``) over the tokens stored in SQLite.

Tokenization (jieba for Chinese) is the expensive part of building BM25, so it runs once per
document at ``add`` time and the tokens are stored in SQLite with the document. ``bm25s`` cannot
add to or remove from an index, so any change to the documents means building it again from the
stored tokens (``bench/index_scale/bm25_rebuild.py``: 15.9 s for 100,000 twelve-token documents on
the shared 2-core machine under load, against 0.16 s to load the saved index). That build happens
lazily, on the first BM25/hybrid search after a change, and the result is saved
as ``bm25-g<generation>/`` (``bm25s.BM25.save`` into a temp directory, then an atomic rename), which
loads in tens of milliseconds; a saved BM25 is used only when its generation equals the database's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from simmatch._fs import atomic_directory
from simmatch.index.vectors import top_k

ROW_IDS_FILE = "row_ids.npy"


class LexicalIndex:
    """A ``bm25s.BM25`` plus the row id of each of its documents (bm25s numbers them 0..n-1)."""

    def __init__(self, retriever, row_ids: np.ndarray):  # retriever: bm25s.BM25 | None when empty
        self.retriever = retriever
        self.row_ids = row_ids

    @classmethod
    def build(cls, row_ids: Sequence[int], tokens: list[list[str]]) -> LexicalIndex:
        """BM25 over tokenized documents; ``row_ids`` (ascending) name them in results.

        The one BM25 of simmatch: the index builds it from stored tokens, hard-negative mining
        from its candidate pool."""
        import bm25s

        ids = np.asarray(row_ids, dtype=np.int64)
        if not len(ids):
            return cls(None, ids)
        retriever = bm25s.BM25()  # Lucene variant, k1=1.5, b=0.75
        retriever.index(tokens, show_progress=False)
        return cls(retriever, ids)

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex:
        import bm25s

        ids = np.load(directory / ROW_IDS_FILE)
        if not len(ids):
            return cls(None, ids)
        return cls(bm25s.BM25.load(str(directory), show_progress=False), ids)

    def __len__(self) -> int:
        return len(self.row_ids)

    def scores(self, tokens: list[str]) -> np.ndarray:
        """BM25 score of every document (aligned with ``row_ids``); unknown tokens score 0."""
        if self.retriever is None or not tokens:
            return np.zeros(len(self.row_ids), dtype=np.float32)
        return np.asarray(self.retriever.get_scores(tokens), dtype=np.float32)

    def top(self, scores: np.ndarray, depth: int, *, positive_only: bool = True) -> list[tuple[int, float]]:
        """``[(row_id, score)]`` of the ``depth`` best ``scores`` (aligned with ``row_ids``), best
        first; ties: lower row id first. ``positive_only`` keeps only documents sharing a token
        with the query."""
        positions = np.flatnonzero(scores > 0) if positive_only else np.arange(len(scores))
        best = positions[top_k(scores[positions], depth)]
        return [(int(self.row_ids[i]), float(scores[i])) for i in best]

    def search(
        self, queries_tokens: list[list[str]], depth: int, *, positive_only: bool = True
    ) -> list[list[tuple[int, float]]]:
        """``top`` of every tokenized query."""
        return [
            self.top(self.scores(tokens), depth, positive_only=positive_only) for tokens in queries_tokens
        ]

    def save(self, directory: Path) -> None:
        """Write the directory atomically (``simmatch._fs.atomic_directory``); if another process
        saved the same generation meanwhile, its copy is kept."""
        with atomic_directory(directory) as tmp:
            if self.retriever is not None:
                self.retriever.save(str(tmp), show_progress=False)
            np.save(tmp / ROW_IDS_FILE, self.row_ids)
