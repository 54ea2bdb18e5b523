"""The one reader of data files: sources, lines, the row policy, format detection and columns.

Every loader of :mod:`simmatch.data` (``load_texts``, ``load_pairs``, ``load_documents``,
``load_retrieval``) and so every CLI door reads through this module.

Sources
    A path (``.gz`` is decompressed) or ``"-"`` for standard input, which errors call ``<stdin>``.
    UTF-8 only; a BOM at the start is dropped; lines split on ``\\n`` only (a stray ``\\r`` inside a
    field is not a line break, a ``\\r\\n`` ending is removed); a final line without a newline is a
    line like any other.

Row policy (the same for every kind of file), so output rows always match input rows
    - every non-blank line is a row, and every row is checked: an error is a ``DataFormatError``
      naming the file, the 1-based line and the field; nothing is skipped silently;
    - a blank (empty or whitespace-only) line followed by more rows is an error, "blank line between
      rows"; blank lines at the very end of a file are not rows and are ignored (the trailing newlines
      an editor or ``echo`` leaves);
    - a TSV/CSV file has one column count, set by its first line (header or first row); a row with
      another count is an error, "expected 3 columns like line 1, found 2";
    - a file without rows is an error ("no rows").

Format (one rule for every kind)
    The extension decides when it is ``.jsonl``/``.json``/``.ndjson`` (JSON lines), ``.tsv`` or
    ``.csv``, each optionally followed by ``.gz``. Otherwise (stdin, ``.txt``, no extension) a first
    row starting with ``{`` (or ``[``, to say that JSON arrays are not supported) is JSON lines, and
    anything else is the kind's plain format (one text per line; TSV documents; TSV or CSV pairs,
    by whether the first row holds a tab).

Columns
    Header and JSON key names are matched case-insensitively against :data:`ALIASES`, the one table
    of accepted names per role; a loader's ``columns=`` maps a role to another name (or, for a
    headerless file, a position).

Why hand-written rather than ``datasets.load_dataset("csv", ...)`` / pandas: those skip or coerce bad
rows and do not report line numbers, and their CSV parsers treat quote characters inside TSV text as
quoting.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from simmatch.errors import DataFormatError, InputError

T = TypeVar("T")
STDIN = "-"
JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")

#: Column (or JSON key) names accepted for each role, compared case-insensitively. Pairs use
#: sentence1/sentence2/label/id/split, documents id/text/metadata, texts text, retrieval
#: query/pos/neg.
ALIASES: dict[str, tuple[str, ...]] = {
    "sentence1": ("sentence1", "text_a", "texta", "query"),
    "sentence2": ("sentence2", "text_b", "textb", "title"),
    "label": ("label", "score"),
    "id": ("id",),
    "split": ("split",),
    "text": ("text",),
    "metadata": ("metadata",),
    "query": ("query",),
    "pos": ("pos",),
    "neg": ("neg",),
}


# --------------------------------------------------------------------------------------------------
# Sources and lines


@dataclass(frozen=True, slots=True)
class Source:
    """Where rows come from: a file or standard input. ``name`` is what errors show."""

    name: str
    path: Path | None  # None for standard input

    @classmethod
    def of(cls, spec: str | Path) -> Source:
        if isinstance(spec, str) and spec == STDIN:
            return cls("<stdin>", None)
        path = Path(spec)
        return cls(str(path), path)

    @property
    def suffix(self) -> str:
        """The lower-case extension without a final ``.gz`` (``""`` for stdin)."""
        if self.path is None:
            return ""
        name = self.path.name.lower()
        return Path(name[: -len(".gz")] if name.endswith(".gz") else name).suffix

    def error(self, line: int | None, reason: str, field: str | None = None) -> DataFormatError:
        return DataFormatError(self.name, line, reason, field=field)

    def _open(self) -> Iterable[bytes | str]:
        if self.path is None:
            return getattr(sys.stdin, "buffer", sys.stdin)  # a test's StringIO has no buffer
        if not self.path.exists():
            raise self.error(None, "no such file")
        if self.path.is_dir():
            raise self.error(None, "is a directory, expected a file")
        try:
            if self.path.suffix.lower() == ".gz":
                return gzip.open(self.path, "rb")
            return open(self.path, "rb")
        except OSError as exc:
            raise self.error(None, f"cannot read: {exc.strerror or exc}") from exc

    def lines(self) -> Iterator[tuple[int, str]]:
        """``(line_number, text)`` for every physical line, without its line ending."""
        handle = self._open()
        try:
            for lineno, raw in enumerate(handle, start=1):
                if isinstance(raw, bytes):
                    try:
                        text = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
                    except UnicodeDecodeError as exc:
                        raise self.error(lineno, f"not valid UTF-8 ({exc.reason})") from exc
                else:
                    text = raw.removeprefix("\ufeff") if lineno == 1 else raw
                yield lineno, text.rstrip("\n").rstrip("\r")
        except (OSError, EOFError) as exc:  # a corrupt or truncated gzip stream shows up here
            raise self.error(None, f"cannot read: {exc}") from exc
        finally:
            if self.path is not None and isinstance(handle, io.IOBase):
                handle.close()

    def rows(self) -> Iterator[tuple[int, str]]:
        """The lines that are rows, under the module's row policy (blank lines only at the end)."""
        blank_at: int | None = None
        for lineno, text in self.lines():
            if not text.strip():
                if blank_at is None:
                    blank_at = lineno
                continue
            if blank_at is not None:
                raise self.error(blank_at, "blank line between rows")
            yield lineno, text


def peek(items: Iterator[T]) -> tuple[T | None, Iterator[T]]:
    """The first item (or ``None``) and an iterator over all items, that one included."""
    first = next(items, None)
    return first, (itertools.chain([first], items) if first is not None else items)


def detect_format(source: Source, first_row: str | None, plain: str | None = None) -> str:
    """``"jsonl"``, ``"tsv"``, ``"csv"`` or ``plain`` by the module's format rule. ``plain`` is what a
    non-JSON first row means for this kind of file (``"lines"`` for texts, ``"tsv"`` for documents);
    ``None`` (pairs) picks TSV by a tab, else CSV by a comma."""
    suffix = source.suffix
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in (".tsv", ".csv"):
        return suffix[1:]
    if first_row is not None and first_row.lstrip().startswith(("{", "[")):
        return "jsonl"
    if plain is not None:
        return plain
    if first_row is not None:
        if "\t" in first_row:
            return "tsv"
        if "," in first_row:
            return "csv"
    raise source.error(1, "cannot detect the format; pass format='jsonl', 'tsv' or 'csv'")


# --------------------------------------------------------------------------------------------------
# Records: delimited fields and JSON objects


def split_fields(
    source: Source, rows: Iterator[tuple[int, str]], fmt: str
) -> Iterator[tuple[int, list[str]]]:
    """``(line, fields)`` per row of a TSV (split on tabs) or CSV (quoting honoured) file."""
    if fmt != "csv":
        for lineno, text in rows:
            yield lineno, text.split("\t")
        return
    # csv handles quoted fields; a quoted field spanning lines reports the row's last line.
    current = [0]

    def feed() -> Iterator[str]:
        for lineno, text in rows:
            current[0] = lineno
            yield text + "\n"

    try:
        for fields in csv.reader(feed(), strict=True):
            yield current[0], fields
    except csv.Error as exc:
        raise source.error(current[0], f"bad CSV: {exc}") from exc


def same_width(
    source: Source, rows: Iterable[tuple[int, list[str]]], width: int, first_line: int
) -> Iterator[tuple[int, list[str]]]:
    """The rows, each checked to have ``width`` columns like ``first_line`` (header or first row)."""
    for lineno, fields in rows:
        if len(fields) != width:
            raise source.error(
                lineno, f"expected {width} columns like line {first_line}, found {len(fields)}"
            )
        yield lineno, fields


def json_records(source: Source, rows: Iterable[tuple[int, str]]) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line, object)`` per row of a JSON lines file; every row must be a JSON object."""
    for lineno, text in rows:
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            hint = "; JSON arrays are not supported, use JSON lines" if text.lstrip().startswith("[") else ""
            raise source.error(lineno, f"invalid JSON: {exc.msg} at column {exc.colno}{hint}") from exc
        if not isinstance(record, dict):
            raise source.error(lineno, f"expected a JSON object, found {type(record).__name__}")
        yield lineno, record


# --------------------------------------------------------------------------------------------------
# Columns


def check_columns_arg(
    columns: Mapping[str, str | int] | None, roles: Sequence[str], *, positions: bool = True
) -> dict[str, str | int]:
    """Validate a loader's ``columns=`` mapping (role → name, or role → position)."""
    if columns is None:
        return {}
    unknown = [k for k in columns if k not in roles]
    if unknown:
        raise InputError(f"unknown column role {unknown[0]!r}; expected one of {', '.join(roles)}")
    kinds = {type(v) for v in columns.values()}
    if not kinds <= {str, int} or len(kinds) > 1:
        raise InputError("columns values must be all names (str) or all positions (int)")
    if not positions and int in kinds:
        raise InputError("JSON lines columns must be key names, not positions")
    return dict(columns)


def resolve_names(
    source: Source, names: Sequence[str], columns: Mapping[str, str | int], roles: Sequence[str], line: int
) -> dict[str, int]:
    """Map roles to positions in ``names`` (a header or a JSON object's keys): ``columns`` first,
    then :data:`ALIASES`. A role with two matching names is an error; a role with none is absent."""
    lowered = [n.strip().lower() for n in names]
    resolved: dict[str, int] = {}
    for role, name in columns.items():
        wanted = str(name).strip().lower()
        if wanted not in lowered:
            raise source.error(line, f"column {name!r} for {role} not found (found: {', '.join(names)})")
        resolved[role] = lowered.index(wanted)
    for role in roles:
        if role in resolved:
            continue
        candidates = ALIASES[role]
        found = [i for i, n in enumerate(lowered) if n in candidates and i not in resolved.values()]
        if len(found) > 1:
            both = " and ".join(repr(names[i]) for i in found)
            raise source.error(line, f"ambiguous columns {both} for {role}; pass columns=")
        if found:
            resolved[role] = found[0]
    return resolved


# --------------------------------------------------------------------------------------------------
# Field checks


def stripped_text(source: Source, line: int, value: Any, field: str) -> str:
    """A non-empty string field, stripped of surrounding whitespace (pairs, retrieval)."""
    return require_text(source, line, value, field).strip()


def require_text(source: Source, line: int, value: Any, field: str) -> str:
    """A string field that is not empty or whitespace only, returned as it is (texts, documents)."""
    if not isinstance(value, str):
        raise source.error(line, f"expected a string, found {type(value).__name__}", field=field)
    if not value.strip():
        raise source.error(line, "empty", field=field)
    return value


def check_limit(limit: int | None) -> None:
    if limit is not None and limit < 1:
        raise InputError(f"limit must be positive, got {limit}")
