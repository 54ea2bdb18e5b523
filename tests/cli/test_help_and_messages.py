"""The CLI's words: every flag its help (or a message) names exists, errors name CLI commands
rather than Python calls, and a file name given where texts go is refused, not ranked."""

from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

import pytest

from simmatch.cli.main import build_parser, main

SRC = Path(__file__).resolve().parents[2] / "src" / "simmatch"
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
PYTHON_CALL = re.compile(r"\b(Index|Embedder|PairClassifier)\.\w+|\w+=True\b")


def _parsers(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def _all_flags() -> set[str]:
    return {flag for parser in _parsers(build_parser()) for a in parser._actions for flag in a.option_strings}


def _help_texts() -> list[tuple[str, str]]:
    texts = []
    for parser in _parsers(build_parser()):
        for text in (parser.description, parser.epilog, parser.usage):
            if text:
                texts.append((parser.prog, text))
        for action in parser._actions:
            if action.help:
                texts.append((parser.prog, action.help))
            if isinstance(action, argparse._SubParsersAction):  # each subcommand's one-line help
                texts += [(parser.prog, choice.help) for choice in action._choices_actions if choice.help]
    return texts


def _docstring_nodes(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def _message_strings() -> list[tuple[str, str]]:
    """String literals (f-string parts included) of the whole package, docstrings left out: the
    messages and help texts a user can read."""
    found = []
    for file in sorted(SRC.rglob("*.py")):
        tree = ast.parse(file.read_text(encoding="utf-8"))
        docstrings = _docstring_nodes(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                found.append((f"{file.relative_to(SRC)}:{node.lineno}", node.value))
    return found


def test_every_flag_named_in_help_exists():
    flags = _all_flags()
    missing = [
        (where, flag) for where, text in _help_texts() for flag in FLAG.findall(text) if flag not in flags
    ]
    assert missing == []


def test_every_flag_named_in_a_message_exists():
    flags = _all_flags() | {"--help", "--version"}
    missing = [
        (where, flag)
        for where, text in _message_strings()
        for flag in FLAG.findall(text)
        if flag not in flags
    ]
    assert missing == []


def test_index_errors_name_cli_commands(tmp_path, capsys, tiny_embedder_dir):
    missing = tmp_path / "nowhere"
    for argv in (
        ["index", "search", str(missing), "q", "--mode", "bm25"],
        ["index", "info", str(missing)],
        ["index", "delete", str(missing), "a"],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err == (
            f"simmatch: error: no index at {missing} (missing documents.sqlite); "
            f"create one with `simmatch index create {missing}`"
        )
    path = tmp_path / "idx"
    assert main(["index", "create", str(path), "--model", str(tiny_embedder_dir)]) == 0
    capsys.readouterr()
    assert main(["index", "create", str(path), "--model", str(tiny_embedder_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"simmatch: error: {path} already exists and is not an empty directory; "
        f"add documents with `simmatch index add {path} FILE`"
    )
    assert not PYTHON_CALL.search(err)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["rank", "query", "{file}"], "candidate '{file}' is the name of a file, not a text; "
         "to read candidates from the file use --candidates-file {file}"),
        (["rank", "query", "a text", "{file}"], "candidate '{file}' is the name of a file"),
        (["embed", "{file}"], "text '{file}' is the name of a file, not a text; "
         "to read texts from the file use --file {file}"),
        (["similarity", "{file}", "b"], "text '{file}' is the name of a file, not a text; "
         "to read pairs from the file use --file {file}"),
    ],
)  # fmt: skip
def test_a_file_name_where_texts_go_is_refused(tmp_path, capsys, argv, message):
    file = tmp_path / "candidates.txt"
    file.write_text("one\ntwo\n", encoding="utf-8")
    argv = [a.format(file=file) for a in argv]
    assert main([*argv, "--model", str(tmp_path / "no-model-needed")]) == 2  # before any model loads
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("simmatch: error: " + message.format(file=file))


def test_rank_reads_the_file_with_candidates_file(tmp_path, capsys, tiny_embedder_dir):
    file = tmp_path / "candidates.txt"
    file.write_text("hello world\n今天天气怎么样\n", encoding="utf-8")
    assert main(["rank", "hello", "--candidates-file", str(file), "--model", str(tiny_embedder_dir)]) == 0
    texts = sorted(line for line in capsys.readouterr().out.splitlines())
    assert len(texts) == 2 and all('"text"' in line for line in texts)


def test_embed_one_long_text_shows_progress(capsys, tiny_embedder_dir):
    from simmatch.models.embedder import PROGRESS_MIN_TOKENS

    text = "hello " * (PROGRESS_MIN_TOKENS + 10)
    assert main(["embed", text, "--model", str(tiny_embedder_dir), "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 1
    assert "encode" in captured.err and "window" in captured.err
