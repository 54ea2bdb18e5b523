"""load_texts and load_documents, stdin ("-"), and the one row policy of simmatch.data.files."""

from __future__ import annotations

import io
import json
import re
import sys

import pytest

from simmatch.data import Document, load_documents, load_pairs, load_retrieval, load_texts
from simmatch.errors import DataFormatError, InputError


def where(path, line=None) -> str:
    return re.escape(str(path) if line is None else f"{path}:{line}")


@pytest.fixture
def stdin(monkeypatch):
    """Feed text to sys.stdin, as bytes through .buffer like a real pipe."""

    def _feed(text: str) -> None:
        stream = io.TextIOWrapper(io.BytesIO(text.encode("utf-8")), encoding="utf-8")
        monkeypatch.setattr(sys, "stdin", stream)

    return _feed


# ---- load_texts ---------------------------------------------------------------------------------------


def test_texts_one_per_line_as_written(write):
    path = write("t.txt", "\ufeff你好\r\n  spaced  \nlast line without newline")
    assert load_texts(path) == ["你好", "  spaced  ", "last line without newline"]
    assert load_texts(path, limit=2) == ["你好", "  spaced  "]


def test_texts_jsonl_by_suffix_and_by_first_row(write):
    rows = '{"text": "a", "id": 1}\n{"text": " b "}\n'
    assert load_texts(write("t.jsonl", rows)) == ["a", " b "]
    assert load_texts(write("t.txt", rows)) == ["a", " b "]  # a first row starting with {
    assert load_texts(write("t.json", '{"body": "x"}'), columns={"text": "body"}) == ["x"]
    assert load_texts(write("t.data", "{not json}\n"), format="lines") == ["{not json}"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"text": "a"}\n{"txt": "b"}\n', "2: field 'text': missing"),
        ('{"text": "a"}\n{"text": "  "}\n', "2: field 'text': empty"),
        ('{"text": "a"}\n{"text": 3}\n', "2: field 'text': expected a string, found int"),
        ('{"body": "a"}\n', "1: no 'text' key \\(found: body\\)"),
        ('{"text": "a"}\n{"text": \n', "2: invalid JSON"),
        ('{"text": "a"}\n["b"]\n', "2: expected a JSON object, found list"),
    ],
)
def test_texts_jsonl_errors(write, content, message):
    path = write("t.jsonl", content)
    with pytest.raises(DataFormatError, match=where(path) + ":" + message):
        load_texts(path)


def test_texts_from_stdin(stdin):
    stdin("你好\n牛奶\n")
    assert load_texts("-") == ["你好", "牛奶"]
    stdin('{"text": "a"}\n{"text": "b"}\n')
    assert load_texts("-") == ["a", "b"]
    stdin("a\n\nb\n")
    with pytest.raises(DataFormatError, match=r"^<stdin>:2: blank line between rows$"):
        load_texts("-")
    stdin("\n\n")
    with pytest.raises(DataFormatError, match=r"^<stdin>: no rows$"):
        load_texts("-")


def test_texts_from_a_text_mode_stdin(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("\ufeffa\nb"))  # no .buffer
    assert load_texts("-") == ["a", "b"]


def test_texts_bad_arguments(write, tmp_path):
    path = write("t.txt", "a\n")
    with pytest.raises(InputError, match="format must be one of auto, jsonl, lines, not 'csv'"):
        load_texts(path, format="csv")
    with pytest.raises(InputError, match="limit must be positive"):
        load_texts(path, limit=0)
    with pytest.raises(InputError, match="unknown column role 'id'"):
        load_texts(path, columns={"id": "x"})
    with pytest.raises(DataFormatError, match=where(tmp_path / "no.txt") + ": no such file$"):
        load_texts(tmp_path / "no.txt")
    with pytest.raises(DataFormatError, match=where(tmp_path) + ": is a directory, expected a file$"):
        load_texts(tmp_path)


# ---- the row policy, the same for every loader -----------------------------------------------------------

PAIR_ROWS = "a\tb\t1\nc\td\t0\n"
LOADERS = {
    "texts": (load_texts, "t.txt", "one\ntwo\n"),
    "pairs": (load_pairs, "p.tsv", PAIR_ROWS),
    "documents": (load_documents, "d.tsv", "1\tone\n2\ttwo\n"),
    "retrieval": (load_retrieval, "r.jsonl", '{"query": "q", "pos": ["p"]}\n{"query": "r", "pos": ["s"]}\n'),
}


@pytest.mark.parametrize("kind", LOADERS)
def test_blank_line_between_rows_is_an_error_in_every_loader(write, kind):
    load, name, content = LOADERS[kind]
    first, rest = content.split("\n", 1)
    for blank in ("", "   ", "\t"):
        path = write(name, f"{first}\n{blank}\n{rest}")
        with pytest.raises(DataFormatError, match=where(path, 2) + ": blank line between rows$"):
            load(path)


@pytest.mark.parametrize("kind", LOADERS)
def test_trailing_blank_lines_are_not_rows_in_every_loader(write, kind):
    load, name, content = LOADERS[kind]
    assert len(load(write(name, content + "\n \r\n\n"))) == 2
    assert len(load(write(name, content.rstrip("\n")))) == 2  # no final newline


@pytest.mark.parametrize("kind", LOADERS)
def test_every_loader_reads_stdin(stdin, kind):
    load, _, content = LOADERS[kind]
    stdin(content)
    assert len(load("-")) == 2


@pytest.mark.parametrize("kind", LOADERS)
def test_every_loader_rejects_an_empty_file(write, stdin, kind):
    load, name, _ = LOADERS[kind]
    path = write(name, "\n \n")
    with pytest.raises(DataFormatError, match=where(path) + ": no rows$"):
        load(path)
    stdin("")
    with pytest.raises(DataFormatError, match=r"^<stdin>: no rows$"):
        load("-")


def test_pairs_mixing_two_and_three_columns_is_an_error(write):
    path = write("p.tsv", "a\tb\t1\nc\td\ne\tf\t0\n")
    with pytest.raises(DataFormatError, match=where(path, 2) + ": expected 3 columns like line 1, found 2$"):
        load_pairs(path)
    path = write("q.tsv", "a\tb\nc\td\t1\n")
    with pytest.raises(DataFormatError, match=where(path, 2) + ": expected 2 columns like line 1, found 3$"):
        load_pairs(path)


def test_headerless_two_columns_are_unlabeled_pairs(write, stdin):
    dataset = load_pairs(write("p.tsv", "a\tb\nc\td\n"))
    assert dataset.pairs == [("a", "b"), ("c", "d")] and dataset.labels == [None, None]
    assert dataset.label_type is None
    stdin("a\tb\t1\nc\td\t0\n")
    from_stdin = load_pairs("-")
    assert from_stdin.name == "<stdin>" and from_stdin.path is None and from_stdin.labels == ["1", "0"]


def test_headerless_pairs_need_two_or_three_columns(write):
    path = write("p.tsv", "a\tb\tc\t1\n")
    with pytest.raises(DataFormatError, match=where(path, 1) + ": expected 2 or 3 columns"):
        load_pairs(path)


# ---- load_documents -----------------------------------------------------------------------------------


def test_tsv_documents_with_header(write):
    path = write("docs.tsv", "id\ttext\n1\t苹果手机多少钱\n2\tHow much does an iPhone cost")
    assert load_documents(path) == [
        Document("1", "苹果手机多少钱", {}),
        Document("2", "How much does an iPhone cost", {}),
    ]


def test_jsonl_documents(write, stdin):
    rows = [
        {"id": 7, "text": " 北京天气 ", "metadata": {"lang": "zh"}},
        {"id": "b", "text": "weather", "metadata": None},
    ]
    content = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n"
    expected = [Document("7", " 北京天气 ", {"lang": "zh"}), Document("b", "weather", {})]
    assert load_documents(write("docs.jsonl", content)) == expected
    assert load_documents(write("docs.txt", content)) == expected  # first row starts with {
    stdin(content)
    assert load_documents("-") == expected


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.jsonl", '{"id": "1", "text": "ok"}\n{"id": "2", "text": "ok"', r"a.jsonl:2: invalid JSON"),
        ("a.jsonl", '{"id": "1", "text": ""}', r"a.jsonl:1: field 'text': must be a non-empty string"),
        ("a.jsonl", '{"id": "1", "text": "t"}\n{"id": null, "text": "t"}', r"a.jsonl:2: field 'id'"),
        ("a.jsonl", '{"id": true, "text": "t"}', r"a.jsonl:1: field 'id'"),
        ("a.jsonl", '{"id": 7, "text": "t", "meta": {}}', r"field 'meta': unknown field"),
        ("a.jsonl", '{"id": 7, "text": "t", "metadata": [1]}', r"field 'metadata': must be a JSON object"),
        ("a.jsonl", "[1, 2]", r"a.jsonl:1: expected a JSON object"),
        (
            "a.jsonl",
            '{"id": 1, "text": "t"}\n\n{"id": 2, "text": "u"}',
            r"a.jsonl:2: blank line between rows",
        ),
        ("a.tsv", "1\tok\n2\tone\ttab too many\n", r"a.tsv:2: expected 2 columns \(id<TAB>text\), found 3"),
        ("a.tsv", "1\tok\n\t text\n", r"a.tsv:2: field 'id': empty id"),
        ("a.tsv", "1\tok\n2\t \n", r"a.tsv:2: field 'text': empty text"),
        ("a.csv", "id,text\n1,ok\n", r"a.csv: documents are JSON lines or TSV, not CSV"),
    ],
)
def test_bad_document_lines_are_located(write, name, content, message):
    path = write(name, content)
    with pytest.raises(DataFormatError, match=message):
        load_documents(path)


def test_bad_document_file_arguments(write, tmp_path):
    with pytest.raises(DataFormatError, match=where(tmp_path / "docs.jsonl") + ": no such file"):
        load_documents(tmp_path / "docs.jsonl")
    with pytest.raises(InputError, match="format must be one of auto, jsonl, tsv, not 'csv'"):
        load_documents(tmp_path / "docs.jsonl", format="csv")
    bad = write("bin.tsv", b"1\tok\n2\t\xff\xfe\n")
    with pytest.raises(DataFormatError, match=r"bin.tsv:2: not valid UTF-8"):
        load_documents(bad)
    assert load_documents(write("d.data", "1\tok\n"), format="tsv") == [Document("1", "ok", {})]


def test_pairs_format_from_the_first_row_of_stdin(stdin, write):
    stdin('"a, quoted",b,1\nc,d,0\n')
    assert load_pairs("-").pairs == [("a, quoted", "b"), ("c", "d")]
    stdin('{"text_a": "a", "text_b": "b"}\n')
    assert load_pairs("-").pairs == [("a", "b")]
    path = write("p.txt", "no separator here\n")
    with pytest.raises(DataFormatError, match=where(path, 1) + ": cannot detect the format"):
        load_pairs(path)
