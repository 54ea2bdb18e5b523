"""``simmatch._fs``: the one lock and the atomic writers every cache and the index use."""

from __future__ import annotations

import subprocess
import sys

import pytest

from simmatch._fs import FileLock, atomic_directory, atomic_file, remove_temps


def _leftovers(target):
    return sorted(p.name for p in target.parent.iterdir() if p.name.startswith(f".{target.name}.tmp-"))


def test_atomic_directory_appears_whole_or_not_at_all(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError, match="boom"), atomic_directory(target) as tmp:
        (tmp / "half").write_text("x")
        raise RuntimeError("boom")
    assert not target.exists() and _leftovers(target) == []
    with atomic_directory(target) as tmp:
        (tmp / "sub").mkdir()
        (tmp / "sub" / "a.txt").write_text("first")
    assert (target / "sub" / "a.txt").read_text() == "first"
    with atomic_directory(target) as tmp:  # another writer finished first: the existing one wins
        (tmp / "b.txt").write_text("second")
    assert not (target / "b.txt").exists()
    with atomic_directory(target, replace=True) as tmp:
        (tmp / "b.txt").write_text("second")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"] and _leftovers(target) == []


def test_atomic_file_and_remove_temps(tmp_path):
    target = tmp_path / "f.bin"
    with atomic_file(target) as tmp:
        tmp.write_bytes(b"data")
    assert target.read_bytes() == b"data"
    with pytest.raises(OSError), atomic_file(target) as tmp:
        tmp.write_bytes(b"partial")
        raise OSError("disk full")
    assert target.read_bytes() == b"data" and _leftovers(target) == []
    (tmp_path / ".f.bin.tmp-dead").mkdir()
    (tmp_path / ".f.bin.tmp-dead2").write_text("x")
    remove_temps(target)
    assert _leftovers(target) == []


def test_file_lock_excludes_other_processes_and_records_the_holder(tmp_path):
    path = tmp_path / "x.lock"
    lock = FileLock(path)
    assert lock.try_acquire() and lock.held and lock.holder().isdigit()
    probe = (
        "import sys; from pathlib import Path; from simmatch._fs import FileLock; "
        "sys.exit(0 if FileLock(Path(sys.argv[1])).try_acquire() else 3)"
    )
    assert subprocess.run([sys.executable, "-c", probe, str(path)]).returncode == 3
    other = FileLock(path)
    assert not other.try_acquire() and not other.held  # another open file in this process too
    lock.release()
    assert subprocess.run([sys.executable, "-c", probe, str(path)]).returncode == 0
    with FileLock(path) as held:
        assert held.held and not other.try_acquire()
    assert other.try_acquire()
    other.release()
