"""Persistence, updates, model checks, derived-state repair, ANN paths, writer lock, readers."""

from __future__ import annotations

import logging
import sqlite3

import numpy as np
import pytest

from simmatch.errors import InputError
from simmatch.index import AnnParams, Document, Index

from .conftest import CORPUS, FakeEncoder

QUERIES = ["北京天气怎么样", "手机多少钱", "Beijing weather", "phone battery", "passport", "红烧肉"]


def snapshot(index, mode="hybrid"):
    return [[(h.id, round(h.score, 6)) for h in index.search(q, top_k=5, mode=mode)] for q in QUERIES]


def test_layout_and_settings(filled):
    names = {p.name for p in filled.path.iterdir()}
    assert {"documents.sqlite", "writer.lock", "vectors-g000000000001.faiss"} <= names
    with sqlite3.connect(filled.path / "documents.sqlite") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        row = conn.execute("SELECT row_id, embedding FROM documents WHERE id = 'zh-1'").fetchone()
    assert len(row[1]) == 64 * 4  # float32 blob
    info = filled.info()
    assert info["documents"] == 10 and info["model_name"] == "fake-ngram-64" and info["dim"] == 64
    assert info["metric"] == "cosine" and info["normalize"] is True and info["rrf_k"] == 60
    assert info["vectors"]["kind"] == "flat" and info["vectors"]["file_generation"] == info["generation"]


def test_reopen_persists(tmp_path, encoder, filled, caplog):
    before = snapshot(filled)
    filled.close()
    with caplog.at_level(logging.INFO, logger="simmatch.index"), Index.open(filled.path, encoder) as index:
        assert len(index) == 10
        assert snapshot(index) == before
        assert index.get("en-5") == Document("en-5", CORPUS[9]["text"], CORPUS[9]["metadata"])
        assert index.get("missing") is None and "zh-1" in index
    # Saved FAISS and BM25 files were reused, nothing rebuilt.
    assert not [r for r in caplog.records if "building" in r.message or "stale" in r.message]


def test_update_and_delete(filled, encoder):
    encoder.encoded.clear()
    stats = filled.add(
        [
            {"id": "zh-1", "text": CORPUS[0]["text"], "metadata": {"lang": "zh", "topic": "price"}},
            {"id": "en-1", "text": CORPUS[5]["text"], "metadata": CORPUS[5]["metadata"]},
            {"id": "en-2", "text": "Pork dumplings recipe", "metadata": {"lang": "en"}},
            {"id": "new", "text": "全新的文档", "metadata": {}},
        ],
        show_progress=False,
    )
    assert stats.to_dict() == {"added": 1, "updated": 2, "unchanged": 1, "encoded": 2}
    assert encoder.encoded == ["Pork dumplings recipe", "全新的文档"]  # unchanged texts not re-encoded
    assert len(filled) == 11
    assert filled.get("zh-1").metadata == {"lang": "zh", "topic": "price"}
    assert [h.id for h in filled.search("phone", filter={"topic": "price"})] == ["zh-1"]
    assert filled.search("Pork dumplings recipe", top_k=1)[0].id == "en-2"
    assert "en-2" not in [h.id for h in filled.search("battery", mode="bm25")]

    assert filled.ids()[-2:] == ["en-2", "new"]  # a re-embedded document moves to the end
    assert filled.delete(["zh-3", "en-3", "never-existed"]) == 2
    assert len(filled) == 9 and filled.get("zh-3") is None
    for mode in ("dense", "bm25", "hybrid"):
        ids = [h.id for h in filled.search("北京天气怎么样 Beijing weather", top_k=20, mode=mode)]
        assert "zh-3" not in ids and "en-3" not in ids
    assert len(filled.search("x", top_k=20)) == 9


def test_duplicate_ids_in_one_batch_last_wins(filled):
    filled.add([{"id": "d", "text": "first"}, {"id": "d", "text": "second"}], show_progress=False)
    assert filled.get("d").text == "second" and len(filled) == 11


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"id": "x"}, "document 1: missing 'text'"),
        ({"id": "x", "text": "  "}, "'text' must be a non-empty string"),
        ({"id": 5, "text": "t"}, "'id' must be a non-empty string"),
        ({"id": "x", "text": "t", "meta": {}}, r"unknown key\(s\) \['meta'\]"),
        ({"id": "x", "text": "t", "metadata": {"v": float("nan")}}, "metadata is not JSON"),
        ("just text", "expected a Document or a dict"),
    ],
)
def test_add_rejects_bad_documents(filled, doc, message):
    with pytest.raises(InputError, match=message):
        filled.add([{"id": "ok", "text": "fine"}, doc], show_progress=False)


def test_batches_commit_separately(filled):
    docs = [{"id": f"b{i}", "text": f"text {i}"} for i in range(5)] + [{"id": "bad"}]
    with pytest.raises(InputError, match="document 5"):
        filled.add(docs, batch_size=5, show_progress=False)
    assert len(filled) == 15  # the first batch of 5 was committed; the bad one was not
    assert filled.search("text 3", top_k=1)[0].id == "b3"  # and the vectors followed


def test_model_mismatch_refused(filled):
    filled.close()
    with pytest.raises(InputError, match=r"built with model 'fake-ngram-64' \(dim 64.*is 'other' \(dim 64\)"):
        Index.open(filled.path, FakeEncoder(model_name="other"))
    with pytest.raises(InputError, match=r"given encoder is 'fake-ngram-64' \(dim 32\)"):
        Index.open(filled.path, FakeEncoder(dim=32))
    with pytest.raises(InputError, match="same name but embeds differently"):
        Index.open(filled.path, FakeEncoder(seed=1))
    with pytest.raises(InputError, match="normalize=True, not False"):
        Index.open(filled.path, FakeEncoder(), normalize=False)
    with pytest.raises(InputError, match="query_kind='query', not 'passage'"):
        Index.open(filled.path, FakeEncoder(), query_kind="passage")
    with pytest.raises(InputError, match=r"encoder object has no \.encode"):
        Index.open(filled.path, object())


def test_without_encoder_bm25_only(filled):
    filled.close()
    with Index.open(filled.path) as index:
        assert [h.id for h in index.search("passport", mode="bm25")] == ["en-4"]
        with pytest.raises(InputError, match=r"needs an encoder.*Embedder\('fake-ngram-64'\)"):
            index.search("passport", mode="dense")
        with pytest.raises(InputError, match="needs an encoder"):
            index.add([{"id": "a", "text": "b"}])


def test_create_refuses_existing_and_open_missing(tmp_path, encoder, filled):
    with pytest.raises(InputError, match="already exists"):
        Index.create(filled.path, encoder)
    with pytest.raises(InputError, match="no index at"):
        Index.open(tmp_path / "nowhere")
    with pytest.raises(InputError, match="unknown ann 'annoy'"):
        Index.create(tmp_path / "new", encoder, ann="annoy")
    with pytest.raises(InputError, match="unknown metric"):
        Index.create(tmp_path / "new", encoder, metric="dot")


def test_missing_or_corrupt_faiss_file_is_rebuilt(filled, encoder, caplog):
    before = snapshot(filled, "dense")
    filled.close()
    faiss_file = next(filled.path.glob("vectors-g*.faiss"))
    faiss_file.unlink()
    with caplog.at_level(logging.INFO, logger="simmatch.index"), Index.open(filled.path, encoder) as index:
        assert snapshot(index, "dense") == before
    assert any("building it from 10 stored embeddings" in r.message for r in caplog.records)
    assert not faiss_file.exists()  # a read repairs in memory only ...
    with Index.open(filled.path, encoder) as index:
        index.add([{"id": "zh-1", "text": CORPUS[0]["text"], "metadata": {}}], show_progress=False)
    assert faiss_file.exists()  # ... and the next write saves, even one that changes no vector
    faiss_file.write_bytes(b"garbage")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="simmatch.index"), Index.open(filled.path, encoder) as index:
        assert snapshot(index, "dense") == before
    assert any("ignoring FAISS file" in r.message for r in caplog.records)


def test_stale_faiss_file_is_repaired(filled, encoder, caplog):
    stale = next(filled.path.glob("vectors-g*.faiss")).read_bytes()
    filled.add([{"id": "late", "text": "a late document about pandas"}], show_progress=False)
    filled.delete(["zh-1"])
    filled.close()
    for old in filled.path.glob("vectors-g*.faiss"):
        old.unlink()
    (filled.path / "vectors-g000000000001.faiss").write_bytes(stale)  # generation 1, db is at 3
    with caplog.at_level(logging.INFO, logger="simmatch.index"), Index.open(filled.path, encoder) as index:
        ids = [h.id for h in index.search("x", top_k=50, mode="dense")]
        assert sorted(ids) == sorted({d["id"] for d in CORPUS} - {"zh-1"} | {"late"})
        assert index.search("a late document about pandas", top_k=1, mode="dense")[0].id == "late"
    messages = [r.message for r in caplog.records]
    assert any(
        "generation 1 is stale (database at generation 3)" in m and "+1 vectors, -1" in m for m in messages
    )
    # Searching repaired in memory only; the next write (even one that changes nothing) saves.
    assert [p.name for p in filled.path.glob("vectors-g*.faiss")] == ["vectors-g000000000001.faiss"]
    with Index.open(filled.path, encoder) as index:
        index.add([], show_progress=False)
    assert [p.name for p in filled.path.glob("vectors-g*.faiss")] == ["vectors-g000000000003.faiss"]


@pytest.mark.parametrize("ann", ["hnsw", "ivf", "auto"])
def test_ann_index_above_threshold_matches_flat(tmp_path, encoder, ann):
    rng = np.random.default_rng(0)
    words = ["北京", "天气", "手机", "电池", "价格", "护照", "recipe", "phone", "weather", "travel", "pork"]
    docs = [
        {"id": f"d{i}", "text": " ".join(rng.choice(words, size=4)), "metadata": {"group": i % 2}}
        for i in range(300)
    ]
    docs += CORPUS
    params = AnnParams(hnsw_m=16, ivf_nprobe=4, exact_filter_limit=5)
    with (
        Index.create(tmp_path / "flat", encoder, ann="flat") as flat,
        Index.create(tmp_path / ann, encoder, ann=ann, ann_threshold=100, ann_params=params) as approx,
    ):
        flat.add(docs, show_progress=False)
        approx.add(docs, show_progress=False)
        kind = "hnsw" if ann == "auto" else ann
        assert approx.info()["vectors"]["kind"] == kind and flat.info()["vectors"]["kind"] == "flat"
        for query in QUERIES:
            assert (
                approx.search(query, top_k=1, mode="dense")[0].id
                == flat.search(query, top_k=1, mode="dense")[0].id
            )
        # Deleting (HNSW: tombstones) keeps deleted documents out of results.
        top = flat.search("北京天气怎么样", top_k=1, mode="dense")[0].id
        assert top == "zh-3"
        approx.delete([top])
        assert approx.info()["vectors"]["tombstones"] == (1 if kind == "hnsw" else 0)
        assert top not in [h.id for h in approx.search("北京天气怎么样", top_k=20, mode="dense")]
        # A selective filter (<= exact_filter_limit documents) is scored exactly ...
        assert [h.id for h in approx.search("weather", filter={"topic": "weather"}, mode="dense")] == ["en-3"]
        assert len(approx.search("weather", top_k=5, filter={"lang": "zh"}, mode="dense")) == 4
        # ... a broad one goes through the ANN index restricted to the allowed ids.
        for query in QUERIES:
            hits = approx.search(query, top_k=3, filter={"group": 1}, mode="dense")
            assert len(hits) == 3 and {h.metadata["group"] for h in hits} == {1}
            assert hits[0].id == flat.search(query, top_k=1, filter={"group": 1}, mode="dense")[0].id
    with Index.open(tmp_path / ann, encoder) as reopened:
        assert reopened.info()["vectors"]["kind"] == kind
        assert top not in [h.id for h in reopened.search("北京天气怎么样", top_k=20, mode="dense")]


def test_second_writer_refused_reader_allowed(filled, encoder):
    second = Index.open(filled.path, encoder)
    with pytest.raises(InputError, match=r"being written by another process.*only one writer"):
        second.add([{"id": "x", "text": "y"}], show_progress=False)
    with pytest.raises(InputError, match="only one writer"):
        second.delete(["zh-1"])
    assert second.search("passport", top_k=1)[0].id == "en-4"  # reading is fine
    second.close()
    with (
        Index.open(filled.path, encoder, read_only=True) as reader,
        pytest.raises(InputError, match="read_only"),
    ):
        reader.add([{"id": "x", "text": "y"}], show_progress=False)
    filled.close()  # releases the lock: a new writer may now write
    with Index.open(filled.path, encoder) as writer:
        writer.add([{"id": "x", "text": "y"}], show_progress=False)
        assert len(writer) == 11


def test_reader_follows_committed_state(filled, encoder):
    with Index.open(filled.path, encoder, read_only=True) as reader:
        assert len(reader.search("x", top_k=50)) == 10
        filled.add([{"id": f"n{i}", "text": f"new document {i}"} for i in range(5)], show_progress=False)
        filled.delete(["zh-5"])
        assert len(reader) == 14
        ids = {h.id for h in reader.search("x", top_k=50)}
        assert len(ids) == 14 and "n3" in ids and "zh-5" not in ids
        assert "n3" not in {h.id for h in reader.search("红烧肉", mode="bm25", top_k=50)}
        assert [h.id for h in reader.search("new document 3", mode="bm25", top_k=1)] == ["n3"]
    # The read-only reader never wrote derived files: only the writer's generation is on disk.
    assert len(list(filled.path.glob("vectors-g*.faiss"))) == 1


def test_closed_index_refuses_use(filled):
    filled.close()
    filled.close()  # idempotent
    with pytest.raises(InputError, match="is closed"):
        filled.search("x")


def test_search_proceeds_while_add_encodes(tmp_path, corpus):
    """A search from another thread is not blocked while ``add`` is encoding a batch."""
    import threading

    entered, gate = threading.Event(), threading.Event()

    class GatedEncoder(FakeEncoder):
        def encode(self, texts, batch_size=32, normalize=True, kind="passage"):
            if kind == "passage" and "gated" in texts[0]:
                entered.set()
                gate.wait(30)
            return super().encode(texts, batch_size=batch_size, normalize=normalize, kind=kind)

    with Index.create(tmp_path / "idx", GatedEncoder()) as index:
        index.add(corpus, show_progress=False)
        writer = threading.Thread(
            target=index.add, args=([{"id": "g", "text": "gated document"}],), kwargs={"show_progress": False}
        )
        writer.start()
        assert entered.wait(30)
        hits = index.search("gated document", top_k=20)  # would wait for the gate if add held the lock
        assert len(hits) == 10 and "g" not in {h.id for h in hits}
        gate.set()
        writer.join(30)
        assert index.search("gated document", top_k=1)[0].id == "g"
