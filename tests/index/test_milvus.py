"""``Index`` on Milvus Lite (a ``*.db`` file), through the same ``Index.create`` / ``Index.open``:
dense search equals exact search, BM25 / hybrid / rerank run, filters (declared fields and JSON),
updates, deletes and the encoder check. One Lite database per module (each Lite start is a
process); collections separate the tests."""

from __future__ import annotations

import numpy as np
import pytest

from simmatch.errors import InputError
from simmatch.index import Index
from simmatch.index.milvus import MilvusIndex
from simmatch.index.vectors import exact_search
from tests.index.conftest import CORPUS, FakeEncoder, FakeReranker

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

QUERIES = ["北京天气怎么样", "iPhone price", "红烧肉", "passport Beijing"]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return str(tmp_path_factory.mktemp("milvus") / "simmatch.db")


@pytest.fixture(scope="module")
def filled(db):
    index = MilvusIndex.create(f"{db}#corpus", FakeEncoder(), filter_fields=["lang"])
    index.add(CORPUS, show_progress=False)
    yield index
    index.close()


def test_location_picks_the_store(db):
    from simmatch.index.location import is_milvus, parse

    assert is_milvus("x.db") and is_milvus("milvus://h:19530") and is_milvus("http://h:19530#c")
    assert not is_milvus("my-index")
    assert (
        parse("milvus://h:19530#faq").uri == "http://h:19530"
        and parse("milvus://h:19530#faq").collection == "faq"
    )


def test_dense_search_equals_exact_search(filled):
    """The same top-k scores, and every hit scored as exact search scores it (ties, e.g. the
    zero scores of the fake encoder, may come in any order)."""
    encoder = FakeEncoder()
    stored = encoder.encode([d["text"] for d in CORPUS], normalize=True)
    queries = encoder.encode(QUERIES, normalize=True, kind="query")
    scores, _ = exact_search(queries, stored, 5, "ip")
    every = queries @ stored.T
    got = filled.search_batch(QUERIES, top_k=5, mode="dense")
    position = {d["id"]: i for i, d in enumerate(CORPUS)}
    for q, (hits, row) in enumerate(zip(got, scores)):
        np.testing.assert_allclose([h.score for h in hits], row, atol=1e-5)
        np.testing.assert_allclose([every[q, position[h.id]] for h in hits], row, atol=1e-5)
        assert [h.scores["dense_rank"] for h in hits] == [1, 2, 3, 4, 5]


def test_bm25_hybrid_and_rerank_run(filled):
    bm25 = filled.search("北京", top_k=3, mode="bm25")
    assert bm25 and all("北京" in h.text for h in bm25) and all(h.score > 0 for h in bm25)
    hybrid = filled.search("北京天气", top_k=4, mode="hybrid")
    assert len(hybrid) == 4 and hybrid[0].id in ("zh-3", "en-3") and "rrf" in hybrid[0].scores
    reranker = FakeReranker()
    reranked = filled.search("北京天气", top_k=3, rerank=reranker, rerank_top_k=4)
    assert reranker.calls == 1 and len(reranked) == 3
    assert [h.scores["rerank"] for h in reranked] == sorted(
        (h.scores["rerank"] for h in reranked), reverse=True
    )


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_filters_on_declared_and_json_fields(filled, mode):
    by_field = filled.search("手机 phone", top_k=10, mode=mode, filter={"lang": "zh"})
    assert by_field and {h.metadata["lang"] for h in by_field} == {"zh"}
    by_json = filled.search("phone 手机", top_k=10, mode=mode, filter={"topic": "phone", "lang": "en"})
    assert by_json and {h.id for h in by_json} <= {"en-1", "en-2"}
    assert filled.search("pork", top_k=10, mode=mode, filter={"stars": 5})[0].id == "en-5"


def test_updates_deletes_and_reopen(db):
    encoder = FakeEncoder()
    with Index.create(f"{db}#updates", encoder) as index:
        assert isinstance(index, MilvusIndex)
        first = index.add(CORPUS[:4], show_progress=False)
        assert (first.added, first.encoded) == (4, 4)
        encoder.encoded.clear()
        docs = [dict(CORPUS[0], metadata={"lang": "fr"}), dict(CORPUS[1], text="新的文本"), CORPUS[2]]
        stats = index.add(docs, show_progress=False)
        assert (stats.added, stats.updated, stats.unchanged, stats.encoded) == (0, 2, 1, 1)
        assert encoder.encoded == ["新的文本"]
        assert index.get("zh-1").metadata == {"lang": "fr"} and index.get("zh-2").text == "新的文本"
        assert index.delete(["zh-1", "nope"]) == 1 and len(index) == 3 and "zh-1" not in index
    with Index.open(f"{db}#updates", encoder) as index:
        assert len(index) == 3 and index.ids() == ["zh-2", "zh-3", "zh-4"]
    with pytest.raises(InputError, match="was built with model 'fake-ngram-64'"):
        Index.open(f"{db}#updates", FakeEncoder(model_name="other"))
    with pytest.raises(InputError, match="collection 'updates' already exists"):
        Index.create(f"{db}#updates", encoder)
    with pytest.raises(InputError, match="no simmatch index"):
        Index.open(f"{db}#absent")


def test_precomputed_vectors_and_bm25_without_encoder(db):
    from simmatch.index.encoders import FINGERPRINT_TEXT
    from simmatch.index.precomputed import Embeddings

    encoder = FakeEncoder()
    Index.create(f"{db}#pre", encoder).close()
    embeddings = Embeddings(
        encoder.encode([d["text"] for d in CORPUS]), encoder.model_name, encoder.encode([FINGERPRINT_TEXT])[0]
    )
    with Index.open(f"{db}#pre") as index:
        assert index.add(CORPUS, vectors=embeddings, show_progress=False).encoded == len(CORPUS)
        assert index.search("北京", mode="bm25")
        with pytest.raises(InputError, match="needs an encoder"):
            index.search("北京", mode="dense")


def test_a_new_process_opens_and_searches_the_file(tmp_path):
    """A collection starts released in a new Milvus Lite process; ``Index.open`` loads it (before
    the fix: "Collection 'simmatch_settings' is in state 'released'; call load()")."""
    import subprocess
    import sys

    db = str(tmp_path / "kept.db")
    index = Index.create(db, FakeEncoder())
    index.add(CORPUS, show_progress=False)
    expected = [h.id for h in index.search("北京天气", top_k=3, mode="dense")]
    index.close()
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_server(db)  # this process's Lite server for the file stops
    code = (
        "import sys; from simmatch.index import Index; from tests.index.conftest import FakeEncoder; "
        f"i = Index.open({db!r}, FakeEncoder()); "
        "print(' '.join(h.id for h in i.search('北京天气', top_k=3, mode='dense'))); i.close()"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-3:] == expected
