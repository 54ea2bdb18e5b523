"""An index on a bad disk: refused writes (disk full, permissions, read-only media) and a FAISS
file corrupted inside.

How the faults are simulated, honestly: these tests run as root, where ``chmod -w`` stops no
write, and a portable test cannot mount a full or read-only file system. So a refused write is
simulated by patching the function that performs it to raise the ``OSError`` the kernel would
(``faiss.write_index``, ``os.open`` of the lock file, ``Path.mkdir``), or, for SQLite, whose writes
happen in C, ``Store.insert`` raising the ``sqlite3.OperationalError`` SQLite raises on a full disk
(with its ``sqlite_errorcode``). Read-only media is simulated by patching the writability probe
(``simmatch.index.store.writable``); as root SQLite can still create its -wal/-shm files there, so
``test_bad_disk_real.py`` repeats the read-only and disk-full cases on a real read-only bind mount
and a real full tmpfs, where the machine allows mounting (root in a private mount namespace).
"""

from __future__ import annotations

import errno
import logging
import sqlite3

import faiss
import pytest

from simmatch._fs import FileLock
from simmatch.errors import InputError, StorageError
from simmatch.index import Index, encoders, ops
from simmatch.index.store import FILE_RECORDS, Store

from .conftest import CORPUS, FakeEncoder

NEW = [{"id": f"new-{i}", "text": f"a new document about topic {i}"} for i in range(5)]


def refuse(monkeypatch, code: int = errno.ENOSPC) -> list:
    """Make every FAISS save fail as a full (or read-only…) disk would; returns the calls."""
    calls = []

    def write_index(*args):
        calls.append(args)
        raise OSError(code, "simulated")

    monkeypatch.setattr(faiss, "write_index", write_index)
    return calls


def files(path):
    """Every index file with its size and modification time (SQLite's -wal/-shm aside)."""
    return {
        p.name: (p.stat().st_size, p.stat().st_mtime_ns)
        for p in path.rglob("*")
        if p.is_file() and not p.name.endswith(("-wal", "-shm"))
    }


def self_retrieval(index, docs=CORPUS) -> int:
    return sum(index.search(d["text"], top_k=1, mode="dense")[0].id == d["id"] for d in docs)


def test_failed_faiss_save_is_one_line_and_reads_never_write(filled, encoder, monkeypatch, caplog):
    calls = refuse(monkeypatch)
    with pytest.raises(StorageError) as raised:
        filled.add(NEW, show_progress=False)
    assert str(raised.value) == (
        f"cannot write {filled.path / 'vectors-g000000000002.faiss'}: no space left on device; "
        "the 5 documents were committed to the database and kept; the derived search files were not "
        "updated: searches repair them in memory from the stored embeddings, and the next successful "
        "add or delete saves them"
    )
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert len(filled) == 15 and len(calls) == 1
    filled.close()

    # A new process, the disk still full: searching repairs in memory and never tries to save.
    with caplog.at_level(logging.INFO, logger="simmatch.index"), Index.open(filled.path, encoder) as index:
        assert self_retrieval(index, CORPUS + NEW) == 15
        assert [h.id for h in index.search(NEW[3]["text"], top_k=1)] == ["new-3"]
        assert len(calls) == 1
    assert any("generation 1 is stale (database at generation 2)" in r.message for r in caplog.records)

    monkeypatch.undo()  # space again: the next write saves the repaired file
    with Index.open(filled.path, encoder) as index:
        index.delete(["zh-1"])
    assert [p.name for p in filled.path.glob("vectors-g*.faiss")] == ["vectors-g000000000003.faiss"]
    with Index.open(filled.path, encoder, read_only=True) as index:
        assert self_retrieval(index, CORPUS[1:] + NEW) == 14


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (errno.ENOSPC, "no space left on device"),
        (errno.EACCES, "permission denied"),
        (errno.EPERM, "operation not permitted"),
        (errno.EROFS, "read-only file system"),
    ],
)
def test_refused_faiss_save_on_delete(filled, monkeypatch, code, reason):
    refuse(monkeypatch, code)
    with pytest.raises(StorageError, match=f"vectors-g000000000002.faiss: {reason}; the 2 deletions were"):
        filled.delete(["zh-1", "zh-2"])
    assert len(filled) == 8


def test_disk_full_inside_a_batch_keeps_the_earlier_batches(filled, monkeypatch):
    insert = Store.insert

    def insert_until_full(self, rows):
        if any(row[0] == "new-3" for row in rows):
            exc = sqlite3.OperationalError("database or disk is full")
            exc.sqlite_errorcode = sqlite3.SQLITE_FULL  # what SQLite sets on ENOSPC
            raise exc
        insert(self, rows)

    monkeypatch.setattr(Store, "insert", insert_until_full)
    with pytest.raises(StorageError) as raised:
        filled.add(NEW, batch_size=3, show_progress=False)
    assert str(raised.value) == (
        f"cannot write {filled.path / 'documents.sqlite'}: no space left on device (database or disk is "
        "full); the 3 documents of this call before this batch are kept; nothing of this batch of 2 "
        "was written"
    )
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert len(filled) == 13 and "new-2" in filled and "new-3" not in filled
    assert filled.search(NEW[1]["text"], top_k=1, mode="dense")[0].id == "new-1"


def test_other_errors_are_not_disguised(filled, monkeypatch):
    def broken(self, rows):
        raise sqlite3.OperationalError("no such table: documents")

    monkeypatch.setattr(Store, "insert", broken)
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        filled.add(NEW, show_progress=False)


def test_create_on_a_refused_directory_leaves_nothing(tmp_path, encoder, monkeypatch):
    from pathlib import Path

    mkdir = Path.mkdir

    def refused_mkdir(self, *args, **kwargs):
        if self.name == "idx":
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refused_mkdir)
    with pytest.raises(StorageError, match=r"idx: permission denied; nothing was kept"):
        Index.create(tmp_path / "idx", encoder)
    monkeypatch.undo()

    calls = refuse(monkeypatch)  # the database cannot be created: a half-made index is removed
    monkeypatch.setattr(Store, "put_settings", lambda self, values: faiss.write_index())
    with pytest.raises(StorageError, match="no space left on device; nothing was kept"):
        Index.create(tmp_path / "idx", encoder)
    assert calls and not (tmp_path / "idx").exists()


def test_read_only_lock_file_is_one_line(filled, monkeypatch):
    import simmatch._fs as fs

    filled.close()
    real_open = fs.os.open

    def refused_open(path, *args, **kwargs):
        if str(path).endswith("writer.lock"):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(fs.os, "open", refused_open)
    with Index.open(filled.path) as index, pytest.raises(StorageError) as raised:
        index.delete(["zh-1"])
    assert str(raised.value) == (
        f"cannot write {filled.path / 'writer.lock'}: read-only file system; nothing was changed"
    )


def test_read_only_media_can_be_searched(filled, encoder, monkeypatch):
    import simmatch.index.store as store

    expected = {mode: [h.id for h in filled.search("北京 phone", mode=mode)] for mode in ("dense", "bm25")}
    filled.close()
    before = files(filled.path)
    monkeypatch.setattr(store, "writable", lambda directory: False)
    with Index.open(filled.path, encoder) as index:  # the default (writable) open
        assert index.info()["read_only"] is True
        for mode in ("dense", "bm25", "hybrid"):
            hits = [h.id for h in index.search("北京 phone", mode=mode)]
            assert hits == expected.get(mode, hits) and hits
        with pytest.raises(StorageError) as raised:
            index.add(NEW, show_progress=False)
        assert str(raised.value) == (
            f"cannot write {filled.path}: the directory is not writable; nothing was changed"
        )
    with pytest.raises(StorageError, match="the directory is not writable"):
        Index.open(filled.path, encoder, write=True)
    assert files(filled.path) == before  # no index file was written (no BM25 cache either)


def test_read_only_open_never_writes(filled, encoder, monkeypatch):
    filled.add(NEW, show_progress=False)
    filled.delete(["zh-1"])
    filled.close()
    for faiss_file in filled.path.glob("vectors-g*.faiss"):
        faiss_file.unlink()
    before = files(filled.path)
    calls = refuse(monkeypatch)
    with Index.open(filled.path, encoder, read_only=True) as index:
        for mode in ("dense", "bm25", "hybrid"):
            assert len(index.search("document", top_k=50, mode=mode)) > 0
        index.info()
    assert files(filled.path) == before and not calls


def corrupt_middle(path, fraction: float = 0.5) -> None:
    """Zero a block in the middle of a file (as a bad sector would): it still loads."""
    data = bytearray(path.read_bytes())
    start, stop = int(len(data) * 0.2), int(len(data) * (0.2 + fraction))
    data[start:stop] = bytes(stop - start)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("read_only", [True, False])
def test_corrupted_faiss_file_is_detected_and_rebuilt(filled, encoder, caplog, read_only):
    filled.close()
    faiss_file = next(filled.path.glob("vectors-g*.faiss"))
    good = faiss_file.read_bytes()
    corrupt_middle(faiss_file)
    faiss.read_index(str(faiss_file))  # FAISS itself sees nothing wrong
    corrupted = faiss_file.read_bytes()
    with (
        caplog.at_level(logging.INFO, logger="simmatch.index"),
        Index.open(filled.path, encoder, read_only=read_only) as index,
    ):
        assert self_retrieval(index) == len(CORPUS)
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and warnings[0].getMessage().startswith(
            f"FAISS file {faiss_file} is corrupted (saved with {{'crc32': "
        )
        message = warnings[0].getMessage()
        assert ("rebuilding it from the stored embeddings in memory" in message) == read_only
        assert faiss_file.read_bytes() == corrupted  # a read never writes
        if not read_only:
            index.add([], show_progress=False)  # the next write saves the rebuilt index
            assert faiss_file.read_bytes() == good
    if read_only:  # a new writer that changes the documents replaces the corrupted file too
        with Index.open(filled.path, encoder) as index:
            index.add(NEW[:1], show_progress=False)
        assert [p.name for p in filled.path.glob("vectors-g*.faiss")] == ["vectors-g000000000002.faiss"]
        caplog.clear()
        with Index.open(filled.path, encoder, read_only=True) as index:
            assert self_retrieval(index, CORPUS + NEW[:1]) == len(CORPUS) + 1
        assert not [r for r in caplog.records if r.levelno == logging.WARNING]


def test_checksum_is_recorded_at_save(filled):
    faiss_file = next(filled.path.glob("vectors-g*.faiss"))
    with sqlite3.connect(filled.path / "documents.sqlite") as conn:
        value = conn.execute("SELECT value FROM settings WHERE key = ?", (FILE_RECORDS,)).fetchone()[0]
    import json
    import zlib

    record = json.loads(value)[faiss_file.name]
    data = faiss_file.read_bytes()
    assert record == {"crc32": zlib.crc32(data), "bytes": len(data), "ntotal": 10}
    assert FILE_RECORDS not in filled.settings and FILE_RECORDS not in filled.info()


def test_second_writer_fails_before_loading_the_model(tmp_path, monkeypatch):
    loaded = []

    def load_encoder(name):
        loaded.append(name)
        return FakeEncoder(model_name=name)

    monkeypatch.setattr(encoders, "load_encoder", load_encoder)
    path = tmp_path / "idx"
    ops.create(path, "fake-ngram-64")
    docs = tmp_path / "docs.tsv"
    docs.write_text("a\tfirst document\n", encoding="utf-8")
    loaded.clear()
    holder = FileLock(path / "writer.lock")  # another writer
    assert holder.try_acquire()
    with pytest.raises(InputError, match="only one writer at a time"):
        ops.add_file(path, docs, show_progress=False)
    assert loaded == []
    with pytest.raises(InputError, match="only one writer at a time"):
        Index.open(path, load_encoder=True, write=True)
    assert loaded == []
    holder.release()
    assert ops.add_file(path, docs, show_progress=False)["documents"] == 1
    with pytest.raises(InputError, match="exclude each other"):
        Index.open(path, write=True, read_only=True)
