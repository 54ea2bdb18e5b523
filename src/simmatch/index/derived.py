"""Derived state of an index: the FAISS vectors and the BM25 index, kept in line with SQLite.

Derived files carry the generation they reflect in their name (``vectors-g<generation>.faiss``,
``bm25-g<generation>/``) and are written atomically by whichever process holds ``derived.lock``
(taken without waiting; a busy lock just means this process does not save). Row ids are never
reused and a row's vector never changes, so a FAISS file of any older generation holds a valid
subset of the truth: the newest one is loaded and repaired by difference (stored embeddings of the
missing row ids added, ids gone from SQLite removed or tombstoned), with a logged message. bm25s
cannot be updated, so BM25 is only used at its exact generation and otherwise rebuilt from the
tokens stored in SQLite.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from simmatch._fs import FileLock, remove
from simmatch.errors import StorageError
from simmatch.index.disk import derived_not_saved, storage_errors
from simmatch.index.lexical import LexicalIndex
from simmatch.index.store import Store
from simmatch.index.vectors import AnnParams, VectorIndex, ivf_nlist

logger = logging.getLogger(__name__)

DERIVED_LOCK = "derived.lock"
IVF_TRAIN_PER_LIST = 50  # training vectors per IVF bucket (FAISS wants 39..256)
VECTORS_RE = re.compile(r"^vectors-g(\d+)\.faiss$")
BM25_RE = re.compile(r"^bm25-g(\d+)$")


def _vectors_name(generation: int) -> str:
    return f"vectors-g{generation:012d}.faiss"


def _bm25_name(generation: int) -> str:
    return f"bm25-g{generation:012d}"


class DerivedState:
    """The FAISS and BM25 indexes of one open index, loaded lazily, repaired and saved."""

    def __init__(self, path: Path, store: Store, settings: dict[str, Any], read_only: bool):
        self.path = path
        self.store = store
        self.read_only = read_only
        self.dim = int(settings["dim"])
        self.metric = str(settings["metric"])
        self.params = AnnParams.from_dict(settings["ann_params"])
        self.ann = str(settings["ann"])
        self.ann_threshold = int(settings["ann_threshold"])
        self._lock_file = FileLock(path / DERIVED_LOCK)
        self.vectors: VectorIndex | None = None
        self.vectors_generation = -1
        self.bm25: LexicalIndex | None = None
        self.bm25_generation = -1
        self.vectors_saved = False  # the files on disk hold what is in memory
        self.bm25_saved = False

    def release(self) -> None:
        self._lock_file.release()

    def unsaved(self) -> bool:
        """Something in memory (a repair, a rebuild) that the files on disk do not hold, or no
        FAISS file of the database's generation on disk (e.g. after a failed save)."""
        if (self.vectors is not None and not self.vectors_saved) or (
            self.bm25 is not None and not self.bm25_saved
        ):
            return True
        newest = self.newest(VECTORS_RE)
        return newest is None or newest[0] != self.store.generation()

    def bm25_in_use(self) -> bool:
        """BM25 was used by this process or saved by some process: keep it up to date."""
        return self.bm25 is not None or self.newest(BM25_RE) is not None

    def describe(self, count: int, generation: int) -> dict[str, Any]:
        """The ``vectors`` and ``bm25`` parts of ``Index.info``."""
        vectors_file = self.newest(VECTORS_RE)
        bm25_dir = self.newest(BM25_RE)
        if self.vectors is not None and self.vectors_generation == generation:
            vectors: dict[str, Any] = {
                "kind": self.vectors.kind,
                "ntotal": self.vectors.ntotal,
                "tombstones": len(self.vectors.dead),
                "nlist": self.vectors.nlist,
            }
        else:
            vectors = {"kind": self.planned_kind(count, None)}
        vectors["file"] = vectors_file[1].name if vectors_file else None
        vectors["file_generation"] = vectors_file[0] if vectors_file else None
        bm25 = {
            "dir": bm25_dir[1].name if bm25_dir else None,
            "generation": bm25_dir[0] if bm25_dir else None,
        }
        return {"vectors": vectors, "bm25": bm25}

    def newest(self, pattern: re.Pattern[str]) -> tuple[int, Path] | None:
        best: tuple[int, Path] | None = None
        for entry in self.path.iterdir():
            match = pattern.match(entry.name)
            if match and (best is None or int(match.group(1)) > best[0]):
                best = (int(match.group(1)), entry)
        return best

    def planned_kind(self, n: int, current: str | None) -> str:
        ann = self.ann
        if ann == "flat":
            return "flat"
        kind = "hnsw" if ann == "auto" else ann
        threshold = self.ann_threshold
        if n >= threshold or (current == kind and n >= threshold // 2):
            return kind
        return "flat"

    def _load_vectors(self, live: int) -> tuple[VectorIndex | None, int | None]:
        """The newest FAISS file, checked against the crc32/size/count recorded when it was saved
        (a file without a record, from an older simmatch, is trusted as before). Each reason to
        rebuild from the ``live`` stored embeddings is logged once, as a warning (shown without -v)."""
        newest = self.newest(VECTORS_RE)
        if newest is None:
            if live:  # a repair after a crash
                logger.warning(
                    "%s: no saved FAISS index for this database; building it from %d stored embeddings",
                    self.path,
                    live,
                )
            return None, None
        generation, file = newest
        try:
            vectors = VectorIndex.load(file, self.dim, self.metric, self.params)
        except (ValueError, OSError) as exc:
            logger.warning("ignoring FAISS file %s (%s); rebuilding from stored embeddings", file, exc)
            return None, None
        recorded = self.store.file_records().get(file.name)
        if recorded is not None and recorded != vectors.file_record:
            logger.warning(
                "FAISS file %s is corrupted (saved with %s, read %s); rebuilding it from the stored "
                "embeddings%s",
                file,
                recorded,
                vectors.file_record,
                " in memory" if self.read_only else "",
            )
            return None, None
        return vectors, generation

    def _build_vectors(self, kind: str, live: np.ndarray) -> VectorIndex:
        training = None
        nlist = None
        if kind == "ivf":
            nlist = ivf_nlist(len(live), self.params)
            size = min(len(live), IVF_TRAIN_PER_LIST * nlist)
            sample = np.sort(np.random.default_rng(0).choice(live, size=size, replace=False))
            training = self.store.embeddings(sample, self.dim)
        vectors = VectorIndex.empty(kind, self.dim, self.metric, self.params, training, nlist=nlist)
        for ids, batch in self.store.scan_embeddings(self.dim):
            vectors.add(ids, batch)
        return vectors

    def sync_vectors(self) -> VectorIndex:
        """Make the in-memory FAISS index hold exactly the row ids of the current snapshot, in
        memory only (reads never write; ``save`` does, after a write). Call inside a store
        snapshot (and under the owning index's lock)."""
        generation = self.store.generation()
        if self.vectors is not None and self.vectors_generation == generation:
            return self.vectors
        live = self.store.row_ids()
        loaded_generation = None
        repaired = False
        if self.vectors is None:
            self.vectors, loaded_generation = self._load_vectors(len(live))
        vectors = self.vectors
        planned = self.planned_kind(len(live), vectors.kind if vectors is not None else None)
        if vectors is not None and vectors.kind == planned:
            have = vectors.ids()
            missing = np.setdiff1d(live, have, assume_unique=True)
            extra = np.setdiff1d(have, live, assume_unique=True)
            if loaded_generation is not None and (
                len(missing) or len(extra) or loaded_generation != generation
            ):
                logger.warning(  # a repair after a crash: shown without -v
                    "%s: FAISS file of generation %d is stale (database at generation %d): "
                    "repairing from stored embeddings (+%d vectors, -%d)",
                    self.path,
                    loaded_generation,
                    generation,
                    len(missing),
                    len(extra),
                )
            repaired = bool(len(missing) or len(extra))
            if len(missing):
                for ids, batch in self.store.scan_embeddings(self.dim, min_row_id=int(missing[0])):
                    keep = np.isin(ids, missing, assume_unique=True)
                    vectors.add(ids[keep], batch[keep])
            vectors.set_dead(extra)
            if vectors.needs_rebuild(len(live)):
                logger.info("%s: rebuilding %s index (%d documents)", self.path, planned, len(live))
                vectors = self._build_vectors(planned, live)
        else:
            if vectors is not None:
                logger.info(
                    "%s: switching FAISS index %s -> %s at %d documents",
                    self.path,
                    vectors.kind,
                    planned,
                    len(live),
                )
            vectors = self._build_vectors(planned, live)
        # On disk as it is in memory only if the file of this generation loaded without repair.
        self.vectors_saved = vectors is self.vectors and loaded_generation == generation and not repaired
        self.vectors = vectors
        self.vectors_generation = generation
        return vectors

    def sync_bm25(self, save: bool = True) -> LexicalIndex:
        """Load or build the BM25 index of the current snapshot's generation (call inside a store
        snapshot). A search (``save=True``) caches a fresh build on disk when it can: bm25s cannot
        be updated, so an unsaved BM25 means a full rebuild at every open. That is the one file a
        read may write, best-effort: a refused write is a warning, never a failed search."""
        generation = self.store.generation()
        if self.bm25 is not None and self.bm25_generation == generation:
            return self.bm25
        directory = self.path / _bm25_name(generation)
        lexical = None
        if directory.is_dir():
            try:
                lexical = LexicalIndex.load(directory)
            except (OSError, ValueError) as exc:
                logger.warning("ignoring BM25 directory %s (%s); rebuilding", directory, exc)
        self.bm25_saved = lexical is not None
        if lexical is None:
            row_ids: list[int] = []
            tokens: list[list[str]] = []
            for row_id, doc_tokens in self.store.scan_tokens():
                row_ids.append(row_id)
                tokens.append(doc_tokens)
            logger.info(
                "%s: building BM25 over %d documents (generation %d)", self.path, len(row_ids), generation
            )
            lexical = LexicalIndex.build(row_ids, tokens)
        self.bm25 = lexical
        self.bm25_generation = generation
        if save and not self.bm25_saved:
            try:
                self.save_bm25()
            except OSError as exc:
                logger.warning(
                    "%s: BM25 index not cached on disk (%s); searching from memory", self.path, exc
                )
        return lexical

    def after_write(self, changed: bool, what: str, quiet: bool = False) -> None:
        """After an ``add``/``delete`` (``changed``: the row ids changed): bring derived state up
        to the database in memory, in one snapshot, then save what the files on disk do not hold
        yet (BM25 only if in use), repairs made by earlier searches included. A refused save is a
        ``StorageError`` saying ``what`` was kept; ``quiet`` (another error is on its way) logs it
        instead. Call under the owning index's lock."""
        if not (changed or self.unsaved()):
            return
        try:
            with storage_errors(self.store.path, derived_not_saved(what)):
                with self.store.snapshot():
                    self.sync_vectors()
                    if self.bm25_in_use():
                        self.sync_bm25(save=False)
                self.save()
        except StorageError as exc:
            if not quiet:
                raise
            logger.warning("%s", exc)

    def save(self) -> None:
        """After a write: save the FAISS index (and BM25 when in use) unless the files on disk
        already hold them. Call outside a store transaction (the FAISS checksum is recorded in
        the database). Disk errors propagate (``OSError`` / ``sqlite3.Error``)."""
        if self.vectors is not None and not self.vectors_saved:
            name = _vectors_name(self.vectors_generation)
            vectors = self.vectors

            def save_vectors(target: Path) -> None:
                on_disk = {entry.name for entry in self.path.iterdir()}
                vectors.save(target, lambda record: self.store.record_file(name, record, on_disk))

            self.vectors_saved = self._persist(name, save_vectors, overwrite=True)
        if self.bm25 is not None and not self.bm25_saved:
            self.save_bm25()

    def save_bm25(self) -> None:
        if self.bm25 is not None:
            self.bm25_saved = self._persist(_bm25_name(self.bm25_generation), self.bm25.save)

    def _persist(self, name: str, save: Any, overwrite: bool = False) -> bool:
        """Save a derived file/directory named ``name`` unless read-only or another process is
        saving; then remove older generations and temp files left by killed processes. ``True``
        when ``name`` is on disk afterwards."""
        if self.read_only:
            return False
        if not overwrite and (self.path / name).exists():
            return True
        if not self._lock_file.try_acquire():
            logger.debug("%s: another process is writing derived files; not saving %s", self.path, name)
            return False
        try:
            try:
                save(self.path / name)
            except OSError as exc:
                if exc.filename:
                    raise
                raise OSError(exc.errno, exc.strerror, str(self.path / name)) from exc
            pattern = VECTORS_RE if VECTORS_RE.match(name) else BM25_RE
            newest = self.newest(pattern)
            for entry in self.path.iterdir():
                match = pattern.match(entry.name)
                if match and newest is not None and entry != newest[1]:
                    remove(entry)
                elif entry.name.startswith(".") and ".tmp-" in entry.name:
                    # Holding derived.lock, no other process is writing a temp file right now.
                    remove(entry)
        finally:
            self._lock_file.release()
        return True
