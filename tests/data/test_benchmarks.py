"""Every benchmark loader on the real files of ../shared/data, with the row counts of its README."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from simmatch.data import BENCHMARKS, benchmark_path, load_benchmark, load_pairs
from simmatch.errors import InputError
from simmatch.settings import data_root

# (name, split, rows) from ../shared/data/README.md
COUNTS = [
    ("qbqtc", "dev", 20_000),
    ("qbqtc", "test_public", 5_000),
    ("afqmc", "train", 34_334),
    ("afqmc", "dev", 4_316),
    ("lcqmc", "dev", 8_802),
    ("lcqmc", "test", 12_500),
    ("bq", "dev", 10_000),
    ("stsb-zh", "train", 5_231),
    ("stsb-zh", "dev", 1_458),
    ("stsb-zh", "test", 1_361),
    ("pawsx-zh", "dev", 2_000),
]


@pytest.fixture(autouse=True)
def _data_env(monkeypatch, data_dir):
    monkeypatch.setenv("SIMMATCH_DATA", str(data_dir))


def test_every_registered_split_is_covered():
    covered = {(n, s) for n, s, _ in COUNTS} | {("stsb-en", s) for s in ("train", "dev", "test")}
    assert covered == {(n, s) for n, b in BENCHMARKS.items() for s in b.splits}


@pytest.mark.parametrize(("name", "split", "rows"), COUNTS)
def test_benchmark_row_counts_and_labels(name, split, rows):
    dataset = load_benchmark(name, split)
    assert len(dataset) == rows
    assert dataset.name == f"{name}/{split}"
    if name.startswith("stsb"):
        assert dataset.label_type == "score"
        assert dataset.score_range == (0.0, 5.0)
        assert all(isinstance(e.label, float) and 0 <= e.label <= 5 for e in dataset)
    else:
        assert dataset.label_type == "class"
        assert set(dataset.labels) == set(dataset.label_set)
        assert dataset.label_set == (("0", "1", "2") if name == "qbqtc" else ("0", "1"))
    for example in dataset:
        assert example.sentence1 == example.sentence1.strip() and example.sentence1
        assert example.sentence2 == example.sentence2.strip() and example.sentence2


def test_qbqtc_fields_and_label_distribution():
    test = load_benchmark("qbqtc", "test_public")
    assert Counter(test.labels) == {"0": 1209, "1": 3159, "2": 632}
    assert test[0].id == "13475"
    assert test[0].sentence1 == "离婚申请之日起任何一方不同意离婚可以向"
    # dev.json's last line has no trailing newline; it must still be read.
    dev = load_benchmark("qbqtc", "dev")
    assert dev[-1].id == "19999"


def test_afqmc_masking_is_kept_as_text():
    dataset = load_benchmark("afqmc", "dev")
    masked = [e for e in dataset if "***" in e.sentence1 + e.sentence2]
    assert len(masked) > 100


def test_pawsx_header_gives_ids():
    dataset = load_benchmark("pawsx-zh", "dev")
    assert dataset[0].id == "4"
    assert Counter(dataset.labels) == {"0": 1147, "1": 853}


def test_stsb_en_splits_and_total():
    sizes = {s: len(load_benchmark("stsb-en", s)) for s in ("train", "dev", "test")}
    assert sizes == {"train": 5749, "dev": 1500, "test": 1379}
    everything = load_pairs(benchmark_path("stsb-en", "train"))  # no split: all rows, type inferred
    assert len(everything) == sum(sizes.values()) == 8628
    assert everything.label_type == "score"
    first = load_benchmark("stsb-en", "test")[0]
    assert (first.sentence1, first.sentence2, first.label) == (
        "A girl is styling her hair.",
        "A girl is brushing her hair.",
        2.5,
    )


def test_data_root_follows_environment(monkeypatch, tmp_path, data_dir):
    assert data_root() == data_dir
    monkeypatch.setenv("SIMMATCH_DATA", str(tmp_path))
    assert benchmark_path("lcqmc", "test") == tmp_path / "lcqmc" / "test.tsv"
    monkeypatch.delenv("SIMMATCH_DATA")
    import simmatch.settings

    project = Path(simmatch.settings.__file__).resolve().parents[2]
    assert data_root().resolve() == (project.parent / "shared" / "data").resolve()


def test_unknown_benchmark_and_split():
    with pytest.raises(InputError, match="unknown benchmark 'nope'; known: qbqtc"):
        load_benchmark("nope", "dev")
    with pytest.raises(InputError, match=r"'qbqtc' has no split 'test'; splits: dev, test_public"):
        load_benchmark("qbqtc", "test")


def test_limit_and_hf_dataset():
    dataset = load_benchmark("lcqmc", "dev", limit=5)
    assert len(dataset) == 5
    hf = dataset.to_hf_dataset()
    assert hf.column_names == ["sentence1", "sentence2", "label"]
    assert hf.features["label"].names == ["0", "1"]
    assert hf["label"] == [int(e.label) for e in dataset]
    sts = load_benchmark("stsb-zh", "dev", limit=4).to_hf_dataset(unit_scores=True)
    assert sts["label"] == pytest.approx([1.0, 0.8, 0.4, 0.4])
