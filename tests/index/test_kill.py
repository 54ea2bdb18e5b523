"""A writer killed with SIGKILL mid-add leaves a readable index holding exactly the committed
batches; the stale or missing FAISS file is repaired on the next open."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from simmatch.errors import InputError
from simmatch.index import Index

from .conftest import FakeEncoder

ROOT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("_kill_writer.py")


def run_until_hang(path: Path, n_docs: int, batch_size: int, hang_batch: int, where: str) -> tuple:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(path), str(n_docs), str(batch_size), str(hang_batch), where],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    line = child.stdout.readline()
    if not line.startswith("HANG"):
        child.kill()
        raise AssertionError(f"child did not reach the hang point: {line!r} {child.stderr.read()}")
    return child, int(line.split()[1])


@pytest.mark.parametrize(("where", "hang_batch"), [("insert", 3), ("save", 0)])
def test_sigkill_mid_add(tmp_path, caplog, where, hang_batch):
    path = tmp_path / "idx"
    encoder = FakeEncoder()
    with Index.create(path, encoder, tokenizer="word") as index:
        seed = {"id": "seed", "text": "a document committed before the writer started"}
        index.add([seed], show_progress=False)
    child, committed = run_until_hang(path, n_docs=60, batch_size=10, hang_batch=hang_batch, where=where)
    try:
        # While the child holds the writer lock: a second writer is refused, a reader sees the
        # last committed state.
        with Index.open(path, encoder) as other, pytest.raises(InputError, match="only one writer"):
            other.add([{"id": "x", "text": "y"}], show_progress=False)
        with Index.open(path, encoder, read_only=True) as reader:
            assert len(reader) == 1 + committed
            assert len(reader.search("document", top_k=100, mode="dense")) == 1 + committed
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL

    with caplog.at_level(logging.INFO, logger="simmatch.index"), Index.open(path, encoder) as index:
        expected = {"seed"} | {f"doc-{i}" for i in range(committed)}
        assert len(index) == len(expected)
        hits = index.search("document number", top_k=100, mode="dense")
        assert {h.id for h in hits} == expected  # FAISS repaired to exactly the committed rows
        assert {h.id for h in index.search("document", mode="bm25", top_k=100)} == expected
        for i in range(committed):  # every committed document complete, nothing half-written
            doc = index.get(f"doc-{i}")
            assert doc.text == f"document number {i} about topic {i % 7}" and doc.metadata == {}
        assert index.get(f"doc-{committed}") is None
        assert index.search("document number 5 about topic 5", top_k=1, mode="dense")[0].id == (
            "doc-5" if committed > 5 else hits[0].id
        )
        # The index is writable again (the dead writer's flock went away with it).
        index.add([{"id": "after", "text": "written after the crash"}], show_progress=False)
        assert index.search("written after the crash", top_k=1, mode="dense")[0].id == "after"
    assert any("stale" in r.message or "no saved FAISS index" in r.message for r in caplog.records)
    leftovers = [p.name for p in path.iterdir() if ".tmp-" in p.name]
    assert leftovers == []  # the killed writer's temp file was cleaned up by the next save
