"""The bad-disk cases of test_bad_disk.py on real file systems: a read-only bind mount (EROFS for
every write, root included) and a full tmpfs (ENOSPC from the kernel, SQLITE_FULL from SQLite).

Both run in a child process inside a private mount namespace (``unshare --mount``), so nothing is
mounted outside it and the mounts vanish with the child. They need root (or the capability to
mount) and skip where the machine does not allow it.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import simmatch
from simmatch.index import Index

from .conftest import FakeEncoder

CHILD = Path(__file__).with_name("_bad_disk_child.py")
REPO = Path(__file__).resolve().parents[2]


def _namespace_works(tmp_path: Path) -> bool:
    if os.name != "posix" or shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    probe = tmp_path / "probe"
    probe.mkdir()
    script = f"mount -t tmpfs -o size=64k tmpfs {shlex.quote(str(probe))}"
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script], capture_output=True
    )
    return done.returncode == 0


@pytest.fixture
def in_namespace(tmp_path):
    if not _namespace_works(tmp_path):
        pytest.skip("cannot mount in a private mount namespace here (needs root)")

    def run(setup: str, *args: str) -> dict:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(Path(simmatch.__file__).parents[1]), str(REPO)]),
        }
        command = " ".join(shlex.quote(a) for a in [sys.executable, str(CHILD), *args])
        script = f"set -e; {setup}; exec {command}"
        done = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    return run


def test_read_only_mount_can_be_searched(in_namespace, filled, encoder, tmp_path):
    expected = {
        mode: [h.id for h in filled.search("北京 phone", mode=mode)] for mode in ("dense", "bm25", "hybrid")
    }
    filled.close()
    docs = tmp_path / "docs.tsv"
    docs.write_text("a\tsome text\n", encoding="utf-8")
    path = shlex.quote(str(filled.path))
    result = in_namespace(
        f"mount --bind {path} {path}; mount -o remount,bind,ro {path}",
        "readonly",
        str(filled.path),
        str(docs),
    )
    assert result["probe"] == "EROFS"  # a real read-only file system, for root too
    assert result["read_only"] is True and result["hits"] == expected
    refused = f"cannot write {filled.path}: the directory is not writable; nothing was changed"
    assert result["add_error"] == refused
    code, out, _ = result["cli_search"]
    assert code == 0 and [json.loads(line)["id"] for line in out.splitlines()] == expected["bm25"]
    assert result["cli_add"] == [2, "", f"simmatch: error: {refused}\n"]
    with Index.open(filled.path, FakeEncoder(), read_only=True) as index:  # untouched
        assert len(index) == 10


def test_full_tmpfs(in_namespace, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    result = in_namespace(
        f"mount -t tmpfs -o size=2m tmpfs {shlex.quote(str(disk))}", "full", str(disk / "idx")
    )
    error = result["add_error"]
    assert error.startswith(f"cannot write {disk / 'idx'}/") and "no space left on device" in error
    committed = result["count_after"]
    assert 10 <= committed < 60
    if committed == 10:
        assert error.endswith(
            "nothing of this call was written (its first batch, of 10, failed); the index is as it was"
        )
    elif "nothing of this batch" in error:
        assert f"the {committed - 10} documents of this call before this batch are kept" in error
    else:
        assert f"the {committed - 10} documents were committed to the database and kept" in error
    # The disk still full: searching works, a write is refused in one line (exit 2), nothing lost.
    assert result["self_retrieval"] == 10 and result["search_count"] == committed
    code, out, err = result["cli_delete"]
    assert code == 2 and out == "" and err.startswith("simmatch: error: cannot write ")
    assert err.endswith("nothing was deleted\n") and len(err.splitlines()) == 1
    assert result["count_freed"] == committed + 3
