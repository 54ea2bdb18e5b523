"""``Index.add(docs, vectors=Embeddings(...))``: precomputed vectors go in without an encoder,
only when made by the index's model (name, normalize, kind, fingerprint)."""

from __future__ import annotations

import numpy as np
import pytest

from simmatch.errors import InputError
from simmatch.index import Index
from simmatch.index.encoders import FINGERPRINT_TEXT
from simmatch.index.precomputed import Embeddings
from tests.index.conftest import CORPUS, FakeEncoder


def _embeddings(encoder: FakeEncoder, texts: list[str], **overrides) -> Embeddings:
    fields = {
        "vectors": encoder.encode(texts, normalize=True),
        "model_name": encoder.model_name,
        "fingerprint": encoder.encode([FINGERPRINT_TEXT], normalize=True)[0],
        "normalize": True,
        "kind": "passage",
    }
    return Embeddings(**{**fields, **overrides})


def test_precomputed_vectors_give_the_same_index_without_encoding(tmp_path):
    encoder = FakeEncoder()
    texts = [d["text"] for d in CORPUS]
    with Index.create(tmp_path / "a", encoder) as index:
        index.add(CORPUS, show_progress=False)
        expected = index.search("北京天气", top_k=5, mode="hybrid")
    Index.create(tmp_path / "b", encoder).close()
    with Index.open(tmp_path / "b") as index:
        stats = index.add(CORPUS, vectors=_embeddings(encoder, texts), show_progress=False, batch_size=3)
        assert (stats.added, stats.encoded) == (len(CORPUS), len(CORPUS))
    with Index.open(tmp_path / "b", encoder) as index:
        assert index.search("北京天气", top_k=5, mode="hybrid") == expected


def test_the_last_occurrence_of_an_id_keeps_its_own_vector(tmp_path):
    encoder = FakeEncoder()
    docs = [{"id": "x", "text": "苹果手机"}, {"id": "x", "text": "红烧肉的做法"}]
    Index.create(tmp_path / "i", encoder).close()
    with Index.open(tmp_path / "i") as index:
        index.add(docs, vectors=_embeddings(encoder, [d["text"] for d in docs]), show_progress=False)
    with Index.open(tmp_path / "i", encoder) as index:
        hit = index.search("红烧肉的做法", top_k=1, mode="dense")[0]
        assert hit.text == "红烧肉的做法" and hit.score == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"model_name": "other"}, "the precomputed vectors are from 'other'"),
        ({"kind": "query"}, "kind 'query'"),
        ({"vectors": np.zeros((2, 64), np.float32)}, "2 precomputed vectors for 10 documents"),
        ({"vectors": np.zeros((10, 8), np.float32)}, r"shape \(10, 8\); the index needs \(n, 64\)"),
        ({"fingerprint": FakeEncoder(seed=1).encode([FINGERPRINT_TEXT])[0]}, "embeds differently"),
    ],
)
def test_vectors_of_another_model_or_size_are_refused(tmp_path, overrides, message):
    encoder = FakeEncoder()
    Index.create(tmp_path / "i", encoder).close()
    embeddings = _embeddings(encoder, [d["text"] for d in CORPUS], **overrides)
    with Index.open(tmp_path / "i") as index, pytest.raises(InputError, match=message):
        index.add(CORPUS, vectors=embeddings, show_progress=False)
    with Index.open(tmp_path / "i") as index:
        assert len(index) == 0


def test_documents_must_be_a_list_with_vectors(tmp_path):
    encoder = FakeEncoder()
    Index.create(tmp_path / "i", encoder).close()
    embeddings = _embeddings(encoder, [d["text"] for d in CORPUS])
    with Index.open(tmp_path / "i") as index, pytest.raises(InputError, match="give the documents as a list"):
        index.add(iter(CORPUS), vectors=embeddings, show_progress=False)
