"""An index on a bad disk: the errors the file system and SQLite raise when a write is refused
(disk full, permission denied, read-only media), turned into one ``StorageError`` line that names
the path, the reason and what was kept.

Only those causes are converted; any other ``OSError`` or SQLite error propagates unchanged.
"""

from __future__ import annotations

import contextlib
import errno
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

from simmatch._fs import FileLock, remove
from simmatch.errors import InputError, StorageError

WRITER_LOCK = "writer.lock"

ERRNO_REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.EIO: "input/output error",
}
SQLITE_REASONS = {  # primary result codes (the low byte of an extended code)
    sqlite3.SQLITE_FULL: "no space left on device (database or disk is full)",
    sqlite3.SQLITE_READONLY: "the database cannot be written (read-only file system or permissions)",
    sqlite3.SQLITE_IOERR: "disk I/O error",
    sqlite3.SQLITE_CANTOPEN: "cannot open the database file",
    sqlite3.SQLITE_PERM: "permission denied",
}


def storage_reason(exc: BaseException) -> str | None:
    """Why the disk refused, for the errors that mean that; ``None`` for any other error."""
    if isinstance(exc, OSError):
        return ERRNO_REASONS.get(exc.errno) if exc.errno is not None else None
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        return SQLITE_REASONS.get(code & 0xFF) if isinstance(code, int) else None
    return None


@contextlib.contextmanager
def storage_errors(path: Path, kept: str | Callable[[], str]) -> Iterator[None]:
    """Turn a refused write inside the block into ``StorageError`` (chaining suppressed: the one
    line is the whole story). ``path``: what was being written, unless the ``OSError`` names its
    file; ``kept``: what survives, or a function saying so when the error happens."""
    try:
        yield
    except (OSError, sqlite3.Error) as exc:
        reason = storage_reason(exc)
        if reason is None:
            raise
        where = exc.filename if isinstance(exc, OSError) and exc.filename else path
        raise StorageError(where, reason, kept() if callable(kept) else kept) from None


def derived_not_saved(what: str) -> str:
    """What is kept when only a derived file could not be saved."""
    return (
        f"{what} committed to the database and kept; the derived search files were not updated: "
        "searches repair them in memory from the stored embeddings, and the next successful "
        "add or delete saves them"
    )


def batch_kept(done: int, size: int) -> str:
    """What is kept when the transaction of an ``add`` batch fails."""
    if not done:
        return (
            f"nothing of this call was written (its first batch, of {size}, failed); the index is as it was"
        )
    return (
        f"the {done} documents of this call before this batch are kept; "
        f"nothing of this batch of {size} was written"
    )


@contextlib.contextmanager
def new_directory(path: Path) -> Iterator[None]:
    """Making a new index in ``path`` (absent or empty): on a refused write, remove what was made
    and raise ``StorageError``, so a retry finds no half-created index."""
    existed = path.exists()
    try:
        with storage_errors(path, "nothing was kept (the partial index was removed)"):
            path.mkdir(parents=True, exist_ok=True)
            yield
    except StorageError:
        with contextlib.suppress(OSError):  # best-effort: the disk refuses writes
            for entry in path.iterdir() if path.is_dir() else ():
                remove(entry)
            if not existed and path.is_dir():
                path.rmdir()
        raise


def acquire_writer(lock: FileLock, path: Path, read_only: bool, read_only_reason: str | None) -> None:
    """Take the writer lock of the index at ``path``, or say in one line why this open cannot write."""
    if read_only_reason is not None:
        raise StorageError(path, read_only_reason, "nothing was changed")
    if read_only:
        raise InputError(f"index at {path} was opened read_only=True; it cannot be changed")
    with storage_errors(path / WRITER_LOCK, "nothing was changed"):
        acquired = lock.try_acquire()
    if not acquired:
        raise InputError(
            f"index at {path} is being written by another process or Index object "
            f"(pid {lock.holder()}); only one writer at a time. Close the other writer, "
            "or open this one with read_only=True to search."
        )
