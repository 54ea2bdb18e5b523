"""Loaders for sentence-pair files (QBQTC JSON lines, headerless TSV triples, TSV/CSV with a header,
gzipped STS-B) and retrieval JSON lines.

Every row is checked; a bad row raises ``DataFormatError`` naming the file, the 1-based line and the
field. Nothing is skipped silently: a blank line between rows is an error too (blank lines at the
very end of a file are not rows and are ignored). Fields are stripped of surrounding whitespace,
never altered inside (AFQMC's ``***`` masking stays as it is).

Why hand-written rather than ``datasets.load_dataset("csv", ...)`` / pandas: those skip or coerce bad
rows and do not report line numbers, and their CSV parsers treat quote characters inside TSV text as
quoting. The result converts to a ``datasets.Dataset`` with :meth:`PairDataset.to_hf_dataset`.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
from collections.abc import Generator, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from simmatch.data.examples import PairExample, RetrievalExample
from simmatch.errors import DataFormatError, InputError

if TYPE_CHECKING:
    import datasets
    import numpy as np

FORMATS = ("auto", "jsonl", "tsv", "csv")
LABEL_TYPES = ("auto", "class", "score")
ROLES = ("sentence1", "sentence2", "label", "id", "split")

#: Column (or JSON key) names accepted for each role, compared case-insensitively.
ALIASES: dict[str, tuple[str, ...]] = {
    "sentence1": ("sentence1", "text_a", "texta", "query"),
    "sentence2": ("sentence2", "text_b", "textb", "title"),
    "label": ("label", "score"),
    "id": ("id",),
    "split": ("split",),
}
RETRIEVAL_ALIASES: dict[str, tuple[str, ...]] = {"query": ("query",), "pos": ("pos",), "neg": ("neg",)}

LabelType = Literal["class", "score"]


# --------------------------------------------------------------------------------------------------
# The dataset wrapper


class PairDataset(Sequence[PairExample]):
    """A list of :class:`PairExample` plus what is known about its labels.

    ``label_type`` is ``"class"`` (``label_set`` holds the class names, in order), ``"score"``
    (``score_range`` is ``(lo, hi)`` when declared) or ``None`` for unlabeled pairs.
    Indexing with a slice returns a ``PairDataset`` with the same label information.
    """

    def __init__(
        self,
        examples: Sequence[PairExample],
        *,
        path: str | Path | None = None,
        name: str | None = None,
        label_type: LabelType | None = None,
        label_set: Sequence[str] | None = None,
        score_range: tuple[float, float] | None = None,
    ):
        if label_type not in (None, "class", "score"):
            raise InputError(f"label_type must be 'class', 'score' or None, not {label_type!r}")
        if label_type == "class" and not label_set:
            raise InputError("a 'class' dataset needs its label_set")
        self.examples: tuple[PairExample, ...] = tuple(examples)
        self.path = Path(path) if path is not None else None
        self.name = name if name is not None else (self.path.name if self.path else "pairs")
        self.label_type = label_type
        self.label_set: tuple[str, ...] | None = (
            tuple(label_set) if label_type == "class" and label_set is not None else None
        )
        self.score_range = tuple(score_range) if score_range is not None else None

    @overload
    def __getitem__(self, index: int) -> PairExample: ...
    @overload
    def __getitem__(self, index: slice) -> PairDataset: ...
    def __getitem__(self, index: int | slice) -> PairExample | PairDataset:
        if isinstance(index, slice):
            return PairDataset(
                self.examples[index],
                path=self.path,
                name=self.name,
                label_type=self.label_type,
                label_set=self.label_set,
                score_range=self.score_range,  # type: ignore[arg-type]
            )
        return self.examples[index]

    def __len__(self) -> int:
        return len(self.examples)

    def __iter__(self) -> Iterator[PairExample]:
        return iter(self.examples)

    def __repr__(self) -> str:
        labels = (
            f"label_set={self.label_set}"
            if self.label_type == "class"
            else f"score_range={self.score_range}"
            if self.label_type == "score"
            else "unlabeled"
        )
        return f"PairDataset({self.name!r}, {len(self)} pairs, {labels})"

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """The ``(sentence1, sentence2)`` tuples, in order."""
        return [(e.sentence1, e.sentence2) for e in self.examples]

    @property
    def labels(self) -> list[Any]:
        """The labels, in order (``str`` for classes, ``float`` for scores)."""
        return [e.label for e in self.examples]

    @property
    def is_binary(self) -> bool:
        """True for class labels with exactly two classes."""
        return self.label_type == "class" and self.label_set is not None and len(self.label_set) == 2

    @property
    def positive_label(self) -> str:
        """For a binary dataset, the positive class: the last of ``label_set`` (``"1"`` for 0/1)."""
        if not self.is_binary or self.label_set is None:
            raise InputError(f"{self.name}: positive_label needs binary class labels")
        return self.label_set[-1]

    def to_hf_dataset(self, *, unit_scores: bool = False) -> datasets.Dataset:
        """A ``datasets.Dataset`` with columns ``sentence1``, ``sentence2`` and ``label``.

        Class labels become a ``ClassLabel`` feature (integer ids, names = ``label_set``); scores a
        float column, rescaled to [0, 1] with ``score_range`` when ``unit_scores`` is true (what
        cosine-similarity losses expect). Unlabeled data has no ``label`` column.
        """
        import datasets

        data: dict[str, list[Any]] = {
            "sentence1": [e.sentence1 for e in self.examples],
            "sentence2": [e.sentence2 for e in self.examples],
        }
        features: dict[str, Any] = {
            "sentence1": datasets.Value("string"),
            "sentence2": datasets.Value("string"),
        }
        if self.label_type == "class" and self.label_set is not None:
            index = {name: i for i, name in enumerate(self.label_set)}
            data["label"] = [index[str(e.label)] for e in self.examples]
            features["label"] = datasets.ClassLabel(names=list(self.label_set))
        elif self.label_type == "score":
            scores = [float(e.label) for e in self.examples]  # type: ignore[arg-type]
            if unit_scores:
                if self.score_range is None:
                    raise InputError(f"{self.name}: unit_scores needs a score_range")
                lo, hi = self.score_range
                scores = [float(score_to_unit(s, lo, hi)) for s in scores]
            data["label"] = scores
            features["label"] = datasets.Value("float32")
        return datasets.Dataset.from_dict(data, features=datasets.Features(features))


def score_to_unit(x: float | np.ndarray, lo: float, hi: float) -> float | np.ndarray:
    """Rescale a score (or array of scores) from ``[lo, hi]`` to ``[0, 1]`` linearly, without clipping."""
    if not hi > lo:
        raise InputError(f"score range must have hi > lo, got [{lo}, {hi}]")
    return (x - lo) / (hi - lo)


# --------------------------------------------------------------------------------------------------
# Reading lines


def _lines(path: Path) -> Generator[tuple[int, str], None, None]:
    """Yield ``(line_number, text)`` without the line ending; ``.gz`` files are decompressed.

    Lines split on ``\\n`` only (a stray ``\\r`` inside a field is not a line break); a final line
    without a newline is yielded like any other; a UTF-8 BOM at the start is dropped.
    """
    try:
        fh = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise DataFormatError(path, None, f"cannot read: {exc}") from exc
    with fh:
        try:
            for lineno, raw in enumerate(fh, start=1):
                try:
                    text = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
                except UnicodeDecodeError as exc:
                    raise DataFormatError(path, lineno, f"not valid UTF-8 ({exc.reason})") from exc
                yield lineno, text.rstrip("\n").rstrip("\r")
        except (OSError, EOFError) as exc:  # a corrupt or truncated gzip stream shows up here
            raise DataFormatError(path, None, f"cannot read: {exc}") from exc


def _rows_without_gaps(path: Path) -> Iterator[tuple[int, str]]:
    """Like :func:`_lines` but a blank line followed by more data is an error; trailing blanks end."""
    blank_at: int | None = None
    for lineno, text in _lines(path):
        if not text.strip():
            if blank_at is None:
                blank_at = lineno
            continue
        if blank_at is not None:
            raise DataFormatError(path, blank_at, "blank line between rows")
        yield lineno, text


def _detect_format(path: Path, first_line: str | None) -> str:
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[: -len(".gz")]
    suffix = Path(name).suffix
    if suffix in (".json", ".jsonl"):
        return "jsonl"
    if suffix in (".tsv", ".csv"):
        return suffix[1:]
    if first_line is not None:
        if first_line.lstrip().startswith(("{", "[")):
            return "jsonl"
        if "\t" in first_line:
            return "tsv"
        if "," in first_line:
            return "csv"
    raise DataFormatError(path, 1, "cannot detect the format; pass format='jsonl', 'tsv' or 'csv'")


# --------------------------------------------------------------------------------------------------
# Column resolution


_MISSING = object()  # a role the file has no column for (distinct from a JSON null)


@dataclass(frozen=True, slots=True)
class _RawRow:
    line: int
    sentence1: Any
    sentence2: Any
    label: Any
    id: Any
    split: Any


def _check_columns_arg(columns: Mapping[str, str | int] | None, roles: Sequence[str]) -> dict:
    if columns is None:
        return {}
    unknown = [k for k in columns if k not in roles]
    if unknown:
        raise InputError(f"unknown column role {unknown[0]!r}; expected one of {', '.join(roles)}")
    kinds = {type(v) for v in columns.values()}
    if not kinds <= {str, int} or len(kinds) > 1:
        raise InputError("columns values must be all names (str) or all positions (int)")
    return dict(columns)


def _resolve_names(
    path: Path,
    names: Sequence[str],
    columns: Mapping[str, str | int],
    aliases: Mapping[str, tuple[str, ...]],
    line: int,
) -> dict[str, int]:
    """Map roles to positions in ``names`` (a header or a JSON object's keys)."""
    lowered = [n.strip().lower() for n in names]
    resolved: dict[str, int] = {}
    for role, name in columns.items():
        wanted = str(name).strip().lower()
        if wanted not in lowered:
            raise DataFormatError(
                path, line, f"column {name!r} for {role} not found (found: {', '.join(names)})"
            )
        resolved[role] = lowered.index(wanted)
    for role, candidates in aliases.items():
        if role in resolved:
            continue
        found = [i for i, n in enumerate(lowered) if n in candidates and i not in resolved.values()]
        if len(found) > 1:
            both = " and ".join(repr(names[i]) for i in found)
            raise DataFormatError(path, line, f"ambiguous columns {both} for {role}; pass columns=")
        if found:
            resolved[role] = found[0]
    return resolved


def _require_pair_roles(path: Path, resolved: Mapping[str, int], names: Sequence[str], line: int) -> None:
    lowered = {n.strip().lower() for n in names}
    if "sentence2" not in resolved and {"query", "pos"} <= lowered:
        raise DataFormatError(path, line, "this is retrieval data (query/pos/neg): use load_retrieval()")
    for role in ("sentence1", "sentence2"):
        if role not in resolved:
            raise DataFormatError(
                path,
                line,
                f"no column for {role} (looked for {', '.join(ALIASES[role])}; found: {', '.join(names)})",
            )


def _read_delimited(path: Path, fmt: str, columns: Mapping[str, str | int]) -> Iterator[_RawRow]:
    lines = _rows_without_gaps(path)
    if fmt == "csv":
        # csv handles quoted fields; its line_num counts physical lines consumed, so a quoted field
        # spanning lines reports the row's last line.
        numbered = iter(lines)
        current = [0]

        def feed() -> Iterator[str]:
            for lineno, text in numbered:
                current[0] = lineno
                yield text + "\n"

        reader = csv.reader(feed(), strict=True)

        def split_rows() -> Iterator[tuple[int, list[str]]]:
            try:
                for fields in reader:
                    yield current[0], fields
            except csv.Error as exc:
                raise DataFormatError(path, current[0], f"bad CSV: {exc}") from exc

        rows = split_rows()
    else:
        rows = ((lineno, text.split("\t")) for lineno, text in lines)

    first = next(rows, None)
    if first is None:
        return
    first_line, first_fields = first
    positional = any(isinstance(v, int) for v in columns.values())
    looks_like_header = False
    if not positional:
        names = {f.strip().lower() for f in first_fields}
        looks_like_header = bool(columns) or (
            bool(names & set(ALIASES["sentence1"])) and bool(names & (set(ALIASES["sentence2"]) | {"pos"}))
        )
    if looks_like_header:
        resolved = _resolve_names(path, first_fields, columns, ALIASES, first_line)
        _require_pair_roles(path, resolved, first_fields, first_line)
        width = len(first_fields)
        pending: Iterator[tuple[int, list[str]]] = rows
    else:
        if positional:
            resolved = {role: int(pos) for role, pos in columns.items()}
            if "sentence1" not in resolved or "sentence2" not in resolved:
                raise InputError("positional columns need at least sentence1 and sentence2")
            width = len(first_fields)
            if max(resolved.values()) >= width or min(resolved.values()) < 0:
                raise DataFormatError(
                    path, first_line, f"columns name position {max(resolved.values())}, row has {width}"
                )
        else:
            resolved = {"sentence1": 0, "sentence2": 1, "label": 2}
            width = 3

        def with_first() -> Iterator[tuple[int, list[str]]]:
            yield first
            yield from rows

        pending = with_first()

    for lineno, fields in pending:
        if len(fields) != width:
            raise DataFormatError(path, lineno, f"expected {width} columns, found {len(fields)}")
        yield _RawRow(
            lineno,
            fields[resolved["sentence1"]],
            fields[resolved["sentence2"]],
            fields[resolved["label"]] if "label" in resolved else _MISSING,
            fields[resolved["id"]] if "id" in resolved else None,
            fields[resolved["split"]] if "split" in resolved else _MISSING,
        )


def _json_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for lineno, text in _rows_without_gaps(path):
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            hint = "; JSON arrays are not supported, use JSON lines" if text.lstrip().startswith("[") else ""
            raise DataFormatError(
                path, lineno, f"invalid JSON: {exc.msg} at column {exc.colno}{hint}"
            ) from exc
        if not isinstance(record, dict):
            raise DataFormatError(path, lineno, f"expected a JSON object, found {type(record).__name__}")
        yield lineno, record


def _read_jsonl(path: Path, columns: Mapping[str, str | int]) -> Iterator[_RawRow]:
    if any(isinstance(v, int) for v in columns.values()):
        raise InputError("JSON lines columns must be key names, not positions")
    keys: dict[str, str] | None = None
    for lineno, record in _json_records(path):
        if keys is None:
            names = list(record)
            resolved = _resolve_names(path, names, columns, ALIASES, lineno)
            _require_pair_roles(path, resolved, names, lineno)
            keys = {role: names[i] for role, i in resolved.items()}
        values = {}
        for role, key in keys.items():
            if key not in record:
                raise DataFormatError(path, lineno, "missing", field=key)
            values[role] = record[key]
        yield _RawRow(
            lineno,
            values["sentence1"],
            values["sentence2"],
            values.get("label", _MISSING),
            values.get("id"),
            values.get("split", _MISSING),
        )


# --------------------------------------------------------------------------------------------------
# Field checks


def _text(path: Path, line: int, value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise DataFormatError(path, line, f"expected a string, found {type(value).__name__}", field=field)
    text = value.strip()
    if not text:
        raise DataFormatError(path, line, "empty", field=field)
    return text


def _label_text(path: Path, line: int, value: Any) -> str:
    if value is None or isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise DataFormatError(path, line, f"expected a label, found {value!r}", field="label")
    text = str(value).strip()
    if not text:
        raise DataFormatError(path, line, "empty", field="label")
    return text


def _as_float(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _class_sort_key(labels: set[str]):
    if all(_as_float(x) is not None for x in labels):
        return lambda x: (float(x), x)
    return lambda x: x


# --------------------------------------------------------------------------------------------------
# Public loaders


def load_pairs(
    path: str | Path,
    *,
    format: str = "auto",
    columns: Mapping[str, str | int] | None = None,
    label_type: str = "auto",
    labels: Sequence[str] | None = None,
    score_range: tuple[float, float] | None = None,
    split: str | None = None,
    limit: int | None = None,
    name: str | None = None,
) -> PairDataset:
    """Load sentence pairs from a JSON lines, TSV or CSV file (optionally ``.gz``).

    Format: ``"auto"`` decides by extension (``.json``/``.jsonl``, ``.tsv``, ``.csv``, each optionally
    ``.gz``), otherwise by the first line. Columns: a TSV/CSV whose first line names a sentence1 and
    a sentence2 column is read by header; otherwise it must be headerless triples
    ``sentence1, sentence2, label``. Accepted names (case-insensitive): ``sentence1``/``text_a``/
    ``texta``/``query``; ``sentence2``/``text_b``/``textb``/``title``; ``label``/``score``; ``id``;
    ``split``. ``columns`` maps roles to other names (``{"sentence1": "q"}``), or to positions
    (``{"sentence1": 0, "sentence2": 1}``) for a headerless file of any width.

    Labels: ``labels=[...]`` declares class labels and rejects any other; ``score_range=(lo, hi)``
    declares numeric scores and rejects values outside; ``label_type="class"`` / ``"score"`` force the
    type. With neither, the type is inferred: numeric labels with a non-integer value are scores,
    anything else is a class label whose set is the sorted distinct values.
    ``split`` keeps only rows whose ``split`` column equals it (STS-B English). ``limit`` stops after
    that many pairs.

    Raises ``DataFormatError`` (file, line, field) for any malformed row or unreadable file.
    """
    p = Path(path)
    if format not in FORMATS:
        raise InputError(f"format must be one of {', '.join(FORMATS)}, not {format!r}")
    if label_type not in LABEL_TYPES:
        raise InputError(f"label_type must be one of {', '.join(LABEL_TYPES)}, not {label_type!r}")
    if labels is not None and score_range is not None:
        raise InputError("pass labels (classes) or score_range (scores), not both")
    if label_type == "class" and score_range is not None:
        raise InputError("label_type='class' does not take a score_range")
    if label_type == "score" and labels is not None:
        raise InputError("label_type='score' does not take labels")
    if labels is not None and not labels:
        raise InputError("labels must not be empty")
    if score_range is not None and not score_range[1] > score_range[0]:
        raise InputError(f"score_range must be (lo, hi) with hi > lo, got {score_range}")
    if limit is not None and limit < 1:
        raise InputError(f"limit must be positive, got {limit}")
    cols = _check_columns_arg(columns, ROLES)

    if format == "auto":
        with closing(_lines(p)) as lines:  # closes the file after peeking at the first line
            first = next(lines, None)
        format = _detect_format(p, first[1] if first else None)
    raw_rows = _read_jsonl(p, cols) if format == "jsonl" else _read_delimited(p, format, cols)

    rows: list[_RawRow] = []
    has_label: bool | None = None
    splits_seen: set[str] = set()
    for row in raw_rows:
        if has_label is None:
            has_label = row.label is not _MISSING
            if split is not None and row.split is _MISSING:
                raise DataFormatError(p, None, f"split={split!r} given but the file has no split column")
        if split is not None:
            row_split = _text(p, row.line, row.split, "split")
            splits_seen.add(row_split)
            if row_split != split:
                continue
        rows.append(row)
        if limit is not None and len(rows) >= limit:
            break
    if not rows:
        if split is not None and splits_seen:
            raise DataFormatError(
                p, None, f"no rows with split {split!r} (found: {', '.join(sorted(splits_seen))})"
            )
        raise DataFormatError(p, None, "no rows")

    declared = labels is not None or score_range is not None or label_type != "auto"
    if not has_label:
        if declared:
            raise DataFormatError(
                p, None, "labels were declared but the file has no label column", field="label"
            )
        examples = [
            PairExample(
                _text(p, r.line, r.sentence1, "sentence1"),
                _text(p, r.line, r.sentence2, "sentence2"),
                None,
                None if r.id is None else str(r.id).strip(),
            )
            for r in rows
        ]
        return PairDataset(examples, path=p, name=name)

    texts = [
        (
            _text(p, r.line, r.sentence1, "sentence1"),
            _text(p, r.line, r.sentence2, "sentence2"),
            _label_text(p, r.line, r.label),
            None if r.id is None else str(r.id).strip(),
        )
        for r in rows
    ]
    kind = label_type
    if kind == "auto":
        if labels is not None:
            kind = "class"
        elif score_range is not None:
            kind = "score"
        else:
            numbers = [_as_float(t[2]) for t in texts]
            numeric = all(n is not None for n in numbers)
            kind = "score" if numeric and any(n != int(n) for n in numbers if n is not None) else "class"

    if kind == "score":
        examples = []
        for r, (s1, s2, label, row_id) in zip(rows, texts, strict=True):
            value = _as_float(label)
            if value is None:
                raise DataFormatError(p, r.line, f"score {label!r} is not a finite number", field="label")
            if score_range is not None and not score_range[0] <= value <= score_range[1]:
                raise DataFormatError(
                    p,
                    r.line,
                    f"score {value:g} outside [{score_range[0]:g}, {score_range[1]:g}]",
                    field="label",
                )
            examples.append(PairExample(s1, s2, value, row_id))
        return PairDataset(examples, path=p, name=name, label_type="score", score_range=score_range)

    if labels is not None:
        label_set = tuple(str(x) for x in labels)
        allowed = set(label_set)
        for r, t in zip(rows, texts, strict=True):
            if t[2] not in allowed:
                raise DataFormatError(
                    p,
                    r.line,
                    f"label {t[2]!r} not in the declared set ({', '.join(label_set)})",
                    field="label",
                )
    else:
        distinct = {t[2] for t in texts}
        label_set = tuple(sorted(distinct, key=_class_sort_key(distinct)))
    examples = [PairExample(s1, s2, label, row_id) for s1, s2, label, row_id in texts]
    return PairDataset(examples, path=p, name=name, label_type="class", label_set=label_set)


def load_retrieval(
    path: str | Path, *, columns: Mapping[str, str] | None = None, limit: int | None = None
) -> list[RetrievalExample]:
    """Load retrieval training examples from JSON lines ``{"query": ..., "pos": [...], "neg": [...]}``.

    ``pos`` must be a non-empty list of strings; ``neg`` is optional (missing means ``[]``). Other keys
    are ignored. ``columns`` maps ``query``/``pos``/``neg`` to other key names.
    """
    p = Path(path)
    if limit is not None and limit < 1:
        raise InputError(f"limit must be positive, got {limit}")
    cols = _check_columns_arg(columns, tuple(RETRIEVAL_ALIASES))
    if any(isinstance(v, int) for v in cols.values()):
        raise InputError("JSON lines columns must be key names, not positions")
    examples: list[RetrievalExample] = []
    keys: dict[str, str] | None = None
    for lineno, record in _json_records(p):
        if keys is None:
            names = list(record)
            resolved = _resolve_names(p, names, cols, RETRIEVAL_ALIASES, lineno)
            for role in ("query", "pos"):
                if role not in resolved:
                    raise DataFormatError(p, lineno, f"no {role!r} key (found: {', '.join(names)})")
            keys = {role: names[i] for role, i in resolved.items()}
        for role in ("query", "pos"):
            if keys[role] not in record:
                raise DataFormatError(p, lineno, "missing", field=keys[role])
        query = _text(p, lineno, record[keys["query"]], keys["query"])
        lists: dict[str, list[str]] = {}
        for role in ("pos", "neg"):
            key = keys.get(role, role)
            value = record.get(key, [])
            if not isinstance(value, list):
                raise DataFormatError(
                    p, lineno, f"expected a list of strings, found {type(value).__name__}", field=key
                )
            lists[role] = [_text(p, lineno, v, f"{key}[{i}]") for i, v in enumerate(value)]
        if not lists["pos"]:
            raise DataFormatError(p, lineno, "empty list", field=keys["pos"])
        examples.append(RetrievalExample(query, lists["pos"], lists["neg"]))
        if limit is not None and len(examples) >= limit:
            break
    if not examples:
        raise DataFormatError(p, None, "no rows")
    return examples
