"""The persistent ``Index``: SQLite documents + FAISS vectors + BM25, hybrid fusion and reranking.

Directory layout::

    documents.sqlite          source of truth (WAL): documents, metadata, tokens, embeddings, settings
    vectors-g<generation>.faiss   FAISS IndexIDMap2 (flat / HNSW / IVF), derived
    bm25-g<generation>/       bm25s index + row ids, derived, written on first BM25 use
    writer.lock               flock held by the one process allowed to add/delete
    derived.lock              flock held while a process writes derived files

Durability: each ``add`` batch is one SQLite transaction that also increments ``generation``.
Derived files are written after the commits (temp file + ``os.replace``) and carry the generation
they reflect in their name. Row ids are never reused and a row's vector never changes, so a FAISS
file of any older generation holds a valid subset of the truth: the index loads the newest one and
repairs it by difference (add the missing row ids' stored embeddings, drop the ids gone from
SQLite). A process killed mid-``add`` therefore loses at most the uncommitted batch, and the next
open finds a stale or missing FAISS file and repairs it, with a logged message.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import itertools
import json
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence, Sized
from pathlib import Path
from typing import Any

import numpy as np

from simmatch._fs import FileLock
from simmatch.errors import InputError
from simmatch.index.derived import DerivedState
from simmatch.index.fusion import RRF_K, reciprocal_rank_fusion
from simmatch.index.lexical import LexicalIndex
from simmatch.index.store import Store
from simmatch.index.tokenize import TOKENIZERS, get_tokenizer
from simmatch.index.types import (
    AddStats,
    Document,
    SearchHit,
    check_filter,
    coerce_document,
    metadata_json,
)
from simmatch.index.vectors import (
    ANN_CHOICES,
    METRICS,
    AnnParams,
    exact_scores,
)

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
SQLITE_FILE = "documents.sqlite"
WRITER_LOCK = "writer.lock"
MODES = ("dense", "bm25", "hybrid")
RERANK_FUSIONS = ("replace", "rrf")
FUSION_CANDIDATES = 100  # each retriever's list length fed to RRF (at least the wanted depth)
FINGERPRINT_TEXT = "simmatch index fingerprint: 语义匹配 semantic matching"
FINGERPRINT_MIN_COSINE = 0.99

# Per query: ``[(row_id, score, scores_dict)]``, best first.
_Ranked = list[tuple[int, float, dict[str, float]]]


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    return value


def _choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise InputError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")
    return value


def _encoder_identity(encoder: Any) -> tuple[str, int]:
    for attribute in ("encode", "dim", "model_name"):
        if not hasattr(encoder, attribute):
            raise InputError(
                f"encoder {type(encoder).__name__} has no .{attribute}; an encoder needs "
                ".encode(texts, batch_size=, normalize=, kind=), .dim and .model_name"
            )
    return str(encoder.model_name), int(encoder.dim)


def read_settings(path: str | Path) -> dict[str, Any]:
    """The settings recorded in the index at ``path`` (model name, dim, metric, …), read without
    loading anything else: lets a caller pick the encoder to open the index with."""
    with Index.open(path, read_only=True) as index:
        return index.settings


class Index:
    """A persistent semantic-search index over ``Document``s (see the module docstring).

    Build with ``Index.create``, reopen with ``Index.open``. An index object is thread-safe; use it
    as a context manager (or call ``close``) to release its writer lock.
    """

    def __init__(
        self,
        path: Path,
        store: Store,
        settings: dict[str, Any],
        encoder: Any | None,
        read_only: bool,
    ):
        self.path = path
        self._store = store
        self._settings = settings
        self._encoder = encoder
        self._read_only = read_only
        self._dim = int(settings["dim"])
        self._metric = str(settings["metric"])
        self._params = AnnParams.from_dict(settings["ann_params"])
        self._tokenize = get_tokenizer(settings["tokenizer"])
        self._lock = threading.RLock()  # the SQLite connection and the derived state
        self._write_lock = threading.Lock()  # one add/delete at a time in this object
        self._writer = FileLock(path / WRITER_LOCK)
        self._derived = DerivedState(path, store, settings, read_only)
        self._closed = False

    # -- construction --------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | Path,
        encoder: Any,
        *,
        metric: str = "cosine",
        ann: str = "auto",
        ann_threshold: int = 50_000,
        tokenizer: str = "auto",
        ann_params: AnnParams | None = None,
        passage_kind: str = "passage",
        query_kind: str = "query",
    ) -> Index:
        """Create a new index in the empty (or absent) directory ``path``.

        metric: ``"cosine"`` (vectors normalized, inner product), ``"ip"`` (raw inner product) or
            ``"l2"`` (score = minus squared Euclidean distance).
        ann: ``"flat"`` always searches exactly; ``"hnsw"`` / ``"ivf"`` switch to that ANN index
            once the index holds ``ann_threshold`` documents (and back to flat below half of it);
            ``"auto"`` = ``"hnsw"`` (no training step, incremental adds; see
            ``docs/index_scale.md`` for recall and latency at 1M vectors).
        tokenizer: BM25 tokenizer, see ``simmatch.index.tokenize``.
        passage_kind / query_kind: the ``kind=`` passed to ``encoder.encode`` for documents and
            queries (the e5 prompts).
        The encoder's ``model_name``, ``dim``, these settings and a fingerprint vector (the
        embedding of a fixed text) are recorded; ``Index.open`` refuses an encoder that differs.
        """
        path = Path(path)
        _choice("metric", metric, METRICS)
        _choice("ann", ann, ANN_CHOICES)
        _choice("tokenizer", tokenizer, TOKENIZERS)
        _positive_int("ann_threshold", ann_threshold)
        if ann_params is None:
            ann_params = AnnParams()
        elif not isinstance(ann_params, AnnParams):
            raise InputError(f"ann_params must be an AnnParams, got {type(ann_params).__name__}")
        for name, kind in (("passage_kind", passage_kind), ("query_kind", query_kind)):
            if not isinstance(kind, str):
                raise InputError(f"{name} must be a string, got {kind!r}")
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise InputError(f"{path} already exists and is not an empty directory; use Index.open")
        model_name, dim = _encoder_identity(encoder)
        normalize = metric == "cosine"
        fingerprint = cls._fingerprint(encoder, normalize, passage_kind, dim)
        path.mkdir(parents=True, exist_ok=True)
        writer = FileLock(path / WRITER_LOCK)
        if not writer.try_acquire():
            raise InputError(f"{path} is being created by another process (pid {writer.holder()})")
        store = Store(path / SQLITE_FILE, read_only=False, create=True)
        settings: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "model_name": model_name,
            "dim": dim,
            "normalize": normalize,
            "metric": metric,
            "passage_kind": passage_kind,
            "query_kind": query_kind,
            "tokenizer": tokenizer,
            "ann": ann,
            "ann_threshold": ann_threshold,
            "ann_params": dataclasses.asdict(ann_params),
            "fingerprint": [round(float(x), 6) for x in fingerprint],
            "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "generation": 0,
        }
        with store.write_transaction():
            store.put_settings(settings)
        index = cls(path, store, settings, encoder, read_only=False)
        index._writer = writer
        return index

    @classmethod
    def open(
        cls,
        path: str | Path,
        encoder: Any | None = None,
        *,
        read_only: bool = False,
        normalize: bool | None = None,
        passage_kind: str | None = None,
        query_kind: str | None = None,
    ) -> Index:
        """Open an existing index.

        encoder: needed for ``add`` and dense/hybrid search; ``None`` allows BM25 search, ``get``,
            ``delete`` and ``info``. Refused (``InputError``) when its ``model_name``, ``dim`` or
            fingerprint embedding differs from the one the index was built with.
        read_only: open the database read-only; never takes the writer lock, never writes derived
            files (a stale FAISS/BM25 file is repaired in memory only).
        normalize / passage_kind / query_kind: when given, must equal the recorded settings.
        """
        path = Path(path)
        database = path / SQLITE_FILE
        if not database.is_file():
            raise InputError(f"no index at {path} (missing {SQLITE_FILE}); create one with Index.create")
        store = Store(database, read_only=read_only)
        try:
            settings = store.settings()
            version = settings.get("format_version")
            if version != FORMAT_VERSION:
                raise InputError(
                    f"{database} has index format {version!r}; this simmatch reads format {FORMAT_VERSION}"
                )
            expected = {"normalize": normalize, "passage_kind": passage_kind, "query_kind": query_kind}
            for key, value in expected.items():
                if value is not None and value != settings[key]:
                    raise InputError(f"index at {path} was built with {key}={settings[key]!r}, not {value!r}")
            if encoder is not None:
                cls._check_encoder(path, settings, encoder)
        except BaseException:
            store.close()
            raise
        return cls(path, store, settings, encoder, read_only=read_only)

    @staticmethod
    def _fingerprint(encoder: Any, normalize: bool, kind: str, dim: int) -> np.ndarray:
        vector = np.asarray(
            encoder.encode([FINGERPRINT_TEXT], batch_size=1, normalize=normalize, kind=kind),
            dtype=np.float32,
        )
        if vector.shape != (1, dim):
            raise InputError(f"encoder returned shape {vector.shape} for one text; expected (1, {dim})")
        return vector[0]

    @classmethod
    def _check_encoder(cls, path: Path, settings: dict[str, Any], encoder: Any) -> None:
        model_name, dim = _encoder_identity(encoder)
        recorded = (
            f"model {settings['model_name']!r} (dim {settings['dim']}, normalize={settings['normalize']},"
            f" passage kind {settings['passage_kind']!r}, query kind {settings['query_kind']!r})"
        )
        if model_name != settings["model_name"] or dim != settings["dim"]:
            raise InputError(
                f"index at {path} was built with {recorded}; the given encoder is {model_name!r} "
                f"(dim {dim}). Open it with that model, or build a new index."
            )
        stored = np.asarray(settings["fingerprint"], dtype=np.float32)
        fresh = cls._fingerprint(encoder, settings["normalize"], settings["passage_kind"], dim)
        denominator = float(np.linalg.norm(stored) * np.linalg.norm(fresh)) or 1.0
        cosine = float(stored @ fresh) / denominator
        if cosine < FINGERPRINT_MIN_COSINE:
            raise InputError(
                f"index at {path} was built with {recorded}; the given encoder has the same name but "
                f"embeds differently (fingerprint cosine {cosine:.3f} < {FINGERPRINT_MIN_COSINE}), "
                "e.g. different weights. Use the original model or build a new index."
            )

    # -- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        """Release the locks and the database connection. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._writer.release()
            self._derived.release()
            self._store.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise InputError(f"index at {self.path} is closed")

    # -- reading -------------------------------------------------------------------------------

    def __len__(self) -> int:
        with self._lock:
            self._check_open()
            return self._store.count()

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, str) and self.get(doc_id) is not None

    def ids(self) -> list[str]:
        """Every document id, oldest (least recently added or re-embedded) first."""
        with self._lock:
            self._check_open()
            return self._store.ids()

    def get(self, doc_id: str) -> Document | None:
        """The stored document with this id, or ``None``."""
        if not isinstance(doc_id, str):
            raise InputError(f"document id must be a string, got {doc_id!r}")
        with self._lock:
            self._check_open()
            row = self._store.get(doc_id)
        if row is None:
            return None
        return Document(row[0], row[1], json.loads(row[2]))

    @property
    def settings(self) -> dict[str, Any]:
        """The settings recorded at creation (a copy)."""
        return {k: v for k, v in self._settings.items() if k not in ("generation", "fingerprint")}

    def info(self) -> dict[str, Any]:
        """JSON-ready description: settings, counts, derived files and what they reflect."""
        with self._lock:
            self._check_open()
            with self._store.snapshot():
                count = self._store.count()
                generation = self._store.generation()
            derived = self._derived.describe(count, generation)
            disk = sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())
        settings = self.settings
        return {
            "path": str(self.path),
            "documents": count,
            "generation": generation,
            **settings,
            "rrf_k": RRF_K,
            **derived,
            "read_only": self._read_only,
            "disk_bytes": disk,
        }

    # -- writing -------------------------------------------------------------------------------

    def _acquire_writer(self) -> None:
        if self._read_only:
            raise InputError(f"index at {self.path} was opened read_only=True; it cannot be changed")
        if not self._writer.try_acquire():
            raise InputError(
                f"index at {self.path} is being written by another process or Index object "
                f"(pid {self._writer.holder()}); only one writer at a time. Close the other writer, "
                "or open this one with read_only=True to search."
            )

    def _require_encoder(self, what: str) -> Any:
        if self._encoder is None:
            raise InputError(
                f"{what} needs an encoder: this index was opened without one; pass "
                f"encoder=Embedder({self._settings['model_name']!r}) to Index.open"
            )
        return self._encoder

    def _encode(self, texts: list[str], kind: str, batch_size: int) -> np.ndarray:
        encoder = self._require_encoder("embedding texts")
        vectors = np.asarray(
            encoder.encode(texts, batch_size=batch_size, normalize=self._settings["normalize"], kind=kind),
            dtype=np.float32,
        )
        if vectors.shape != (len(texts), self._dim):
            raise InputError(
                f"encoder returned shape {vectors.shape} for {len(texts)} texts; expected "
                f"({len(texts)}, {self._dim})"
            )
        if not np.isfinite(vectors).all():
            raise InputError("encoder returned non-finite values (NaN or inf)")
        return vectors

    def add(
        self,
        docs: Iterable[Document | Mapping[str, Any]],
        batch_size: int = 256,
        show_progress: bool = True,
    ) -> AddStats:
        """Add or update documents (``Document`` or ``{"id", "text", "metadata"}`` dicts).

        Documents are processed in batches of ``batch_size``; each batch is one SQLite transaction,
        so an error or a crash loses at most the batch in progress (earlier batches stay). An
        existing id is updated: a changed text is re-embedded, an unchanged text keeps its stored
        embedding (only metadata is rewritten). Within a batch the last occurrence of an id wins.
        The FAISS file is brought up to date and saved once at the end (and the BM25 index too if
        it is in use), so add documents in large calls rather than one by one.
        """
        _positive_int("batch_size", batch_size)
        if isinstance(docs, (str, bytes, Mapping, Document)):
            raise InputError("add() takes an iterable of documents; wrap a single document in a list")
        self._require_encoder("add")
        from tqdm.auto import tqdm

        # _write_lock serializes writers of this object for the whole call; _lock (database and
        # derived state) is held only around database work, so searches from other threads of
        # this process proceed while a batch is being encoded.
        with self._write_lock:
            with self._lock:
                self._check_open()
                self._acquire_writer()
            total = len(docs) if isinstance(docs, Sized) else None
            added = updated = unchanged = encoded = 0
            changed_any = False
            progress = tqdm(total=total, disable=not show_progress, desc="indexing", unit="doc")
            try:
                iterator = iter(docs)
                position = 0
                while True:
                    chunk = list(itertools.islice(iterator, batch_size))
                    if not chunk:
                        break
                    batch = [coerce_document(item, position + i) for i, item in enumerate(chunk)]
                    position += len(chunk)
                    stats, changed = self._add_batch(batch, batch_size)
                    changed_any = changed_any or changed
                    added += stats.added
                    updated += stats.updated
                    unchanged += stats.unchanged
                    encoded += stats.encoded
                    progress.update(len(chunk))
            finally:
                progress.close()
                if changed_any:
                    self._after_write()
        return AddStats(added=added, updated=updated, unchanged=unchanged, encoded=encoded)

    def _add_batch(self, batch: list[Document], batch_size: int) -> tuple[AddStats, bool]:
        latest: dict[str, Document] = {}
        for doc in batch:
            latest[doc.id] = doc
        docs = list(latest.values())
        with self._lock:
            self._check_open()
            stored = self._store.existing([doc.id for doc in docs])
        to_embed: list[Document] = []
        replaced: list[str] = []
        metadata_rows: list[tuple[str, str]] = []
        unchanged = 0
        metas = {doc.id: metadata_json(doc.metadata) for doc in docs}
        for doc in docs:
            meta = metas[doc.id]
            if doc.id not in stored:
                to_embed.append(doc)
            elif stored[doc.id][1] != doc.text:
                to_embed.append(doc)
                replaced.append(doc.id)
            elif stored[doc.id][2] != meta:
                metadata_rows.append((meta, doc.id))
            else:
                unchanged += 1
        rows: list[tuple[str, str, str, str, bytes]] = []
        if to_embed:
            vectors = self._encode([d.text for d in to_embed], self._settings["passage_kind"], batch_size)
            for doc, vector in zip(to_embed, vectors):
                tokens = " ".join(self._tokenize(doc.text))
                rows.append((doc.id, doc.text, metas[doc.id], tokens, vector.astype("<f4").tobytes()))
        if rows or metadata_rows:
            with self._lock, self._store.write_transaction():
                if replaced:
                    # A changed text gets a new row (and row id), so a row id names one vector forever.
                    self._store.delete_ids(replaced)
                self._store.insert(rows)
                self._store.update_metadata(metadata_rows)
                if rows:
                    self._store.bump_generation()
        stats = AddStats(
            added=len(to_embed) - len(replaced),
            updated=len(replaced) + len(metadata_rows),
            unchanged=unchanged,
            encoded=len(to_embed),
        )
        return stats, bool(rows)

    def delete(self, ids: str | Iterable[str]) -> int:
        """Delete documents by id (one transaction); returns how many existed. Unknown ids are
        ignored."""
        id_list = [ids] if isinstance(ids, str) else list(ids)
        for position, doc_id in enumerate(id_list):
            if not isinstance(doc_id, str):
                raise InputError(f"id {position}: document ids are strings, got {doc_id!r}")
        with self._write_lock, self._lock:
            self._check_open()
            self._acquire_writer()
            if not id_list:
                return 0
            with self._store.write_transaction():
                deleted = self._store.delete_ids(list(dict.fromkeys(id_list)))
                if deleted:
                    self._store.bump_generation()
            if deleted:
                self._after_write()
        return deleted

    def _after_write(self) -> None:
        """Bring derived state up to the new generation and save it (BM25 only if in use)."""
        with self._lock, self._store.snapshot():
            self._derived.sync_vectors()
            if self._derived.bm25_in_use():
                self._derived.sync_bm25()

    # -- search --------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        top_k: int = 10,
        mode: str = "dense",
        rerank: Any | None = None,
        rerank_top_k: int = 50,
        filter: Mapping[str, Any] | None = None,
        rerank_fusion: str = "replace",
    ) -> list[SearchHit]:
        """Search the index; best first.

        mode: ``"dense"`` (vector similarity), ``"bm25"`` (only documents sharing a token with
            the query, so possibly fewer than ``top_k``), or ``"hybrid"`` (reciprocal-rank fusion,
            k=60, of the top ``max(100, depth)`` dense and BM25 candidates).
        rerank: an object with ``scores(pairs) -> array`` (higher = better), e.g. a
            ``PairClassifier``; it rescores only the first stage's top ``rerank_top_k`` (a
            cross-encoder costs a forward pass per pair). With ``top_k > rerank_top_k`` the
            remaining hits follow in first-stage order, with their first-stage scores.
        rerank_fusion: ``"replace"`` orders the reranked head by the reranker's score alone;
            ``"rrf"`` by reciprocal-rank fusion (k=60) of its first-stage rank and its reranker
            rank, which keeps a weak or out-of-domain reranker from undoing a strong first stage.
        filter: ``{key: value}`` equality on top-level metadata keys (all must match), applied
            before ranking, so ``top_k`` hits are returned whenever that many documents match.
        """
        if not isinstance(query, str):
            raise InputError(
                f"query must be a string, got {type(query).__name__}; use search_batch for lists"
            )
        return self.search_batch(
            [query],
            top_k=top_k,
            mode=mode,
            rerank=rerank,
            rerank_top_k=rerank_top_k,
            filter=filter,
            rerank_fusion=rerank_fusion,
        )[0]

    def search_batch(
        self,
        queries: Sequence[str],
        top_k: int = 10,
        mode: str = "dense",
        rerank: Any | None = None,
        rerank_top_k: int = 50,
        filter: Mapping[str, Any] | None = None,
        batch_size: int = 32,
        rerank_fusion: str = "replace",
    ) -> list[list[SearchHit]]:
        """``search`` for many queries at once (queries encoded in batches of ``batch_size``)."""
        if isinstance(queries, str) or not isinstance(queries, Sequence):
            raise InputError("queries must be a list of strings")
        for position, query in enumerate(queries):
            if not isinstance(query, str) or not query.strip():
                raise InputError(f"query {position} must be a non-empty string, got {query!r}")
        _positive_int("top_k", top_k)
        _positive_int("rerank_top_k", rerank_top_k)
        _positive_int("batch_size", batch_size)
        _choice("mode", mode, MODES)
        _choice("rerank_fusion", rerank_fusion, RERANK_FUSIONS)
        if rerank is not None and not callable(getattr(rerank, "scores", None)):
            raise InputError(f"rerank must have a scores(pairs) method, got {type(rerank).__name__}")
        conditions = check_filter(filter)
        if not queries:
            return []
        depth = max(top_k, rerank_top_k) if rerank is not None else top_k
        query_vectors = None
        if mode in ("dense", "hybrid"):
            self._require_encoder(f"mode={mode!r}")
            query_vectors = self._encode(list(queries), self._settings["query_kind"], batch_size)
        with self._lock:
            self._check_open()
            with self._store.snapshot():
                allowed = self._store.filter_row_ids(conditions) if conditions else None
                if allowed is not None and not len(allowed):
                    return [[] for _ in queries]
                if query_vectors is None:  # mode == "bm25"
                    ranked = self._bm25_only(queries, depth, allowed)
                elif mode == "dense":
                    ranked = self._dense_only(query_vectors, depth, allowed)
                else:
                    ranked = self._hybrid(queries, query_vectors, depth, allowed)
                rows = self._store.rows({row_id for hits in ranked for row_id, _, _ in hits})
        results = [
            [
                SearchHit(rows[row_id][0], rows[row_id][1], rows[row_id][2], score, scores)
                for row_id, score, scores in hits
                if row_id in rows
            ]
            for hits in ranked
        ]
        if rerank is not None:
            results = self._rerank(rerank, queries, results, top_k, rerank_top_k, rerank_fusion)
        return results

    def _dense_lists(
        self, query_vectors: np.ndarray, depth: int, allowed: np.ndarray | None
    ) -> list[list[tuple[int, float]]]:
        vectors = self._derived.sync_vectors()
        if allowed is not None and vectors.kind != "flat" and len(allowed) <= self._params.exact_filter_limit:
            # Exact scoring of the few allowed documents: ANN walks restricted to a small subset
            # miss results (IVF probes may hold none of them).
            scores = exact_scores(query_vectors, self._store.embeddings(allowed, self._dim), self._metric)
            out = []
            for row in scores:
                order = np.argsort(-row, kind="stable")[:depth]
                out.append([(int(allowed[i]), float(row[i])) for i in order])
            return out
        k = min(depth, len(allowed) if allowed is not None else vectors.n_live)
        if k == 0:
            return [[] for _ in query_vectors]
        scores, ids = vectors.search(query_vectors, k, allowed)
        return [
            [(int(i), float(s)) for s, i in zip(score_row, id_row) if i >= 0]
            for score_row, id_row in zip(scores, ids)
        ]

    def _bm25_scores(self, lexical: LexicalIndex, query: str, allowed: np.ndarray | None) -> np.ndarray:
        scores = lexical.scores(self._tokenize(query))
        if allowed is not None:
            scores = np.where(np.isin(lexical.row_ids, allowed, assume_unique=True), scores, 0.0)
        return scores

    @staticmethod
    def _bm25_top(lexical: LexicalIndex, scores: np.ndarray, depth: int) -> list[tuple[int, float]]:
        """Documents with a positive score, best first (ties: lower row id first)."""
        positive = np.flatnonzero(scores > 0)
        if len(positive) > depth:
            cutoff = np.partition(scores[positive], len(positive) - depth)[len(positive) - depth]
            positive = positive[scores[positive] >= cutoff]
        order = positive[np.lexsort((lexical.row_ids[positive], -scores[positive]))][:depth]
        return [(int(lexical.row_ids[i]), float(scores[i])) for i in order]

    def _dense_only(self, query_vectors: np.ndarray, depth: int, allowed: np.ndarray | None) -> list[_Ranked]:
        lists = self._dense_lists(query_vectors, depth, allowed)
        return [
            [
                (row_id, score, {"dense": score, "dense_rank": rank})
                for rank, (row_id, score) in enumerate(hits, 1)
            ]
            for hits in lists
        ]

    def _bm25_only(self, queries: Sequence[str], depth: int, allowed: np.ndarray | None) -> list[_Ranked]:
        lexical = self._derived.sync_bm25()
        out = []
        for query in queries:
            hits = self._bm25_top(lexical, self._bm25_scores(lexical, query, allowed), depth)
            out.append(
                [
                    (row_id, score, {"bm25": score, "bm25_rank": rank})
                    for rank, (row_id, score) in enumerate(hits, 1)
                ]
            )
        return out

    def _hybrid(
        self, queries: Sequence[str], query_vectors: np.ndarray, depth: int, allowed: np.ndarray | None
    ) -> list[_Ranked]:
        candidates = max(FUSION_CANDIDATES, depth)
        dense_lists = self._dense_lists(query_vectors, candidates, allowed)
        lexical = self._derived.sync_bm25()
        out = []
        for query, query_vector, dense in zip(queries, query_vectors, dense_lists):
            bm25_all = self._bm25_scores(lexical, query, allowed)
            bm25_list = self._bm25_top(lexical, bm25_all, candidates)
            fused = reciprocal_rank_fusion([[r for r, _ in dense], [r for r, _ in bm25_list]])[:depth]
            dense_score = dict(dense)
            dense_rank = {r: rank for rank, (r, _) in enumerate(dense, 1)}
            bm25_rank = {r: rank for rank, (r, _) in enumerate(bm25_list, 1)}
            # Fill in the dense score of documents only BM25 found (from their stored vectors).
            absent = np.array([r for r, _ in fused if r not in dense_score], dtype=np.int64)
            if len(absent):
                stored = self._store.embeddings(absent, self._dim)
                extra = exact_scores(query_vector[None, :], stored, self._metric)[0]
                dense_score.update(zip(absent.tolist(), extra.tolist()))
            hits = []
            for rank, (row_id, rrf) in enumerate(fused, 1):
                scores: dict[str, float] = {
                    "dense": float(dense_score[row_id]),
                    "bm25": float(bm25_all[np.searchsorted(lexical.row_ids, row_id)]),
                    "rrf": rrf,
                    "fusion_rank": rank,
                }
                if row_id in dense_rank:
                    scores["dense_rank"] = dense_rank[row_id]
                if row_id in bm25_rank:
                    scores["bm25_rank"] = bm25_rank[row_id]
                hits.append((row_id, rrf, scores))
            out.append(hits)
        return out

    @staticmethod
    def _rerank(
        reranker: Any,
        queries: Sequence[str],
        results: list[list[SearchHit]],
        top_k: int,
        rerank_top_k: int,
        fusion: str = "replace",
    ) -> list[list[SearchHit]]:
        tails = [hits[rerank_top_k:top_k] for hits in results]
        results = [hits[:rerank_top_k] for hits in results]
        pairs = [(query, hit.text) for query, hits in zip(queries, results) for hit in hits]
        if not pairs:
            return [head + tail for head, tail in zip(results, tails)]
        scores = np.asarray(reranker.scores(pairs), dtype=np.float64).reshape(-1)
        if len(scores) != len(pairs):
            raise InputError(f"reranker returned {len(scores)} scores for {len(pairs)} pairs")
        reranked = []
        offset = 0
        for hits, tail in zip(results, tails):
            own = scores[offset : offset + len(hits)]
            offset += len(hits)
            by_reranker = [int(i) for i in np.argsort(-own, kind="stable")]
            if fusion == "rrf":
                fused = reciprocal_rank_fusion([list(range(len(hits))), by_reranker])
                order, final = [i for i, _ in fused], {i: value for i, value in fused}
            else:
                order, final = by_reranker, {i: float(own[i]) for i in by_reranker}
            rerank_rank = {i: rank for rank, i in enumerate(by_reranker, 1)}
            reranked.append(
                [
                    SearchHit(
                        hits[i].id,
                        hits[i].text,
                        hits[i].metadata,
                        final[i],
                        {
                            **hits[i].scores,
                            "first_stage_rank": i + 1,
                            "rerank": float(own[i]),
                            "rerank_rank": rerank_rank[i],
                        },
                    )
                    for i in order[:top_k]
                ]
                + tail
            )
        return reranked
