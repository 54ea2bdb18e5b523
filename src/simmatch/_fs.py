"""File-system primitives shared by the model cache, the ONNX export cache and the index: durable
atomic writes (temp name beside the target, fsync, rename) and one advisory file lock.

Every writer that makes a file or a directory appear at once goes through ``atomic_file`` or
``atomic_directory``; every inter-process lock is a ``FileLock``. Temp names start with
``.<target name>.tmp-`` so a process holding the target's lock can remove what killed writers
left behind (``remove_temps``).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

_flock: Any
try:  # POSIX; on platforms without flock the lock is a documented no-op (see FileLock)
    import fcntl as _flock
except ImportError:  # pragma: no cover - Windows
    _flock = None


def fsync_file(path: Path) -> None:
    """Flush a written file's data to disk before it is renamed into place."""
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def fsync_dir(directory: Path) -> None:
    """Make a rename inside ``directory`` durable (no-op where directories cannot be opened,
    e.g. Windows; some filesystems refuse fsync on a directory — the rename is still atomic)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_tree(directory: Path) -> None:
    """fsync every file and directory under ``directory`` (the directory itself last)."""
    for root, _dirs, files in os.walk(directory, topdown=False):
        for name in files:
            fsync_file(Path(root) / name)
        fsync_dir(Path(root))


def temp_name(target: Path) -> Path:
    """A fresh temp path beside ``target``: ``.<name>.tmp-<pid>-<random>``."""
    return target.with_name(f".{target.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")


def remove_temps(target: Path) -> None:
    """Remove the temp files/directories that writers of ``target`` left behind (killed, power
    loss). Call only while holding the target's lock, when no live writer can own one."""
    for entry in target.parent.glob(f".{target.name}.tmp-*"):
        remove(entry)


def remove(entry: Path) -> None:
    """Remove a file or a directory tree; missing is fine."""
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        entry.unlink(missing_ok=True)


def replace_file(source: Path, target: Path) -> None:
    """fsync ``source``, rename it over ``target`` (atomic), fsync the directory."""
    fsync_file(source)
    os.replace(source, target)
    fsync_dir(target.parent)


def writable(directory: Path) -> bool:
    """Whether this process may create and replace files in ``directory``: ``os.access`` answers
    ``False`` on a read-only mount (even for root) and for a directory without write permission
    (except for root, who may write there)."""
    return os.access(directory, os.W_OK | os.X_OK)


@contextlib.contextmanager
def atomic_file(target: Path, before_replace: Callable[[], None] | None = None) -> Iterator[Path]:
    """Yield a temp path beside ``target`` to write; on success it is fsynced and renamed over
    ``target``; on error it is removed and ``target`` is untouched. ``before_replace`` runs after
    the fsync and before the rename (e.g. to record the new file's checksum first)."""
    tmp = temp_name(target)
    try:
        yield tmp
        fsync_file(tmp)
        if before_replace is not None:
            before_replace()
        os.replace(tmp, target)
        fsync_dir(target.parent)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_directory(target: Path, *, replace: bool = False) -> Iterator[Path]:
    """Build the directory ``target`` so that it appears complete or not at all.

    Yields an empty temp directory beside ``target`` (made with ``mkdir``, so it has the
    umask-derived permissions of any directory). When the body returns, every file in it is
    fsynced and it is renamed to ``target``; when the body raises, it is removed.

    If ``target`` exists when the rename happens: with ``replace=False`` the existing directory
    wins (another writer finished first) and the new one is discarded; with ``replace=True`` the
    old one is moved aside, the new one renamed in, and the old one removed (put back if the
    rename fails). Callers that need the winner to be valid check ``target`` afterwards.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(target)
    tmp.mkdir()
    aside: Path | None = None
    try:
        yield tmp
        fsync_tree(tmp)
        if replace and target.exists():
            aside = temp_name(target)
            os.replace(target, aside)
        try:
            os.rename(tmp, target)
        except OSError:
            if not target.is_dir() or replace:
                raise
        fsync_dir(target.parent)
    except BaseException:
        if aside is not None and not target.exists():
            os.replace(aside, target)  # put the previous directory back
            aside = None
        raise
    finally:
        remove(tmp)
        if aside is not None:
            remove(aside)


class FileLock:
    """An exclusive advisory lock (``fcntl.flock``) on the file ``path``; the holder's pid is
    written into the file. The kernel releases it when the process dies, so a killed holder never
    leaves a stale lock. Where ``flock`` does not exist (Windows) acquiring always succeeds: the
    atomic renames alone keep files consistent there, at the cost of possible double work.

    ``try_acquire()`` takes it without waiting; ``with FileLock(path):`` waits for it.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def _take(self, blocking: bool) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if _flock is not None:
            try:
                _flock.flock(fd, _flock.LOCK_EX if blocking else _flock.LOCK_EX | _flock.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
        try:  # the pid is informative: a full disk must not stop the lock from working
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:
            pass
        self._fd = fd
        return True

    def try_acquire(self) -> bool:
        """Take the lock if free; ``False`` if another open file (any process) holds it."""
        return self._take(blocking=False)

    def acquire(self) -> None:
        """Take the lock, waiting for the current holder to release it."""
        self._take(blocking=True)

    def holder(self) -> str:
        """The pid recorded by the current holder, or ``"unknown"``."""
        try:
            text = self.path.read_text().strip()
        except OSError:
            return "unknown"
        return text or "unknown"

    def release(self) -> None:
        if self._fd is not None:
            if _flock is not None:
                _flock.flock(self._fd, _flock.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()
