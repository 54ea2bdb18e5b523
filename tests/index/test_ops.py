"""The path-level operations behind ``simmatch index`` (``simmatch.index.ops``): JSON-ready results
(reading document files is ``simmatch.data.load_documents``, tested in tests/data/test_texts.py)."""

from __future__ import annotations

import json

import pytest

from simmatch.errors import DataFormatError
from simmatch.index import IndexConfig, encoders, ops

from .conftest import CORPUS, FakeEncoder, FakeReranker


@pytest.fixture
def fake_models(monkeypatch):
    loaded = []

    def load_encoder(name):
        loaded.append(name)
        return FakeEncoder(model_name=name)

    monkeypatch.setattr(encoders, "load_encoder", load_encoder)
    monkeypatch.setattr(encoders, "load_reranker", lambda path: FakeReranker())
    return loaded


@pytest.fixture
def jsonl(tmp_path):
    file = tmp_path / "docs.jsonl"
    file.write_text("\n".join(json.dumps(d, ensure_ascii=False) for d in CORPUS) + "\n\n", encoding="utf-8")
    return file


def test_create_add_search_info_delete(tmp_path, fake_models, jsonl):
    path = tmp_path / "idx"
    info = ops.create(path, "fake-ngram-64", IndexConfig(ann="flat"))
    assert info["documents"] == 0 and info["model_name"] == "fake-ngram-64" and info["ann"] == "flat"
    result = ops.add_file(path, jsonl, show_progress=False)
    assert result == {"added": 10, "updated": 0, "unchanged": 0, "encoded": 10, "documents": 10}
    assert ops.add_file(path, jsonl, show_progress=False)["unchanged"] == 10

    hits = ops.search(path, "北京天气怎么样", top_k=2, mode="hybrid")
    assert [h["id"] for h in hits] == ["zh-3", "zh-2"] and hits[0]["rank"] == 1
    assert set(hits[0]) == {"rank", "id", "text", "metadata", "score", "scores"}
    json.dumps(hits)  # JSON-ready
    loaded = len(fake_models)
    assert [h["id"] for h in ops.search(path, "passport", mode="bm25")] == ["en-4"]
    assert len(fake_models) == loaded  # BM25 search loads no model
    batch = ops.search(path, ["passport", "phone"], top_k=1, filter={"lang": "en"}, rerank="some/dir")
    assert len(batch) == 2 and batch[0][0]["id"] == "en-4" and "rerank" in batch[0][0]["scores"]

    assert ops.delete(path, ["zh-1", "nope", "zh-1"]) == {
        "deleted": 1,
        "missing": ["nope"],
        "documents": 9,
    }
    info = ops.info(path)
    assert info["documents"] == 9 and info["generation"] == 2
    json.dumps(info)


def test_bad_file_leaves_index_untouched(tmp_path, fake_models):
    path = tmp_path / "idx"
    ops.create(path, "fake-ngram-64")
    file = tmp_path / "docs.jsonl"
    file.write_text('{"id": "1", "text": "good"}\n{"id": "2"}\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"docs\.jsonl:2"):
        ops.add_file(path, file, show_progress=False)
    assert ops.info(path)["documents"] == 0
