"""The persistent ``Index``: SQLite documents + FAISS vectors + BM25, hybrid fusion and reranking.

``documents.sqlite`` (WAL) is the source of truth; ``vectors-g<generation>.faiss`` and
``bm25-g<generation>/`` are derived from it, ``writer.lock`` is held by the one writer and
``derived.lock`` while derived files are written. Each ``add`` batch is one SQLite transaction that
increments ``generation``; derived files are written atomically after the commits. Row ids are never
reused and a row's vector never changes, so an older FAISS file is a valid subset of the truth,
repaired by difference from the stored embeddings. Searches repair in memory only; the next write
saves. A refused write raises ``StorageError`` (``simmatch.index.disk``); an index that cannot be
written (read-only media) opens read-only. See docs/retrieval.md (Storage, Durability).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence, Sized
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from simmatch._fs import FileLock
from simmatch.errors import InputError
from simmatch.index import encoders, location
from simmatch.index.base import IndexBase
from simmatch.index.derived import DerivedState
from simmatch.index.disk import WRITER_LOCK, acquire_writer, batch_kept, new_directory, storage_errors
from simmatch.index.fusion import RRF_K
from simmatch.index.options import (
    DEFAULT_MODE,
    DEFAULT_RERANK_FUSION,
    DEFAULT_RERANK_TOP_K,
    DEFAULT_TOP_K,
    INDEX_DEFAULTS,
    IndexConfig,
    positive_int,
)
from simmatch.index.precomputed import Embeddings
from simmatch.index.search import FirstStage
from simmatch.index.store import FILE_RECORDS, SQLITE_FILE, Store, create_database, open_database
from simmatch.index.tokenize import get_tokenizer
from simmatch.index.types import AddStats, Document, SearchHit
from simmatch.index.vectors import AnnParams
from simmatch.index.writes import Row, batches, commit_batch, embedded_rows, latest_by_id, plan_batch

if TYPE_CHECKING:
    from simmatch.index.milvus import MilvusIndex

logger = logging.getLogger(__name__)


def _size(docs: Iterable[Any]) -> int | None:
    return len(docs) if isinstance(docs, Sized) else None


def _local_only(token: str | None) -> None:
    if token is not None:
        raise InputError("token= applies to a Milvus server URI (http://host:19530); a local index has none")


def read_settings(path: str | Path) -> dict[str, Any]:
    """The settings recorded in the index at ``path`` (model name, dim, metric, …), read without
    loading anything else: lets a caller pick the encoder to open the index with."""
    with Index.open(path, read_only=True) as index:
        return index.settings


class Index(IndexBase):
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
        self._tokenize = get_tokenizer(settings["tokenizer"])
        self._lock = threading.RLock()  # the SQLite connection and the derived state
        self._write_lock = threading.Lock()  # one add/delete at a time in this object
        self._writer = FileLock(path / WRITER_LOCK)
        self._derived = DerivedState(path, store, settings, read_only)
        self._first_stage = FirstStage(store, self._derived, self._tokenize, settings)
        self._read_only_reason: str | None = None  # why a writable open became read-only
        self._closed = False

    # -- construction --------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | Path,
        encoder: Any,
        *,
        metric: str = INDEX_DEFAULTS.metric,
        ann: str = INDEX_DEFAULTS.ann,
        ann_threshold: int = INDEX_DEFAULTS.ann_threshold,
        tokenizer: str = INDEX_DEFAULTS.tokenizer,
        ann_params: AnnParams | None = None,
        passage_kind: str = INDEX_DEFAULTS.passage_kind,
        query_kind: str = INDEX_DEFAULTS.query_kind,
        filter_fields: Sequence[str] = (),
        token: str | None = None,
    ) -> Index | MilvusIndex:
        """Create a new index in the empty (or absent) directory ``path``.

        encoder: an encoder object (e.g. an ``Embedder``), or a model name or directory, loaded
            with ``Embedder``.
        The settings are those of ``IndexConfig`` (``simmatch.index.options``), with its defaults.
        The encoder's ``model_name``, ``dim``, these settings and a fingerprint vector (the
        embedding of a fixed text) are recorded; ``Index.open`` refuses an encoder that differs.
        filter_fields: Milvus only (``simmatch.index.milvus``): metadata keys stored as their own
            fields, so filters on them are fast; the local store filters on any key.
        token: Milvus server only: the token to connect with (default ``$MILVUS_TOKEN``).
        """
        if location.is_milvus(path):
            from simmatch.index.milvus import MilvusIndex

            return MilvusIndex.create(
                path,
                encoder,
                metric=metric,
                passage_kind=passage_kind,
                query_kind=query_kind,
                filter_fields=filter_fields,
                token=token,
            )
        _local_only(token)
        if filter_fields:
            raise InputError(
                "filter_fields applies to a Milvus index (a .db file or a milvus:// URI); "
                "the local store filters on any metadata key"
            )
        path = Path(path)
        config = IndexConfig(
            metric=metric,
            ann=ann,
            ann_threshold=ann_threshold,
            tokenizer=tokenizer,
            ann_params=AnnParams() if ann_params is None else ann_params,
            passage_kind=passage_kind,
            query_kind=query_kind,
        )
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise InputError(f"{path} already exists and is not an empty directory; use Index.open")
        encoder = encoders.as_encoder(encoder)
        model_name, dim = encoders.encoder_identity(encoder)
        fingerprint = encoders.fingerprint(encoder, config.normalize, config.passage_kind, dim)
        writer = FileLock(path / WRITER_LOCK)
        with new_directory(path):
            if not writer.try_acquire():
                raise InputError(f"{path} is being created by another process (pid {writer.holder()})")
            store = create_database(path, config.record(model_name, dim, fingerprint))
        index = cls(path, store, store.settings(), encoder, read_only=False)
        index._writer = writer
        return index

    @classmethod
    def open(
        cls,
        path: str | Path,
        encoder: Any | None = None,
        *,
        load_encoder: bool = False,
        read_only: bool = False,
        write: bool = False,
        normalize: bool | None = None,
        passage_kind: str | None = None,
        query_kind: str | None = None,
        token: str | None = None,
    ) -> Index | MilvusIndex:
        """Open an existing index.

        encoder: needed for ``add`` and dense/hybrid search; ``None`` allows BM25 search, ``get``,
            ``delete`` and ``info``. An encoder object, or a model name or directory (loaded with
            ``Embedder``). Refused (``InputError``) when its ``model_name``, ``dim`` or
            fingerprint embedding differs from the one the index was built with.
        load_encoder: with no ``encoder``, load the model the index was built with (its recorded
            ``model_name``) with ``Embedder``.
        read_only: open the database read-only; never takes the writer lock, never writes (a
            stale or corrupted FAISS/BM25 file is repaired in memory only). An index whose
            directory is not writable (read-only media) is opened read-only in any case.
        write: take the writer lock now, before loading the encoder, so that a second writer
            fails at once (``InputError``) rather than after loading a model; ``add``/``delete``
            otherwise take it on first use.
        normalize / passage_kind / query_kind: when given, must equal the recorded settings.
        token: Milvus server only: the token to connect with (default ``$MILVUS_TOKEN``).
        """
        if location.is_milvus(path):
            from simmatch.index.milvus import MilvusIndex

            return MilvusIndex.open(
                path,
                encoder,
                load_encoder=load_encoder,
                read_only=read_only,
                write=write,
                normalize=normalize,
                passage_kind=passage_kind,
                query_kind=query_kind,
                token=token,
            )
        _local_only(token)
        path = Path(path)
        if write and read_only:
            raise InputError("Index.open: write=True and read_only=True exclude each other")
        store, settings = open_database(path, read_only=read_only)
        index = cls(path, store, settings, None, read_only=store.read_only)
        index._read_only_reason = store.read_only_reason
        try:
            expected = {"normalize": normalize, "passage_kind": passage_kind, "query_kind": query_kind}
            for key, value in expected.items():
                if value is not None and value != settings[key]:
                    raise InputError(f"index at {path} was built with {key}={settings[key]!r}, not {value!r}")
            if write:
                index._acquire_writer()
            if encoder is None and load_encoder:
                encoder = settings["model_name"]
            if encoder is not None:
                encoder = encoders.as_encoder(encoder)
                encoders.check_encoder(path, settings, encoder)
        except BaseException:
            index.close()
            raise
        index._encoder = encoder
        return index

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

    # -- reading -------------------------------------------------------------------------------

    def __len__(self) -> int:
        with self._lock:
            self._check_open()
            return self._store.count()

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
        hidden = ("generation", "fingerprint", FILE_RECORDS)
        return {k: v for k, v in self._settings.items() if k not in hidden}

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
        acquire_writer(self._writer, self.path, self._read_only, self._read_only_reason)

    def add(
        self,
        docs: Iterable[Document | Mapping[str, Any]],
        batch_size: int = 256,
        show_progress: bool = True,
        vectors: Embeddings | None = None,
    ) -> AddStats:
        """Add or update documents (``Document`` or ``{"id", "text", "metadata"}`` dicts).
        ``vectors``: precomputed ``Embeddings``, one per document (``simmatch.scale``); then no
        encoder is needed, and they are refused unless made by the index's model.

        Documents are processed in batches of ``batch_size``; each batch is one SQLite transaction,
        so an error or a crash loses at most the batch in progress (earlier batches stay). An
        existing id is updated: a changed text is re-embedded, an unchanged text keeps its stored
        embedding (only metadata is rewritten). Within a batch the last occurrence of an id wins.
        The FAISS file is brought up to date and saved once at the end (and the BM25 index too if
        it is in use), so add documents in large calls rather than one by one.
        """
        positive_int("batch_size", batch_size)
        if isinstance(docs, (str, bytes, Mapping, Document)):
            raise InputError("add() takes an iterable of documents; wrap a single document in a list")
        given = None if vectors is None else vectors.checked(str(self.path), self._settings, _size(docs))
        if given is None:
            self._require_encoder("add")
        from tqdm.auto import tqdm

        # _write_lock serializes writers of this object for the whole call; _lock (database and
        # derived state) is held only around database work, so searches from other threads of
        # this process proceed while a batch is being encoded.
        with self._write_lock:
            with self._lock:
                self._check_open()
                self._acquire_writer()
            total = _size(docs)
            stats, done, changed = AddStats(), 0, False
            progress = tqdm(total=total, disable=not show_progress, desc="indexing", unit="doc")
            try:
                for batch in batches(docs, batch_size):
                    with storage_errors(self.path / SQLITE_FILE, batch_kept(done, len(batch))):
                        own = None if given is None else given[done : done + len(batch)]
                        batch_stats, batch_changed = self._add_batch(batch, batch_size, own)
                    stats, done, changed = stats + batch_stats, done + len(batch), changed or batch_changed
                    progress.update(len(batch))
            except BaseException:
                self._after_write(changed, f"the {done} documents were", quiet=True)
                raise
            finally:
                progress.close()
            self._after_write(changed, f"the {done} documents were")
        return stats

    def _add_batch(
        self, batch: list[Document], batch_size: int, given: np.ndarray | None = None
    ) -> tuple[AddStats, bool]:
        docs = latest_by_id(batch)
        with self._lock:
            self._check_open()
            stored = self._store.existing([doc.id for doc in docs])
        plan = plan_batch(docs, stored)
        rows: list[Row] = []
        if plan.to_embed:
            texts = [d.text for d in plan.to_embed]
            if given is None:
                vectors = self._encode(texts, self._settings["passage_kind"], batch_size)
            else:  # the last occurrence of an id wins, as for its document
                position = {doc.id: i for i, doc in enumerate(batch)}
                vectors = given[[position[doc.id] for doc in plan.to_embed]]
            rows = embedded_rows(plan, vectors, self._tokenize)
        with self._lock:
            return plan.stats(), commit_batch(self._store, plan, rows)

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
            database = self.path / SQLITE_FILE
            with storage_errors(database, "nothing was deleted"), self._store.write_transaction():
                deleted = self._store.delete_ids(list(dict.fromkeys(id_list)))
                if deleted:
                    self._store.bump_generation()
            self._after_write(bool(deleted), f"the {deleted} deletions were")
        return deleted

    def _after_write(self, changed: bool, what: str, quiet: bool = False) -> None:
        """Bring derived state up to the database and save it (``DerivedState.after_write``)."""
        with self._lock:
            self._derived.after_write(changed, what, quiet)

    # -- search --------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        top_k: int = DEFAULT_TOP_K,
        mode: str = DEFAULT_MODE,
        rerank: Any | None = None,
        rerank_top_k: int = DEFAULT_RERANK_TOP_K,
        filter: Mapping[str, Any] | None = None,
        rerank_fusion: str = DEFAULT_RERANK_FUSION,
    ) -> list[SearchHit]:
        """Search the index; best first.

        mode: ``"hybrid"`` (the default, ``DEFAULT_MODE``: reciprocal-rank fusion, k=60, of the
            top ``max(100, depth)`` dense and BM25 candidates), ``"dense"`` (vector similarity)
            or ``"bm25"`` (only documents sharing a token with the query, so possibly fewer than
            ``top_k``).
        rerank: a cross-encoder: an object with ``scores(pairs) -> array`` (higher = better), e.g.
            a ``PairClassifier``, or its directory. It rescores only the first stage's top
            ``rerank_top_k`` (a cross-encoder costs a forward pass per pair). With
            ``top_k > rerank_top_k`` the remaining hits follow in first-stage order, with their
            first-stage scores.
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
        top_k: int = DEFAULT_TOP_K,
        mode: str = DEFAULT_MODE,
        rerank: Any | None = None,
        rerank_top_k: int = DEFAULT_RERANK_TOP_K,
        filter: Mapping[str, Any] | None = None,
        batch_size: int = 32,
        rerank_fusion: str = DEFAULT_RERANK_FUSION,
    ) -> list[list[SearchHit]]:
        """``search`` for many queries at once (queries encoded in batches of ``batch_size``)."""
        request, query_vectors = self._search_request(
            queries,
            top_k=top_k,
            mode=mode,
            rerank=rerank,
            rerank_top_k=rerank_top_k,
            filter=filter,
            batch_size=batch_size,
            rerank_fusion=rerank_fusion,
        )
        if not request.queries:
            return []
        with self._lock:
            self._check_open()
            with self._store.snapshot():
                results = self._first_stage.hits(request, query_vectors)
        return request.finish(results)
