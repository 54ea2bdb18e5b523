"""resolve_dataset: NAME:SPLIT benchmarks or file paths, as --train/--dev/--data spell them."""

from __future__ import annotations

import pytest

from simmatch.data import BENCHMARKS, RetrievalExample, load_benchmark, load_pairs, resolve_dataset
from simmatch.errors import DataFormatError, InputError


@pytest.fixture(autouse=True)
def _data_env(monkeypatch, data_dir):
    monkeypatch.setenv("SIMMATCH_DATA", str(data_dir))


def test_benchmark_spec_equals_load_benchmark():
    got = resolve_dataset("lcqmc:test", limit=7)
    want = load_benchmark("lcqmc", "test", limit=7)
    assert got.name == want.name == "lcqmc/test"
    assert list(got) == list(want) and got.label_set == want.label_set == ("0", "1")


def test_benchmark_root_argument(tmp_path):
    (tmp_path / "bq").mkdir()
    (tmp_path / "bq" / "dev.tsv").write_text("a\tb\t1\nc\td\t0\n", encoding="utf-8")
    assert resolve_dataset("bq:dev", root=tmp_path).pairs == [("a", "b"), ("c", "d")]


def test_path_passthrough(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("a\tb\t1\nc\td\t4\n", encoding="utf-8")
    assert list(resolve_dataset(str(path))) == list(load_pairs(path))
    scored = resolve_dataset(path, score_range=(0, 5), limit=1)
    assert scored.label_type == "score" and scored.labels == [1.0]
    retrieval = tmp_path / "r.jsonl"
    retrieval.write_text('{"query": "q", "pos": ["p"]}\n', encoding="utf-8")
    assert resolve_dataset(retrieval, retrieval=True) == [RetrievalExample("q", ["p"], [])]


def test_a_file_named_like_a_benchmark_is_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lcqmc").write_text("x\ty\t1\n", encoding="utf-8")
    assert resolve_dataset("lcqmc").pairs == [("x", "y")]


def test_unknown_name_lists_the_benchmarks(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    names = ", ".join(BENCHMARKS)
    with pytest.raises(InputError, match=f"unknown benchmark 'lcqcm' and no such file 'lcqcm:test'.*{names}"):
        resolve_dataset("lcqcm:test")
    with pytest.raises(InputError, match=f"unknown benchmark 'stsb' .*{names}"):
        resolve_dataset("stsb")
    with pytest.raises(InputError, match=r"benchmark 'qbqtc' needs a split: qbqtc:dev or qbqtc:test_public"):
        resolve_dataset("qbqtc")
    with pytest.raises(InputError, match="benchmark 'qbqtc' has no split 'nope'; splits: dev, test_public"):
        resolve_dataset("qbqtc:nope")
    with pytest.raises(InputError, match="lcqmc:dev is a pair benchmark; retrieval data is"):
        resolve_dataset("lcqmc:dev", retrieval=True)
    with pytest.raises(DataFormatError, match=r"missing\.tsv: no such file$"):
        resolve_dataset("missing.tsv")
