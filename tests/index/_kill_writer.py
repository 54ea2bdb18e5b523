"""Child process for test_kill.py: adds documents in batches to an existing index and hangs at a
chosen point so the parent can SIGKILL it there.

usage: python _kill_writer.py INDEX_DIR N_DOCS BATCH_SIZE HANG_BATCH WHERE
WHERE = "insert": hang inside the SQLite transaction of batch HANG_BATCH, after its first row;
        "save":   hang while the FAISS file is being written (temp file written, not yet renamed).
Prints "HANG <committed documents>" and sleeps when it reaches that point.
"""

from __future__ import annotations

import sys
import time

import faiss

from simmatch.index import Index
from tests.index.conftest import FakeEncoder


def main() -> None:
    path, n_docs, batch_size, hang_batch, where = sys.argv[1:]
    n_docs, batch_size, hang_batch = int(n_docs), int(batch_size), int(hang_batch)
    index = Index.open(path, FakeEncoder())
    state = {"transactions": 0, "inserts": 0}

    def hang(committed: int) -> None:
        print(f"HANG {committed}", flush=True)
        time.sleep(120)

    def trace(statement: str) -> None:
        if statement.startswith("BEGIN IMMEDIATE"):
            state["transactions"] += 1
            state["inserts"] = 0
        elif statement.startswith("INSERT INTO documents"):
            state["inserts"] += 1  # executemany traces each row
            if state["transactions"] == hang_batch + 1 and state["inserts"] == 2:
                hang(hang_batch * batch_size)

    if where == "insert":
        index._store.conn.set_trace_callback(trace)
    else:
        write_index = faiss.write_index

        def slow_write(index_object, file_name):
            write_index(index_object, file_name)
            hang(n_docs)

        faiss.write_index = slow_write
    docs = ({"id": f"doc-{i}", "text": f"document number {i} about topic {i % 7}"} for i in range(n_docs))
    index.add(docs, batch_size=batch_size, show_progress=False)
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
