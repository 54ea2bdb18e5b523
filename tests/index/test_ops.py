"""The path-level operations behind ``simmatch index`` (``simmatch.index.ops``): file reading,
JSON-ready results."""

from __future__ import annotations

import json

import pytest

from simmatch.errors import DataFormatError, InputError
from simmatch.index import IndexConfig, cli, encoders, ops

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


def test_tsv_documents(tmp_path, fake_models):
    file = tmp_path / "docs.tsv"
    file.write_text("id\ttext\n1\t苹果手机多少钱\n2\tHow much does an iPhone cost", encoding="utf-8")
    docs = cli.read_documents(file)
    assert [(d.id, d.text, d.metadata) for d in docs] == [
        ("1", "苹果手机多少钱", {}),
        ("2", "How much does an iPhone cost", {}),
    ]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.jsonl", '{"id": "1", "text": "ok"}\n{"id": "2", "text": "ok"', r"a.jsonl:2: invalid JSON"),
        ("a.jsonl", '{"id": "1", "text": ""}', r"a.jsonl:1: field 'text': must be a non-empty string"),
        ("a.jsonl", '\n{"id": null, "text": "t"}', r"a.jsonl:2: field 'id'"),
        ("a.jsonl", '{"id": 7, "text": "t", "meta": {}}', r"field 'meta': unknown field"),
        ("a.jsonl", '{"id": 7, "text": "t", "metadata": [1]}', r"field 'metadata': must be a JSON object"),
        ("a.jsonl", "[1, 2]", r"a.jsonl:1: expected a JSON object"),
        ("a.tsv", "1\tok\n2\tone\ttab too many\n", r"a.tsv:2: expected 2 tab-separated fields"),
        ("a.tsv", "1\tok\n\t text\n", r"a.tsv:2: field 'id': empty id"),
    ],
)
def test_bad_lines_are_located(tmp_path, name, content, message):
    file = tmp_path / name
    file.write_text(content, encoding="utf-8")
    with pytest.raises(DataFormatError, match=message):
        cli.read_documents(file)


def test_bad_file_arguments(tmp_path):
    with pytest.raises(InputError, match="cannot tell the format"):
        cli.read_documents(tmp_path / "docs.csv")
    with pytest.raises(InputError, match="does not exist"):
        cli.read_documents(tmp_path / "docs.jsonl")
    with pytest.raises(InputError, match="unknown document file format"):
        cli.read_documents(tmp_path / "docs.jsonl", format="csv")
    bad = tmp_path / "bin.tsv"
    bad.write_bytes(b"1\tok\n2\t\xff\xfe\n")
    with pytest.raises(DataFormatError, match=r"bin.tsv:2: not UTF-8"):
        cli.read_documents(bad)


def test_bad_file_leaves_index_untouched(tmp_path, fake_models):
    path = tmp_path / "idx"
    ops.create(path, "fake-ngram-64")
    file = tmp_path / "docs.jsonl"
    file.write_text('{"id": "1", "text": "good"}\n{"id": "2"}\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"docs\.jsonl:2"):
        ops.add_file(path, file, show_progress=False)
    assert ops.info(path)["documents"] == 0
