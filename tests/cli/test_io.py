"""The CLI reads files through simmatch.data: the same rows, the same row policy, the same errors."""

from __future__ import annotations

import io
import json
import sys

import pytest

from simmatch.cli.main import main
from simmatch.data import load_pairs, load_texts


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("command", ["embed", "rank"])
def test_blank_line_inside_a_texts_file_is_an_error(capsys, tiny_embedder_dir, tmp_path, command):
    f = tmp_path / "texts.txt"
    f.write_text("你好\n\n牛奶\n", encoding="utf-8")
    argv = ["embed", "--file"] if command == "embed" else ["rank", "你好", "--file"]
    code, out, err = run_cli(capsys, *argv, str(f), "--model", str(tiny_embedder_dir))
    assert (code, out) == (2, "")
    assert err == f"simmatch: error: {f}:2: blank line between rows\n"


def test_similarity_file_mixing_two_and_three_columns_is_an_error(capsys, tiny_embedder_dir, tmp_path):
    f = tmp_path / "pairs.tsv"
    f.write_text("你好\t你好\t1\n你好\t牛奶\n", encoding="utf-8")
    code, out, err = run_cli(capsys, "similarity", "--file", str(f), "--model", str(tiny_embedder_dir))
    assert (code, out) == (2, "")
    assert err == f"simmatch: error: {f}:2: expected 3 columns like line 1, found 2\n"


def test_similarity_blank_line_between_pairs_is_an_error(capsys, tiny_embedder_dir, tmp_path):
    f = tmp_path / "pairs.tsv"
    f.write_text("你好\t你好\n\n你好\t牛奶\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "similarity", "--file", str(f), "--model", str(tiny_embedder_dir))
    assert code == 2 and err == f"simmatch: error: {f}:2: blank line between rows\n"


def test_output_rows_match_input_rows(capsys, monkeypatch, tiny_embedder_dir, tmp_path):
    f = tmp_path / "texts.txt"
    f.write_text("  你好\n牛奶  \n海鲜\n\n\n", encoding="utf-8")  # trailing blank lines are not rows
    code, out, _ = run_cli(capsys, "embed", "--file", str(f), "--model", str(tiny_embedder_dir))
    assert code == 0
    assert (
        [json.loads(line)["text"] for line in out.splitlines()]
        == load_texts(f)
        == ["  你好", "牛奶  ", "海鲜"]
    )

    pairs = tmp_path / "pairs.jsonl"
    first = '{"sentence1": "你好", "sentence2": "你好", "label": 1}\n'
    pairs.write_text(first + '{"text_a": "x", "text_b": "y", "label": 0}\n', encoding="utf-8")
    code, _, err = run_cli(capsys, "similarity", "--file", str(pairs), "--model", str(tiny_embedder_dir))
    assert code == 2 and f"{pairs}:2: field 'sentence1': missing" in err  # keys fixed by line 1

    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("你好\t你好\t1\n你好\t牛奶\t0\n", encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", io.StringIO(tsv.read_text(encoding="utf-8")))
    code, out, _ = run_cli(capsys, "similarity", "--file", "-", "--model", str(tiny_embedder_dir))
    rows = [json.loads(line) for line in out.splitlines()]
    expected = load_pairs(tsv)
    assert code == 0
    assert [(r["text_a"], r["text_b"], r["gold"]) for r in rows] == [
        (e.sentence1, e.sentence2, e.label) for e in expected
    ]


def test_rank_candidates_from_stdin(capsys, monkeypatch, tiny_embedder_dir):
    monkeypatch.setattr(sys, "stdin", io.StringIO("牛奶\n你好\n"))
    code, out, _ = run_cli(capsys, "rank", "你好", "--file", "-", "--model", str(tiny_embedder_dir))
    assert code == 0 and sorted(json.loads(line)["text"] for line in out.splitlines()) == ["你好", "牛奶"]
