"""Generic loaders on small files written per test: formats, column mapping, and every error."""

from __future__ import annotations

import json
import re

import pytest

from simmatch.data import (
    PairDataset,
    PairExample,
    RetrievalExample,
    load_pairs,
    load_retrieval,
    score_to_unit,
)
from simmatch.errors import DataFormatError, InputError


def where(path, line=None) -> str:
    """The start of a DataFormatError message, escaped for pytest.raises(match=)."""
    return re.escape(str(path) if line is None else f"{path}:{line}")


# ---- formats ---------------------------------------------------------------------------------------


def test_headerless_tsv_strips_fields_and_reads_last_line_without_newline(write):
    path = write("pairs.tsv", " 你好 世界 \t再见\t1\nA  b\t c \t 0 ")
    dataset = load_pairs(path)
    assert list(dataset) == [PairExample("你好 世界", "再见", "1"), PairExample("A  b", "c", "0")]
    assert dataset.label_type == "class"
    assert dataset.label_set == ("0", "1")
    assert dataset.path == path


def test_crlf_bom_and_trailing_blank_lines(write):
    path = write("pairs.tsv", "\ufeffa\tb\t1\r\nc\td\t0\r\n\r\n\n")
    assert load_pairs(path).pairs == [("a", "b"), ("c", "d")]


def test_qbqtc_style_jsonl(write):
    rows = [
        {"id": 7, "query": "q1", "title": "t1", "label": "2"},
        {"id": 8, "query": "q2", "title": "t2", "label": "0"},
    ]
    path = write("x.json", "\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
    dataset = load_pairs(path, labels=["0", "1", "2"])
    assert list(dataset) == [PairExample("q1", "t1", "2", "7"), PairExample("q2", "t2", "0", "8")]
    assert dataset.label_set == ("0", "1", "2")


def test_csv_with_header_aliases_and_quotes(write):
    path = write("x.csv", 'text_a,text_b,label\n"a, with comma","b ""quoted""",1\nc,d,0\n')
    dataset = load_pairs(path)
    assert dataset.pairs == [("a, with comma", 'b "quoted"'), ("c", "d")]


def test_jsonl_texta_textb_and_numeric_labels(write):
    path = write(
        "x.jsonl", '{"texta": "a", "textb": "b", "label": 1}\n{"texta": "c", "textb": "d", "label": 0}\n'
    )
    assert load_pairs(path).labels == ["1", "0"]


def test_columns_override_by_name(write):
    path = write("x.tsv", "rel\tq\td\textra\n1\tquery one\tdoc one\tz\n")
    dataset = load_pairs(path, columns={"sentence1": "q", "sentence2": "d", "label": "rel"})
    assert list(dataset) == [PairExample("query one", "doc one", "1")]


def test_columns_by_position_for_unlabeled_headerless_file(write):
    path = write("x.tsv", "x\ta\tb\ny\tc\td\n")
    dataset = load_pairs(path, columns={"sentence1": 1, "sentence2": 2, "id": 0})
    assert list(dataset) == [PairExample("a", "b", None, "x"), PairExample("c", "d", None, "y")]
    assert dataset.label_type is None and dataset.label_set is None


def test_header_without_label_is_unlabeled(write):
    path = write("x.tsv", "sentence1\tsentence2\na\tb\n")
    dataset = load_pairs(path)
    assert dataset.labels == [None]
    assert dataset.to_hf_dataset().column_names == ["sentence1", "sentence2"]


def test_auto_detect_by_first_line_and_gzip(write):
    assert load_pairs(write("x.txt", "a\tb\t1\n")).pairs == [("a", "b")]
    assert load_pairs(write("y.txt", '{"sentence1": "a", "sentence2": "b", "label": "1"}')).pairs == [
        ("a", "b")
    ]
    assert load_pairs(write("z.tsv.gz", "a\tb\t1\n")).pairs == [("a", "b")]
    assert load_pairs(write("w.data", "a\tb\t1\n"), format="tsv").pairs == [("a", "b")]


def test_label_type_inference_and_forcing(write):
    scores = write("s.tsv", "a\tb\t0.5\nc\td\t4\n")
    assert load_pairs(scores).label_type == "score"
    assert load_pairs(scores).labels == [0.5, 4.0]
    classes = write("c.tsv", "a\tb\t10\nc\td\t2\ne\tf\t2\n")
    assert load_pairs(classes).label_set == ("2", "10")  # numeric order
    assert load_pairs(classes, label_type="score").labels == [10.0, 2.0, 2.0]
    assert load_pairs(classes, score_range=(0, 10)).label_type == "score"


def test_split_column_and_limit(write):
    path = write(
        "x.tsv", "split\tsentence1\tsentence2\tscore\ntrain\ta\tb\t1.5\ndev\tc\td\t2\ntrain\te\tf\t3\n"
    )
    assert load_pairs(path, split="train").pairs == [("a", "b"), ("e", "f")]
    assert load_pairs(path, split="train", limit=1).pairs == [("a", "b")]
    assert len(load_pairs(path)) == 3
    with pytest.raises(DataFormatError, match=r"no rows with split 'test' \(found: dev, train\)"):
        load_pairs(path, split="test")
    with pytest.raises(DataFormatError, match="split='dev' given but the file has no split column"):
        load_pairs(write("y.tsv", "a\tb\t1\n"), split="dev")


def test_pair_dataset_is_list_like(write):
    dataset = load_pairs(write("x.tsv", "a\tb\t1\nc\td\t0\ne\tf\t1\n"))
    assert isinstance(dataset[0], PairExample)
    assert isinstance(dataset[1:], PairDataset) and len(dataset[1:]) == 2
    assert dataset[1:].label_set == ("0", "1")
    assert dataset.is_binary and dataset.positive_label == "1"
    assert "3 pairs" in repr(dataset)
    assert dataset.examples[0] == PairExample("a", "b", "1")
    with pytest.raises(AttributeError):
        dataset[0].label = "0"  # frozen


def test_score_to_unit():
    assert score_to_unit(2.5, 0, 5) == 0.5
    with pytest.raises(InputError, match="hi > lo"):
        score_to_unit(1, 5, 5)


# ---- errors -------------------------------------------------------------------------------------------


def test_wrong_column_count(write):
    path = write("x.tsv", "a\tb\t1\nc\td\n")
    with pytest.raises(DataFormatError, match=where(path, 2) + ": expected 3 columns like line 1, found 2"):
        load_pairs(path)


def test_wrong_column_count_with_header(write):
    path = write("x.tsv", "id\tsentence1\tsentence2\tlabel\n1\ta\tb\t1\n2\ta\tb\t1\textra\n")
    with pytest.raises(DataFormatError, match=where(path, 3) + ": expected 4 columns like line 1, found 5"):
        load_pairs(path)


@pytest.mark.parametrize(
    ("content", "line", "field"),
    [("a\tb\t1\n \tb\t1\n", 2, "sentence1"), ("a\tb\t1\na\tb\t0\na\t  \t1", 3, "sentence2")],
)
def test_empty_sentence(write, content, line, field):
    path = write("x.tsv", content)
    with pytest.raises(DataFormatError, match=where(path, line) + f": field '{field}': empty"):
        load_pairs(path)


def test_label_not_in_declared_set(write):
    path = write("x.tsv", "a\tb\t1\nc\td\t3\n")
    with pytest.raises(
        DataFormatError, match=where(path, 2) + r": field 'label': label '3' not in the declared set \(0, 1\)"
    ):
        load_pairs(path, labels=["0", "1"])


def test_bad_scores(write):
    path = write("x.tsv", "a\tb\t1\nc\td\thigh\n")
    with pytest.raises(
        DataFormatError, match=where(path, 2) + ": field 'label': score 'high' is not a finite number"
    ):
        load_pairs(path, label_type="score")
    path = write("y.tsv", "a\tb\t1\nc\td\t5.5\n")
    with pytest.raises(
        DataFormatError, match=where(path, 2) + r": field 'label': score 5.5 outside \[0, 5\]"
    ):
        load_pairs(path, score_range=(0, 5))
    path = write("z.tsv", "a\tb\tnan\n")
    with pytest.raises(
        DataFormatError, match=where(path, 1) + ": field 'label': score 'nan' is not a finite"
    ):
        load_pairs(path, label_type="score")


def test_empty_label(write):
    path = write("x.tsv", "a\tb\t1\nc\td\t \n")
    with pytest.raises(DataFormatError, match=where(path, 2) + ": field 'label': empty"):
        load_pairs(path)


def test_invalid_json(write):
    path = write(
        "x.jsonl", '{"sentence1": "a", "sentence2": "b", "label": "1"}\n{"sentence1": "a", "sentence2": \n'
    )
    with pytest.raises(DataFormatError, match=where(path, 2) + ": invalid JSON"):
        load_pairs(path)
    path = write("y.json", '["a", "b", "1"]\n')
    with pytest.raises(DataFormatError, match=where(path, 1) + ": expected a JSON object, found list"):
        load_pairs(path)


def test_jsonl_missing_key_null_label_and_non_string(write):
    path = write("x.jsonl", '{"query": "a", "title": "b", "label": "1"}\n{"query": "a", "label": "1"}\n')
    with pytest.raises(DataFormatError, match=where(path, 2) + ": field 'title': missing"):
        load_pairs(path)
    path = write("y.jsonl", '{"query": "a", "title": "b", "label": null}\n')
    with pytest.raises(
        DataFormatError, match=where(path, 1) + ": field 'label': expected a label, found None"
    ):
        load_pairs(path)
    path = write("z.jsonl", '{"query": 12, "title": "b", "label": "1"}\n')
    with pytest.raises(
        DataFormatError, match=where(path, 1) + ": field 'sentence1': expected a string, found int"
    ):
        load_pairs(path)


def test_blank_line_between_rows_is_an_error(write):
    path = write("x.tsv", "a\tb\t1\n\nc\td\t0\n")
    with pytest.raises(DataFormatError, match=where(path, 2) + ": blank line between rows"):
        load_pairs(path)


def test_unreadable_files(write, tmp_path):
    missing = tmp_path / "missing.tsv"
    with pytest.raises(DataFormatError, match=where(missing) + ": no such file$"):
        load_pairs(missing)
    with pytest.raises(DataFormatError, match=where(tmp_path) + ": is a directory, expected a file$"):
        load_pairs(tmp_path, format="tsv")
    broken = write("x.tsv.gz", b"")
    broken.write_bytes(b"not gzip at all")
    with pytest.raises(DataFormatError, match=where(broken) + ": cannot read"):
        load_pairs(broken)
    latin = write("y.tsv", b"a\tb\t1\n" + "caf\u00e9\tb\t1\n".encode("latin-1"))
    with pytest.raises(DataFormatError, match=where(latin, 2) + ": not valid UTF-8"):
        load_pairs(latin)
    empty = write("z.tsv", "")
    with pytest.raises(DataFormatError, match=where(empty) + ": no rows"):
        load_pairs(empty, format="tsv")


def test_header_problems(write):
    path = write("x.tsv", "sentence1\tquery\tsentence2\tlabel\na\tb\tc\t1\n")
    with pytest.raises(DataFormatError, match=where(path, 1) + ": ambiguous columns 'sentence1' and 'query'"):
        load_pairs(path)
    path = write("y.tsv", "q\td\tlabel\na\tb\t1\n")
    with pytest.raises(
        DataFormatError,
        match=where(path, 1) + r": column 'doc' for sentence2 not found \(found: q, d, label\)",
    ):
        load_pairs(path, columns={"sentence1": "q", "sentence2": "doc"})
    path = write("z.jsonl", '{"query": "a", "pos": ["b"], "neg": []}\n')
    with pytest.raises(DataFormatError, match=r"retrieval data \(query/pos/neg\): use load_retrieval"):
        load_pairs(path)


def test_bad_arguments(write):
    path = write("x.tsv", "a\tb\t1\n")
    with pytest.raises(InputError, match="format must be one of"):
        load_pairs(path, format="xml")
    with pytest.raises(InputError, match="label_type must be one of"):
        load_pairs(path, label_type="ordinal")
    with pytest.raises(InputError, match="unknown column role 'text'"):
        load_pairs(path, columns={"text": "a"})
    with pytest.raises(InputError, match="not both"):
        load_pairs(path, labels=["1"], score_range=(0, 1))
    with pytest.raises(DataFormatError, match="labels were declared but the file has no label column"):
        load_pairs(write("y.tsv", "sentence1\tsentence2\na\tb\n"), labels=["0", "1"])


# ---- retrieval JSON lines -----------------------------------------------------------------------------


def test_load_retrieval(write):
    path = write(
        "r.jsonl",
        '{"query": " q1 ", "pos": ["p1", "p2"], "neg": ["n1"]}\n{"query": "q2", "pos": ["p3"], "other": 1}',
    )
    assert load_retrieval(path) == [
        RetrievalExample("q1", ["p1", "p2"], ["n1"]),
        RetrievalExample("q2", ["p3"], []),
    ]
    assert len(load_retrieval(path, limit=1)) == 1


@pytest.mark.parametrize(
    ("line2", "message"),
    [
        ('{"query": "q", "pos": []}', "field 'pos': empty list"),
        ('{"query": "q", "pos": "p"}', "field 'pos': expected a list of strings, found str"),
        ('{"query": "q", "pos": ["p", ""]}', r"field 'pos\[1\]': empty"),
        ('{"query": "q", "pos": ["p"], "neg": [3]}', r"field 'neg\[0\]': expected a string, found int"),
        ('{"pos": ["p"]}', "field 'query': missing"),
        ('{"query": "q", "pos": ["p"]', "invalid JSON"),
    ],
)
def test_load_retrieval_errors(write, line2, message):
    path = write("r.jsonl", '{"query": "q", "pos": ["p"]}\n' + line2 + "\n")
    with pytest.raises(DataFormatError, match=where(path, 2) + ": " + message):
        load_retrieval(path)
