"""Child process for test_bad_disk_real.py, run inside a private mount namespace where INDEX_DIR
is a real read-only bind mount (``readonly``) or lies on a real, small tmpfs (``full``).

usage: python _bad_disk_child.py readonly INDEX_DIR DOCS_FILE
       python _bad_disk_child.py full INDEX_DIR
Prints one JSON object.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import sys
from pathlib import Path

from simmatch.cli.main import main as cli
from simmatch.errors import SimmatchError
from simmatch.index import Index
from tests.index.conftest import CORPUS, FakeEncoder


def refused(directory: Path) -> str:
    """The errno name a write into ``directory`` gets, or "WRITABLE"."""
    try:
        (directory / "probe").write_text("x")
    except OSError as exc:
        return errno.errorcode[exc.errno]
    (directory / "probe").unlink()
    return "WRITABLE"


def cli_run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli(argv)
    return code, out.getvalue(), err.getvalue()


def read_only(path: Path, docs: str) -> dict:
    result: dict = {"probe": refused(path)}
    with Index.open(path, FakeEncoder()) as index:  # the default, writable open
        result["read_only"] = index.info()["read_only"]
        result["hits"] = {
            mode: [h.id for h in index.search("北京 phone", mode=mode)]
            for mode in ("dense", "bm25", "hybrid")
        }
        try:
            index.add([{"id": "x", "text": "y"}], show_progress=False)
        except SimmatchError as exc:
            result["add_error"] = str(exc)
    result["cli_search"] = cli_run(["index", "search", str(path), "北京 phone", "--mode", "bm25"])
    result["cli_add"] = cli_run(["index", "add", str(path), docs])
    return result


def full(path: Path) -> dict:
    result: dict = {}
    long_text = " ".join(f"word{i}" for i in range(2000))
    docs = [{"id": f"big-{i}", "text": f"{i} {long_text}"} for i in range(50)]
    filler = path.parent / "filler"
    with Index.create(path, FakeEncoder()) as index:
        index.add(CORPUS, show_progress=False)
        with open(filler, "wb", buffering=0) as handle, contextlib.suppress(OSError):
            while True:  # take every free block of the tmpfs
                handle.write(b"\0" * 4096)
        try:
            index.add(docs, batch_size=10, show_progress=False)
        except SimmatchError as exc:
            result["add_error"] = str(exc)
        result["count_after"] = len(index)
    # The disk still full: a new process searches (the default open, which falls back to
    # read-only) and a writer is refused in one line.
    with Index.open(path, FakeEncoder()) as index:
        result["self_retrieval"] = sum(
            index.search(d["text"], top_k=1, mode="dense")[0].id == d["id"] for d in CORPUS
        )
        result["search_count"] = len(index.search("word5", top_k=100, mode="dense"))
    result["cli_delete"] = cli_run(["index", "delete", str(path), "zh-1"])
    filler.unlink()
    with Index.open(path, FakeEncoder()) as index:
        index.add(docs[:3], batch_size=10, show_progress=False)
        result["count_freed"] = len(index)
    return result


if __name__ == "__main__":
    mode, directory = sys.argv[1], Path(sys.argv[2])
    output = read_only(directory, sys.argv[3]) if mode == "readonly" else full(directory)
    print(json.dumps(output, ensure_ascii=False))
