"""Reading texts and pairs from files or stdin, writing JSON lines. Errors name file and line."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from simmatch.errors import DataFormatError, InputError

_PAIR_KEYS = (("sentence1", "sentence2"), ("text_a", "text_b"), ("texta", "textb"), ("query", "title"))


def _open(path: str) -> tuple[TextIO, str]:
    if path == "-":
        return sys.stdin, "<stdin>"
    p = Path(path)
    if not p.exists():
        raise DataFormatError(path, None, "no such file")
    if p.is_dir():
        raise DataFormatError(path, None, "is a directory, expected a file")
    try:
        return p.open(encoding="utf-8"), path
    except OSError as exc:
        raise DataFormatError(path, None, f"cannot read: {exc.strerror}") from exc


def _lines(path: str) -> Iterator[tuple[int, str, str]]:
    handle, name = _open(path)
    try:
        for lineno, raw in enumerate(handle, start=1):
            line = raw.rstrip("\r\n")
            if line.strip():
                yield lineno, line, name
    except UnicodeDecodeError as exc:
        raise DataFormatError(name, None, f"not UTF-8 text ({exc.reason})") from exc
    finally:
        if handle is not sys.stdin:
            handle.close()


def _is_jsonl(path: str, first: str) -> bool:
    return path.endswith((".jsonl", ".json")) or first.lstrip().startswith("{")


def read_texts(path: str, field: str = "text") -> list[str]:
    """One text per line, or JSON lines with a ``text`` field."""
    rows = list(_lines(path))
    if not rows:
        raise DataFormatError(path if path != "-" else "<stdin>", None, "no texts found")
    texts = []
    jsonl = _is_jsonl(path, rows[0][1])
    for lineno, line, name in rows:
        if jsonl:
            obj = _json(line, name, lineno)
            value = obj.get(field)
            if not isinstance(value, str) or not value.strip():
                raise DataFormatError(name, lineno, "missing or empty", field=field)
            texts.append(value)
        else:
            texts.append(line)
    return texts


def read_pairs(path: str) -> list[dict[str, Any]]:
    """Pairs from TSV (text_a, text_b[, label]) or JSON lines (sentence1/sentence2, text_a/text_b,
    query/title; optional ``label``). Returns dicts with ``text_a``, ``text_b`` and ``gold``."""
    rows = list(_lines(path))
    if not rows:
        raise DataFormatError(path if path != "-" else "<stdin>", None, "no pairs found")
    jsonl = _is_jsonl(path, rows[0][1])
    out = []
    for lineno, line, name in rows:
        if jsonl:
            obj = _json(line, name, lineno)
            for ka, kb in _PAIR_KEYS:
                if ka in obj and kb in obj:
                    a, b = obj[ka], obj[kb]
                    break
            else:
                raise DataFormatError(
                    name, lineno, "no pair fields (sentence1/sentence2, text_a/text_b or query/title)"
                )
            for key, value in ((ka, a), (kb, b)):
                if not isinstance(value, str) or not value.strip():
                    raise DataFormatError(name, lineno, "missing or empty", field=key)
            out.append({"text_a": a, "text_b": b, "gold": obj.get("label")})
        else:
            cols = line.split("\t")
            if len(cols) not in (2, 3):
                raise DataFormatError(
                    name, lineno, f"expected 2 or 3 tab-separated columns, found {len(cols)}"
                )
            if not cols[0].strip() or not cols[1].strip():
                raise DataFormatError(
                    name, lineno, "empty text", field="text_a" if not cols[0].strip() else "text_b"
                )
            out.append(
                {
                    "text_a": cols[0].strip(),
                    "text_b": cols[1].strip(),
                    "gold": cols[2].strip() if len(cols) == 3 else None,
                }
            )
    return out


def _json(line: str, name: str, lineno: int) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataFormatError(name, lineno, f"invalid JSON ({exc.msg})") from exc
    if not isinstance(obj, dict):
        raise DataFormatError(name, lineno, "expected a JSON object")
    return obj


def write_jsonl(rows: Iterator[dict[str, Any]] | list[dict[str, Any]], out: TextIO | None = None) -> None:
    stream = out or sys.stdout
    for row in rows:
        stream.write(json.dumps(row, ensure_ascii=False) + "\n")
    stream.flush()


def texts_from_args(texts: list[str], file: str | None) -> list[str]:
    if texts and file:
        raise InputError("give texts as arguments or with --file, not both")
    if file:
        return read_texts(file)
    if texts:
        return texts
    if not sys.stdin.isatty():
        return read_texts("-")
    raise InputError("no input: pass texts as arguments, --file PATH, or pipe them on stdin")
