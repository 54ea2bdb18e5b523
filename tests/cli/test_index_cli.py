"""``simmatch index``: every command's output equals what the library returns for the same input."""

from __future__ import annotations

import json

import pytest

from simmatch._fs import FileLock
from simmatch.cli.main import main
from simmatch.index import Index
from simmatch.models import Embedder, PairClassifier

DOCS = [
    ("a", "吃完海鲜可以喝牛奶吗", "zh"),
    ("b", "hello world", "en"),
    ("c", "牛奶", "zh"),
]


def _jsonl(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def _expected(hits) -> list[dict]:
    """The library's hits as the CLI prints them: one JSON object per hit, 1-based rank first."""
    return [json.loads(json.dumps({"rank": rank, **hit.to_dict()})) for rank, hit in enumerate(hits, 1)]


@pytest.fixture
def index_path(capsys, tiny_embedder_dir, tmp_path):
    path = tmp_path / "idx"
    docs = tmp_path / "docs.jsonl"
    docs.write_text(
        "\n".join(
            json.dumps({"id": i, "text": t, "metadata": {"lang": lang}}, ensure_ascii=False)
            for i, t, lang in DOCS
        )
        + "\n",
        encoding="utf-8",
    )
    assert main(["index", "create", str(path), "--model", str(tiny_embedder_dir), "--ann", "flat"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["documents"] == 0 and created["ann"] == "flat" and created["metric"] == "cosine"
    assert main(["index", "add", str(path), str(docs)]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "added": 3,
        "updated": 0,
        "unchanged": 0,
        "encoded": 3,
        "documents": 3,
    }
    return path


@pytest.mark.parametrize(
    ("query", "argv", "kwargs"),
    [
        ("牛奶", ["--mode", "bm25", "-k", "2"], {"mode": "bm25", "top_k": 2}),
        (
            "hello",
            ["--filter", '{"lang": "zh"}', "--mode", "dense"],
            {"mode": "dense", "filter": {"lang": "zh"}},
        ),
        ("海鲜 牛奶", [], {}),  # the default mode, the same at both doors
        ("牛奶", ["--mode", "hybrid", "-k", "1"], {"mode": "hybrid", "top_k": 1}),
    ],
)
def test_index_search_equals_library(capsys, index_path, tiny_embedder_dir, query, argv, kwargs):
    assert main(["index", "search", str(index_path), query, *argv]) == 0
    printed = _jsonl(capsys)
    with Index.open(index_path, Embedder(str(tiny_embedder_dir), device="cpu"), read_only=True) as index:
        hits = index.search(query, **kwargs)
    assert hits, "the case should find something"
    if "mode" not in kwargs:  # both doors default to hybrid (DEFAULT_MODE)
        assert "rrf" in hits[0].scores and printed[0]["scores"]["rrf"] == hits[0].scores["rrf"]
    assert printed == _expected(hits)


def test_index_search_rerank_equals_library(capsys, index_path, tiny_embedder_dir, tiny_cross3_dir):
    argv = ["--rerank", str(tiny_cross3_dir), "--rerank-top-k", "2", "--rerank-fusion", "rrf"]
    assert main(["index", "search", str(index_path), "牛奶", *argv]) == 0
    printed = _jsonl(capsys)
    with Index.open(index_path, Embedder(str(tiny_embedder_dir), device="cpu"), read_only=True) as index:
        hits = index.search(
            "牛奶", rerank=PairClassifier(str(tiny_cross3_dir)), rerank_top_k=2, rerank_fusion="rrf"
        )
    assert len(hits) == 3 and all("rerank" in h.scores for h in hits[:2])
    assert printed == _expected(hits)


@pytest.mark.parametrize("fusion", [None, "replace", "rrf"])
def test_index_search_rerank_fusion_default_is_rrf(
    capsys, index_path, tiny_embedder_dir, tiny_cross3_dir, fusion
):
    # docs/retrieval.md: RRF of first-stage and reranker ranks beat the reranker score alone on
    # both measured tasks, so it is the default at every door (DEFAULT_RERANK_FUSION).
    argv = ["--rerank", str(tiny_cross3_dir), "--rerank-top-k", "3"]
    argv += [] if fusion is None else ["--rerank-fusion", fusion]
    assert main(["index", "search", str(index_path), "牛奶", *argv]) == 0
    printed = _jsonl(capsys)
    reranker = PairClassifier(str(tiny_cross3_dir))
    with Index.open(index_path, Embedder(str(tiny_embedder_dir), device="cpu"), read_only=True) as index:
        hits = index.search("牛奶", rerank=reranker, rerank_top_k=3, rerank_fusion=fusion or "rrf")
        replaced = index.search("牛奶", rerank=reranker, rerank_top_k=3, rerank_fusion="replace")
    assert printed == _expected(hits)
    if fusion != "replace":  # an RRF value, not the reranker's score
        assert [h["score"] for h in printed] != [h.score for h in replaced]


def test_index_delete_and_info_equal_library(capsys, index_path):
    assert main(["index", "delete", str(index_path), "b", "nope"]) == 0
    assert json.loads(capsys.readouterr().out) == {"deleted": 1, "missing": ["nope"], "documents": 2}
    assert main(["index", "info", str(index_path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    with Index.open(index_path, read_only=True) as index:
        expected = index.info()
        assert sorted(index.ids()) == ["a", "c"]
    assert printed == json.loads(json.dumps(expected))


def test_index_bad_file_line(capsys, tiny_embedder_dir, tmp_path):
    path = tmp_path / "idx"
    assert main(["index", "create", str(path), "--model", str(tiny_embedder_dir)]) == 0
    bad = tmp_path / "docs.jsonl"
    bad.write_text('{"id": "a", "text": "ok"}\n{"id": "b"}\n', encoding="utf-8")
    capsys.readouterr()
    assert main(["index", "add", str(path), str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2: field 'text'" in err
    with Index.open(path, read_only=True) as index:
        assert len(index) == 0


def test_index_add_disk_full_is_one_line(capsys, index_path, tmp_path, monkeypatch):
    """A refused write (simulated: faiss.write_index raising ENOSPC, as the kernel would on a
    full disk) is one line naming the file and what was kept, exit 2, and the index still works."""
    import errno

    import faiss

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(faiss, "write_index", full)
    more = tmp_path / "more.tsv"
    more.write_text("d\t豆浆\ne\tsoy milk\n", encoding="utf-8")
    assert main(["index", "add", str(index_path), str(more)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    assert captured.err.splitlines()[-1] + "\n" == (  # after the progress bar
        f"simmatch: error: cannot write {index_path / 'vectors-g000000000002.faiss'}: no space left on "
        "device; the 2 documents were committed to the database and kept; the derived search files were "
        "not updated: searches repair them in memory from the stored embeddings, and the next successful "
        "add or delete saves them\n"
    )
    assert main(["index", "search", str(index_path), "豆浆", "--mode", "dense", "-k", "5"]) == 0
    assert {hit["id"] for hit in _jsonl(capsys)} == {"a", "b", "c", "d", "e"}


def test_index_add_second_writer_fails_before_loading_the_model(capsys, index_path, tmp_path, monkeypatch):
    from simmatch.index import encoders

    loaded = []
    monkeypatch.setattr(encoders, "load_encoder", lambda name: loaded.append(name))
    more = tmp_path / "more.tsv"
    more.write_text("d\t豆浆\n", encoding="utf-8")
    holder = FileLock(index_path / "writer.lock")  # another writer
    assert holder.try_acquire()
    try:
        assert main(["index", "add", str(index_path), str(more)]) == 2
    finally:
        holder.release()
    err = capsys.readouterr().err
    assert err.startswith(f"simmatch: error: index at {index_path} is being written by another process")
    assert len(err.splitlines()) == 1 and loaded == []


def test_repair_after_a_crash_is_reported_without_verbose(index_path):
    # A crash between the database commit and the FAISS save leaves no FAISS file for the
    # database's generation; the next search rebuilds it and says so on stderr, without -v.
    import os
    import subprocess
    import sys
    from pathlib import Path

    import simmatch

    for file in index_path.glob("vectors-g*.faiss"):
        file.unlink()
    src = str(Path(simmatch.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    argv = [sys.executable, "-m", "simmatch.cli.main", "index", "search", str(index_path), "牛奶"]
    done = subprocess.run(
        [*argv, "--mode", "dense"], capture_output=True, text=True, env=env, timeout=300, check=True
    )
    assert len(done.stdout.splitlines()) == 3
    assert f"simmatch: {index_path}: no saved FAISS index for this database; building it from 3" in (
        done.stderr
    )


def test_library_debug_lines_stay_off_stderr(index_path):
    # bm25s sets its own logger to DEBUG ("Building index from tokens"); the CLI's handler shows
    # WARNING and up only (INFO with -v), so a BM25 search prints nothing on stderr.
    import os
    import subprocess
    import sys
    from pathlib import Path

    import simmatch

    src = str(Path(simmatch.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    argv = [sys.executable, "-m", "simmatch.cli.main", "index", "search", str(index_path), "牛奶"]
    done = subprocess.run(
        [*argv, "--mode", "bm25"], capture_output=True, text=True, env=env, timeout=300, check=True
    )
    assert done.stdout and done.stderr == ""
