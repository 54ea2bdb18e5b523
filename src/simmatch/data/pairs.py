"""Sentence pairs and retrieval examples from files: :func:`load_pairs` (QBQTC JSON lines, headerless
TSV, TSV/CSV with a header, gzipped STS-B) and :func:`load_retrieval` (``{query, pos, neg}`` JSON lines).

Files are read by :mod:`simmatch.data.files` (stdin as ``"-"``, the row policy, the format rule and
the column names); every row is checked and a bad one raises ``DataFormatError`` naming the file,
the 1-based line and the field. Fields are stripped of surrounding whitespace, never altered inside
(AFQMC's ``***`` masking stays as it is). The result converts to a ``datasets.Dataset`` with
:meth:`PairDataset.to_hf_dataset`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simmatch.data import files
from simmatch.data.dataset import PairDataset
from simmatch.data.examples import PairExample, RetrievalExample
from simmatch.data.files import Source
from simmatch.errors import DataFormatError, InputError

FORMATS = ("auto", "jsonl", "tsv", "csv")
LABEL_TYPES = ("auto", "class", "score")
ROLES = ("sentence1", "sentence2", "label", "id", "split")
RETRIEVAL_ROLES = ("query", "pos", "neg")

_MISSING = object()  # a role the file has no column for (distinct from a JSON null)


@dataclass(frozen=True, slots=True)
class _RawRow:
    line: int
    sentence1: Any
    sentence2: Any
    label: Any
    id: Any
    split: Any


def _require_pair_roles(source: Source, resolved: Mapping[str, int], names: Sequence[str], line: int) -> None:
    lowered = {n.strip().lower() for n in names}
    if "sentence2" not in resolved and {"query", "pos"} <= lowered:
        raise source.error(line, "this is retrieval data (query/pos/neg): use load_retrieval()")
    for role in ("sentence1", "sentence2"):
        if role not in resolved:
            looked = ", ".join(files.ALIASES[role])
            raise source.error(line, f"no column for {role} (looked for {looked}; found: {', '.join(names)})")


def _looks_like_header(fields: Sequence[str]) -> bool:
    names = {f.strip().lower() for f in fields}
    second = set(files.ALIASES["sentence2"]) | {"pos"}
    return bool(names & set(files.ALIASES["sentence1"])) and bool(names & second)


def _read_delimited(
    source: Source, rows: Iterator[tuple[int, str]], fmt: str, columns: Mapping[str, str | int]
) -> tuple[str, Iterator[_RawRow]]:
    """The columns found (for messages) and the rows; the header (if any) is read here."""
    first, split_rows = files.peek(files.split_fields(source, rows, fmt))
    if first is None:
        return "no columns", iter(())
    first_line, first_fields = first
    width = len(first_fields)
    found = f"{width} columns without a header"
    positional = any(isinstance(v, int) for v in columns.values())
    if not positional and (columns or _looks_like_header(first_fields)):
        resolved = files.resolve_names(source, first_fields, columns, ROLES, first_line)
        _require_pair_roles(source, resolved, first_fields, first_line)
        next(split_rows)  # the header is not a pair
        found = f"columns {', '.join(first_fields)}"
    elif positional:
        resolved = {role: int(pos) for role, pos in columns.items()}
        if "sentence1" not in resolved or "sentence2" not in resolved:
            raise InputError("positional columns need at least sentence1 and sentence2")
        if max(resolved.values()) >= width or min(resolved.values()) < 0:
            reason = f"columns name position {max(resolved.values())}, row has {width}"
            raise source.error(first_line, reason)
    elif width in (2, 3):
        resolved = {"sentence1": 0, "sentence2": 1, **({"label": 2} if width == 3 else {})}
    else:
        reason = f"expected 2 or 3 columns (sentence1, sentence2[, label]) without a header, found {width}"
        raise source.error(first_line, reason)

    def raw_rows() -> Iterator[_RawRow]:
        for lineno, fields in files.same_width(source, split_rows, width, first_line):
            yield _RawRow(
                lineno,
                fields[resolved["sentence1"]],
                fields[resolved["sentence2"]],
                fields[resolved["label"]] if "label" in resolved else _MISSING,
                fields[resolved["id"]] if "id" in resolved else None,
                fields[resolved["split"]] if "split" in resolved else _MISSING,
            )

    return found, raw_rows()


def _read_jsonl(
    source: Source, rows: Iterator[tuple[int, str]], columns: Mapping[str, str | int]
) -> tuple[str, Iterator[_RawRow]]:
    """The keys found on the first row (for messages) and the rows; the first row's keys decide."""
    first, records = files.peek(files.json_records(source, rows))
    if first is None:
        return "no keys", iter(())
    names = list(first[1])
    resolved = files.resolve_names(source, names, columns, ROLES, first[0])
    _require_pair_roles(source, resolved, names, first[0])
    keys = {role: names[i] for role, i in resolved.items()}
    return f"keys {', '.join(names)}", _jsonl_rows(source, records, keys)


def _jsonl_rows(
    source: Source, records: Iterator[tuple[int, dict[str, Any]]], keys: Mapping[str, str]
) -> Iterator[_RawRow]:
    for lineno, record in records:
        values = {}
        for role, key in keys.items():
            if key not in record:
                raise source.error(lineno, "missing", field=key)
            values[role] = record[key]
        yield _RawRow(
            lineno,
            values["sentence1"],
            values["sentence2"],
            values.get("label", _MISSING),
            values.get("id"),
            values.get("split", _MISSING),
        )


def _label_text(source: Source, line: int, value: Any) -> str:
    if value is None or isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise source.error(line, f"expected a label, found {value!r}", field="label")
    text = str(value).strip()
    if not text:
        raise source.error(line, "empty", field="label")
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


def _check_label_args(
    label_type: str, labels: Sequence[str] | None, score_range: tuple[float, float] | None
) -> None:
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


def check_label_map(label_map: Mapping[Any, Any] | None) -> dict[str, str | None] | None:
    """Validate a ``label_map`` (label as written in the file → label to use, or ``None`` to drop the
    row) and return it with string keys and values (``{"entailment": 1}`` → ``{"entailment": "1"}``)."""
    if label_map is None:
        return None
    if not isinstance(label_map, Mapping) or not label_map:
        raise InputError("label_map must be a non-empty mapping of label -> new label (or None to drop)")
    out: dict[str, str | None] = {}
    for key, value in label_map.items():
        if isinstance(key, bool) or not isinstance(key, (str, int)) or not str(key).strip():
            raise InputError(f"label_map keys must be labels (non-empty strings), got {key!r}")
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (str, int, float)) or not str(value).strip()
        ):
            raise InputError(f"label_map[{key!r}] must be a label or None (drop the row), got {value!r}")
        out[str(key).strip()] = None if value is None else str(value).strip()
    return out


def _no_label_column(source: Source, found: str, reason: str = "no label column") -> DataFormatError:
    return source.error(None, f"{reason} (found {found}; looked for {', '.join(files.ALIASES['label'])})")


def load_pairs(
    path: str | Path,
    *,
    format: str = "auto",
    columns: Mapping[str, str | int] | None = None,
    label_type: str = "auto",
    labels: Sequence[str] | None = None,
    score_range: tuple[float, float] | None = None,
    label_map: Mapping[str, str | None] | None = None,
    require_label: bool = False,
    split: str | None = None,
    limit: int | None = None,
    name: str | None = None,
) -> PairDataset:
    """Load sentence pairs from a JSON lines, TSV or CSV file (optionally ``.gz``), or stdin (``"-"``).

    Format: ``"auto"`` follows :mod:`simmatch.data.files` (by extension, else by the first row).
    Columns: a TSV/CSV whose first line names a sentence1 and a sentence2 column is read by header;
    otherwise it is headerless ``sentence1, sentence2[, label]``, two or three columns as on its
    first line. Accepted names (case-insensitive): ``sentence1``/``text_a``/``texta``/``query``;
    ``sentence2``/``text_b``/``textb``/``title``; ``label``/``score``; ``id``; ``split``. ``columns``
    maps roles to other names (``{"sentence1": "q"}``), or to positions (``{"sentence1": 0,
    "sentence2": 1}``) for a headerless file of any width.

    Labels: ``labels=[...]`` declares class labels and rejects any other; ``score_range=(lo, hi)``
    declares numeric scores and rejects values outside; ``label_type="class"`` / ``"score"`` force the
    type. With neither, the type is inferred: numeric labels with a non-integer value are scores,
    anything else is a class label whose set is the sorted distinct values.
    ``label_map`` renames labels as they are read, before any of that: ``{"entailment": "1",
    "contradiction": "0", "neutral": None}`` turns 3-class NLI into binary pairs, ``None`` dropping
    the row; a label the map does not name is an error (file and line). ``labels``/``score_range``
    then check the mapped labels. ``require_label=True`` makes a file without a label column an
    error ("no label column", with the columns found) instead of unlabeled pairs.
    ``split`` keeps only rows whose ``split`` column equals it (STS-B English). ``limit`` stops after
    that many pairs (pairs kept: rows dropped by ``label_map`` or ``split`` do not count).

    Raises ``DataFormatError`` (file, line, field) for any malformed row or unreadable file.
    """
    source = Source.of(path)
    if format not in FORMATS:
        raise InputError(f"format must be one of {', '.join(FORMATS)}, not {format!r}")
    _check_label_args(label_type, labels, score_range)
    mapping = check_label_map(label_map)
    files.check_limit(limit)
    cols = files.check_columns_arg(columns, ROLES)

    first, rows = files.peek(source.rows())
    if first is None:
        raise source.error(None, "no rows")
    if format == "auto":
        format = files.detect_format(source, first[1])
    if format == "jsonl":
        if any(isinstance(v, int) for v in cols.values()):
            raise InputError("JSON lines columns must be key names, not positions")
        found, raw_rows = _read_jsonl(source, rows, cols)
    else:
        found, raw_rows = _read_delimited(source, rows, format, cols)

    kept: list[_RawRow] = []
    has_label: bool | None = None
    splits_seen: set[str] = set()
    dropped = 0
    for row in raw_rows:
        if has_label is None:
            has_label = row.label is not _MISSING
            if not has_label and (labels is not None or score_range is not None or label_type != "auto"):
                raise _no_label_column(source, found, "labels were declared but the file has no label column")
            if not has_label and mapping is not None:
                raise _no_label_column(source, found, "label_map was given but the file has no label column")
            if not has_label and require_label:
                raise _no_label_column(source, found)
            if split is not None and row.split is _MISSING:
                raise source.error(None, f"split={split!r} given but the file has no split column")
        if split is not None:
            row_split = files.stripped_text(source, row.line, row.split, "split")
            splits_seen.add(row_split)
            if row_split != split:
                continue
        if mapping is not None:
            label = _label_text(source, row.line, row.label)
            if label not in mapping:
                reason = f"label {label!r} is not in label_map ({', '.join(mapping)})"
                raise source.error(row.line, reason, field="label")
            if mapping[label] is None:
                dropped += 1
                continue
            row = dataclasses.replace(row, label=mapping[label])
        kept.append(row)
        if limit is not None and len(kept) >= limit:
            break
    if not kept:
        if split is not None and splits_seen:
            raise source.error(
                None, f"no rows with split {split!r} (found: {', '.join(sorted(splits_seen))})"
            )
        if dropped:
            raise source.error(None, f"no rows left: label_map dropped all {dropped}")
        raise source.error(None, "no rows")

    p = source.path
    name = name if name is not None else (None if p is not None else source.name)

    def texts(r: _RawRow) -> tuple[str, str, str | None]:
        s1 = files.stripped_text(source, r.line, r.sentence1, "sentence1")
        s2 = files.stripped_text(source, r.line, r.sentence2, "sentence2")
        return s1, s2, None if r.id is None else str(r.id).strip()

    if not has_label:
        examples = [PairExample(s1, s2, None, row_id) for s1, s2, row_id in map(texts, kept)]
        return PairDataset(examples, path=p, name=name)

    rows_labels = [(r, *texts(r), _label_text(source, r.line, r.label)) for r in kept]
    kind = label_type
    if kind == "auto":
        if labels is not None or score_range is not None:
            kind = "class" if labels is not None else "score"
        else:
            numbers = [_as_float(t[-1]) for t in rows_labels]
            numeric = all(n is not None for n in numbers)
            kind = "score" if numeric and any(n != int(n) for n in numbers if n is not None) else "class"

    if kind == "score":
        scored = []
        for r, s1, s2, row_id, label in rows_labels:
            value = _as_float(label)
            if value is None:
                raise source.error(r.line, f"score {label!r} is not a finite number", field="label")
            if score_range is not None and not score_range[0] <= value <= score_range[1]:
                reason = f"score {value:g} outside [{score_range[0]:g}, {score_range[1]:g}]"
                raise source.error(r.line, reason, field="label")
            scored.append(PairExample(s1, s2, value, row_id))
        return PairDataset(scored, path=p, name=name, label_type="score", score_range=score_range)

    if labels is not None:
        label_set = tuple(str(x) for x in labels)
        for r, *_, label in rows_labels:
            if label not in label_set:
                reason = f"label {label!r} not in the declared set ({', '.join(label_set)})"
                raise source.error(r.line, reason, field="label")
    else:
        distinct = {t[-1] for t in rows_labels}
        label_set = tuple(sorted(distinct, key=_class_sort_key(distinct)))
    examples = [PairExample(s1, s2, label, row_id) for _, s1, s2, row_id, label in rows_labels]
    return PairDataset(examples, path=p, name=name, label_type="class", label_set=label_set)


def load_retrieval(
    path: str | Path, *, columns: Mapping[str, str] | None = None, limit: int | None = None
) -> list[RetrievalExample]:
    """Load retrieval training examples from JSON lines ``{"query": ..., "pos": [...], "neg": [...]}``
    (a file, or stdin as ``"-"``).

    ``pos`` must be a non-empty list of strings; ``neg`` is optional (missing means ``[]``). Other keys
    are ignored. ``columns`` maps ``query``/``pos``/``neg`` to other key names.
    """
    source = Source.of(path)
    files.check_limit(limit)
    cols = files.check_columns_arg(columns, RETRIEVAL_ROLES, positions=False)
    examples: list[RetrievalExample] = []
    keys: dict[str, str] | None = None
    for lineno, record in files.json_records(source, source.rows()):
        if keys is None:
            names = list(record)
            resolved = files.resolve_names(source, names, cols, RETRIEVAL_ROLES, lineno)
            for role in ("query", "pos"):
                if role not in resolved:
                    raise source.error(lineno, f"no {role!r} key (found: {', '.join(names)})")
            keys = {role: names[i] for role, i in resolved.items()}
        for role in ("query", "pos"):
            if keys[role] not in record:
                raise source.error(lineno, "missing", field=keys[role])
        query = files.stripped_text(source, lineno, record[keys["query"]], keys["query"])
        lists: dict[str, list[str]] = {}
        for role in ("pos", "neg"):
            key = keys.get(role, role)
            value = record.get(key, [])
            if not isinstance(value, list):
                reason = f"expected a list of strings, found {type(value).__name__}"
                raise source.error(lineno, reason, field=key)
            lists[role] = [files.stripped_text(source, lineno, v, f"{key}[{i}]") for i, v in enumerate(value)]
        if not lists["pos"]:
            raise source.error(lineno, "empty list", field=keys["pos"])
        examples.append(RetrievalExample(query, lists["pos"], lists["neg"]))
        if limit is not None and len(examples) >= limit:
            break
    if not examples:
        raise source.error(None, "no rows")
    return examples
