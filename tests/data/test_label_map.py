"""label_map (rename or drop labels as they are read), require_label and same_data."""

from __future__ import annotations

import pytest

from simmatch.data import check_label_map, load_benchmark, load_pairs, resolve_dataset, same_data
from simmatch.errors import DataFormatError, InputError

NLI = "a\tb\tentailment\nc\td\tneutral\ne\tf\tcontradiction\ng\th\tentailment\n"
NLI_MAP = {"entailment": "1", "contradiction": "0", "neutral": None}


def test_label_map_renames_and_drops(write):
    path = write("nli.tsv", NLI)
    got = load_pairs(path, label_map=NLI_MAP)
    assert got.pairs == [("a", "b"), ("e", "f"), ("g", "h")]
    assert got.labels == ["1", "0", "1"] and got.label_set == ("0", "1") and got.is_binary
    # limit counts pairs kept, not rows read
    assert load_pairs(path, label_map=NLI_MAP, limit=2).pairs == [("a", "b"), ("e", "f")]
    # values may be numbers; mapping to non-integers makes scores; declared labels check mapped ones
    graded = load_pairs(path, label_map={"entailment": 1, "neutral": 0.5, "contradiction": 0})
    assert graded.label_type == "score" and graded.labels == [1.0, 0.5, 0.0, 1.0]
    assert load_pairs(path, label_map=NLI_MAP, labels=["0", "1"]).labels == ["1", "0", "1"]
    jsonl = write("n.jsonl", '{"sentence1": "a", "sentence2": "b", "label": 2}\n')
    assert load_pairs(jsonl, label_map={2: "0"}).labels == ["0"]


def test_label_map_errors_name_file_line_and_field(write):
    path = write("nli.tsv", NLI)
    with pytest.raises(
        DataFormatError,
        match=r"nli.tsv:2: field 'label': label 'neutral' is not in label_map \(entailment, contradiction\)$",
    ):
        load_pairs(path, label_map={"entailment": "1", "contradiction": "0"})
    with pytest.raises(DataFormatError, match=r"nli.tsv: no rows left: label_map dropped all 4$"):
        load_pairs(path, label_map=dict.fromkeys(NLI_MAP))
    with pytest.raises(DataFormatError, match=r"nli.tsv:3: field 'label': label '0' not in the declared set"):
        load_pairs(path, label_map=NLI_MAP, labels=["1", "2"])
    unlabeled = write("u.tsv", "a\tb\n")
    with pytest.raises(DataFormatError, match=r"u.tsv: label_map was given but the file has no label column"):
        load_pairs(unlabeled, label_map=NLI_MAP)
    for bad, message in [
        ({}, "label_map must be a non-empty mapping"),
        (["entailment"], "label_map must be a non-empty mapping"),
        ({"": "1"}, "label_map keys must be labels"),
        ({"a": ""}, r"label_map\['a'\] must be a label or None"),
        ({"a": True}, r"label_map\['a'\] must be a label or None"),
    ]:
        with pytest.raises(InputError, match=message):
            check_label_map(bad)
    assert check_label_map({" a ": 1, 2: None}) == {"a": "1", "2": None}


def test_require_label_says_no_label_column(write):
    assert load_pairs(write("u.tsv", "a\tb\n")).label_type is None  # unlabeled pairs are fine by default
    cases = [
        ("u.tsv", "a\tb\nc\td\n", "found 2 columns without a header"),
        ("h.csv", "text_a,text_b\na,b\n", "found columns text_a, text_b"),
        ("u.jsonl", '{"sentence1": "a", "sentence2": "b", "id": 1}\n', "found keys sentence1, sentence2, id"),
    ]
    for name, content, found in cases:
        path = write(name, content)
        message = f"{path}: no label column ({found}; looked for label, score)"
        with pytest.raises(DataFormatError) as info:
            load_pairs(path, require_label=True)
        assert str(info.value) == message
        with pytest.raises(DataFormatError) as info:
            resolve_dataset(str(path), require_label=True)
        assert str(info.value) == message


def test_benchmark_label_map(monkeypatch, data_dir):
    monkeypatch.setenv("SIMMATCH_DATA", str(data_dir))
    raw = load_benchmark("qbqtc", "dev", limit=50)
    binary = load_benchmark("qbqtc", "dev", limit=50, label_map={"0": "0", "1": "0", "2": "1"})
    assert binary.label_set == ("0", "1") and binary.pairs == raw.pairs
    assert binary.labels == ["1" if y == "2" else "0" for y in raw.labels]
    assert resolve_dataset("qbqtc:dev", limit=50, label_map={"0": "0", "1": "0", "2": "1"}).labels == (
        binary.labels
    )
    with pytest.raises(InputError, match=r"label_map names 'yes', not a label of 'lcqmc' \(0, 1\)"):
        load_benchmark("lcqmc", "dev", label_map={"yes": "1"})
    with pytest.raises(
        InputError, match="label_map applies to class labels; benchmark 'stsb-zh' holds scores"
    ):
        load_benchmark("stsb-zh", "dev", label_map={"5": "1"})
    with pytest.raises(InputError, match="label_map applies to pair data, not retrieval data"):
        resolve_dataset("r.jsonl", retrieval=True, label_map=NLI_MAP)


def test_same_data(tmp_path, monkeypatch, data_dir):
    monkeypatch.setenv("SIMMATCH_DATA", str(data_dir))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.tsv").write_text("a\tb\t1\n", encoding="utf-8")
    assert same_data("a.tsv", tmp_path / "a.tsv")
    assert same_data("./a.tsv", str(tmp_path / "x" / ".." / "a.tsv"))
    assert not same_data("a.tsv", "b.tsv")
    assert same_data("-", "-")
    assert same_data("lcqmc:test", "lcqmc:test")
    assert same_data("lcqmc:test", data_dir / "lcqmc" / "test.tsv")
    assert not same_data("lcqmc:test", "lcqmc:dev")
    assert not same_data("stsb-en:dev", "stsb-en:test")  # one file, two splits
    assert same_data("stsb-en:test", "stsb-en:test")
