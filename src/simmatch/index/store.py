"""SQLite storage, the source of truth of an index.

One file, ``documents.sqlite``, in WAL mode so readers keep reading the last committed state while
a writer commits. ``documents.row_id`` (``INTEGER PRIMARY KEY AUTOINCREMENT``) is the FAISS id of a
document's vector: AUTOINCREMENT guarantees a row id is never reused, and a document whose text
changes gets a new row, so one row id always names one vector. That makes any older FAISS file a
valid subset of the truth, which the index uses to repair derived state by difference.

``settings`` holds JSON values: the model, dimension, metric, tokenizer and ANN settings fixed at
creation, and ``generation``, incremented in the same transaction as every change to the set of row
ids (derived files are labelled with the generation they reflect).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from simmatch._fs import writable
from simmatch.errors import InputError
from simmatch.index.disk import storage_reason

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE documents (
    row_id INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL,
    tokens TEXT NOT NULL,
    embedding BLOB NOT NULL
);
"""

FORMAT_VERSION = 1
SQLITE_FILE = "documents.sqlite"
FILE_RECORDS = "derived_files"  # settings key: {file name: {"crc32", "bytes", "ntotal"}}
_IN_CHUNK = 900  # stays under SQLite's historical 999 bound-parameter limit
_SCAN_CHUNK = 20_000


class Store:
    """Thin wrapper over the SQLite connection. Not thread-safe by itself; ``Index`` serializes."""

    def __init__(self, path: Path, *, read_only: bool, create: bool = False):
        self.path = path
        self.read_only = read_only
        self.read_only_reason: str | None = None  # why a writable open became read-only
        self.immutable = False
        if read_only:
            self.conn = self._connect_read_only(path)
        else:
            self.conn = sqlite3.connect(
                str(path), isolation_level=None, check_same_thread=False, timeout=30.0
            )
        try:
            self.conn.execute("PRAGMA busy_timeout = 30000")
            if create:
                self.conn.execute("PRAGMA journal_mode = WAL")
                self.conn.executescript(SCHEMA)
            if not read_only:
                # FULL: a committed batch survives power loss too, not only a killed process.
                self.conn.execute("PRAGMA synchronous = FULL")
                self.conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # opens the WAL
        except BaseException:
            self.conn.close()
            raise

    def _connect_read_only(self, path: Path) -> sqlite3.Connection:
        """``mode=ro``: SQLite's -wal/-shm files let this reader follow a live writer. Where they
        cannot be created (read-only media, a full disk) the database is opened ``immutable=1``
        (no locking, no WAL: nothing can be writing it there)."""
        uri = path.resolve().as_uri()
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.Error as exc:
            conn.close()
            reason = storage_reason(exc)
            if reason is None:
                raise
        wal = path.with_name(path.name + "-wal")
        if wal.is_file() and wal.stat().st_size:
            logger.warning(
                "%s cannot be opened for shared reading (%s); reading it as immutable: commits "
                "still in %s (not checkpointed) are not visible",
                path,
                reason,
                wal.name,
            )
        self.immutable = True
        return sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None, check_same_thread=False)

    def close(self) -> None:
        self.conn.close()

    # -- transactions -------------------------------------------------------------------------

    @contextlib.contextmanager
    def write_transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``; rolled back if the body raises."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """A read transaction: every query inside sees the same committed state (WAL snapshot)."""
        if self.conn.in_transaction:  # nested use inside a snapshot or a write
            yield
            return
        self.conn.execute("BEGIN")
        try:
            yield
        finally:
            self.conn.execute("COMMIT")

    # -- settings ------------------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        try:
            rows = self.conn.execute("SELECT key, value FROM settings").fetchall()
        except sqlite3.DatabaseError as exc:
            reason = storage_reason(exc)
            if reason is not None:
                raise InputError(f"cannot read {self.path}: {reason} ({exc})") from None
            raise InputError(f"{self.path} is not a simmatch index database: {exc}") from exc
        return {key: json.loads(value) for key, value in rows}

    def file_records(self) -> dict[str, dict[str, int]]:
        """What was recorded about each derived file when it was saved (``{}`` when nothing)."""
        row = self.conn.execute("SELECT value FROM settings WHERE key = ?", (FILE_RECORDS,)).fetchone()
        return json.loads(row[0]) if row else {}

    def record_file(self, name: str, record: Mapping[str, int], keep: Iterable[str]) -> None:
        """Record ``name``'s checksum (one transaction), forgetting records of files not in ``keep``."""
        with self.write_transaction():
            kept = set(keep)
            records = {n: r for n, r in self.file_records().items() if n in kept}
            records[name] = dict(record)
            self.put_settings({FILE_RECORDS: records})

    def put_settings(self, values: Mapping[str, Any]) -> None:
        self.conn.executemany(
            "INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)",
            [(key, json.dumps(value)) for key, value in values.items()],
        )

    def generation(self) -> int:
        row = self.conn.execute("SELECT value FROM settings WHERE key = 'generation'").fetchone()
        return int(row[0])

    def bump_generation(self) -> None:
        self.conn.execute("UPDATE settings SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")

    # -- documents -----------------------------------------------------------------------------

    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0])

    def row_ids(self) -> np.ndarray:
        """Every live row id, ascending, as int64."""
        rows = self.conn.execute("SELECT row_id FROM documents ORDER BY row_id").fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def ids(self) -> list[str]:
        """Every document id, in row-id (insertion) order."""
        return [r[0] for r in self.conn.execute("SELECT id FROM documents ORDER BY row_id")]

    def existing(self, ids: list[str]) -> dict[str, tuple[int, str, str]]:
        """``id -> (row_id, text, metadata_json)`` for those of ``ids`` that are stored."""
        found: dict[str, tuple[int, str, str]] = {}
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT id, row_id, text, metadata FROM documents WHERE id IN ({marks})"
            for doc_id, row_id, text, metadata in self.conn.execute(query, chunk):
                found[doc_id] = (row_id, text, metadata)
        return found

    def get(self, doc_id: str) -> tuple[str, str, str] | None:
        return self.conn.execute(
            "SELECT id, text, metadata FROM documents WHERE id = ?", (doc_id,)
        ).fetchone()

    def rows(self, row_ids: Iterable[int]) -> dict[int, tuple[str, str, dict[str, Any]]]:
        """``row_id -> (id, text, metadata)`` for the given row ids that exist."""
        wanted = [int(r) for r in row_ids]
        found: dict[int, tuple[str, str, dict[str, Any]]] = {}
        for start in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT row_id, id, text, metadata FROM documents WHERE row_id IN ({marks})"
            for row_id, doc_id, text, metadata in self.conn.execute(query, chunk):
                found[row_id] = (doc_id, text, json.loads(metadata))
        return found

    def embeddings(self, row_ids: np.ndarray, dim: int) -> np.ndarray:
        """Stored vectors of ``row_ids`` (all must exist), in the given order, float32 (n, dim)."""
        row_ids = np.asarray(row_ids, dtype=np.int64)
        out = np.empty((len(row_ids), dim), dtype=np.float32)
        if not len(row_ids):
            return out
        position = {int(r): i for i, r in enumerate(row_ids)}
        for start in range(0, len(row_ids), _IN_CHUNK):
            chunk = [int(r) for r in row_ids[start : start + _IN_CHUNK]]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT row_id, embedding FROM documents WHERE row_id IN ({marks})"
            for row_id, blob in self.conn.execute(query, chunk):
                out[position[row_id]] = np.frombuffer(blob, dtype="<f4")
        return out

    def scan_embeddings(
        self, dim: int, min_row_id: int = 0, chunk: int = _SCAN_CHUNK
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Stream ``(row_ids, vectors)`` chunks in row-id order, from ``min_row_id`` on."""
        cursor = self.conn.execute(
            "SELECT row_id, embedding FROM documents WHERE row_id >= ? ORDER BY row_id", (min_row_id,)
        )
        while True:
            rows = cursor.fetchmany(chunk)
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), dim)
            yield ids, vectors.astype(np.float32, copy=False)

    def scan_tokens(self, chunk: int = _SCAN_CHUNK) -> Iterator[tuple[int, list[str]]]:
        """``(row_id, tokens)`` for every document, in row-id order."""
        cursor = self.conn.execute("SELECT row_id, tokens FROM documents ORDER BY row_id")
        while True:
            rows = cursor.fetchmany(chunk)
            if not rows:
                return
            for row_id, tokens in rows:
                yield row_id, tokens.split()

    def insert(self, rows: list[tuple[str, str, str, str, bytes]]) -> None:
        """Insert ``(id, text, metadata_json, tokens, embedding_bytes)`` rows."""
        self.conn.executemany(
            "INSERT INTO documents (id, text, metadata, tokens, embedding) VALUES (?, ?, ?, ?, ?)", rows
        )

    def update_metadata(self, rows: list[tuple[str, str]]) -> None:
        """Set ``metadata_json`` for ``(metadata_json, id)`` rows."""
        self.conn.executemany("UPDATE documents SET metadata = ? WHERE id = ?", rows)

    def delete_ids(self, ids: list[str]) -> int:
        deleted = 0
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            deleted += self.conn.execute(f"DELETE FROM documents WHERE id IN ({marks})", chunk).rowcount
        return deleted

    def filter_row_ids(self, filter: Mapping[str, Any]) -> np.ndarray:
        """Row ids (ascending) whose metadata equals every ``key: value`` of a validated filter.

        Types are compared as JSON types: ``True`` matches JSON ``true`` only (not ``1``), ``None``
        matches an explicit ``null`` (not a missing key), numbers match integer or real values."""
        clauses: list[str] = []
        params: list[Any] = []
        for key, value in filter.items():
            path = f'$."{key}"'
            if value is None:
                clauses.append("json_type(metadata, ?) = 'null'")
                params.append(path)
            elif isinstance(value, bool):
                clauses.append("json_type(metadata, ?) = ?")
                params.extend([path, "true" if value else "false"])
            elif isinstance(value, str):
                clauses.append("(json_type(metadata, ?) = 'text' AND json_extract(metadata, ?) = ?)")
                params.extend([path, path, value])
            else:
                clauses.append(
                    "(json_type(metadata, ?) IN ('integer', 'real') AND json_extract(metadata, ?) = ?)"
                )
                params.extend([path, path, value])
        where = " AND ".join(clauses) if clauses else "1"
        rows = self.conn.execute(
            f"SELECT row_id FROM documents WHERE {where} ORDER BY row_id", params
        ).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))


def create_database(directory: Path, settings: Mapping[str, Any]) -> Store:
    """A new ``documents.sqlite`` in ``directory`` holding ``settings`` (and the format version)."""
    store = Store(directory / SQLITE_FILE, read_only=False, create=True)
    with store.write_transaction():
        store.put_settings({"format_version": FORMAT_VERSION, **settings})
    return store


def open_database(directory: Path, *, read_only: bool) -> tuple[Store, dict[str, Any]]:
    """The database of the index in ``directory`` and its settings; ``InputError`` when there is
    none or it has another format version."""
    database = directory / SQLITE_FILE
    if not database.is_file():
        raise InputError(f"no index at {directory} (missing {SQLITE_FILE}); create one with Index.create")
    reason = None
    if not read_only and not (writable(directory) and os.access(database, os.W_OK)):
        reason = "the directory is not writable"
    elif not read_only:
        try:
            store = Store(database, read_only=False)
        except sqlite3.Error as exc:
            if storage_reason(exc) is None:
                raise
            reason = f"the database cannot be opened for writing: {storage_reason(exc)}"
    if reason is not None:
        logger.info("%s: %s; opening the index read-only", directory, reason)
    if read_only or reason is not None:
        store = Store(database, read_only=True)
        store.read_only_reason = reason
    try:
        settings = store.settings()
        version = settings.get("format_version")
        if version != FORMAT_VERSION:
            raise InputError(
                f"{database} has index format {version!r}; this simmatch reads format {FORMAT_VERSION}"
            )
    except BaseException:
        store.close()
        raise
    return store, settings
