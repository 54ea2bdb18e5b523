"""CLI plumbing around the data layer: texts from arguments, a file or stdin (read by
``simmatch.data.load_texts``), the ``--score-range`` and ``--label-map`` flags, and JSON lines
output. Reading files is ``simmatch.data``'s job; nothing here parses a data file."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from simmatch.errors import InputError


def write_jsonl(rows: Iterable[dict[str, Any]], out: TextIO | None = None) -> None:
    stream = out or sys.stdout
    for row in rows:
        stream.write(json.dumps(row, ensure_ascii=False) + "\n")
    stream.flush()


def check_output_file(path: str, option: str = "--out") -> None:
    """Fail before any work when ``path`` cannot be written: its directory is missing, is not a
    directory or is not writable, or the path itself is a directory."""
    target = Path(path).expanduser()
    folder = target.parent
    if target.is_dir():
        raise InputError(f"{option} {path} is a directory; give a file path")
    if not folder.exists():
        raise InputError(f"{option} {path}: directory {folder} does not exist (create it first)")
    if not folder.is_dir():
        raise InputError(f"{option} {path}: {folder} is not a directory")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"{option} {path}: directory {folder} is not writable")


def refuse_file_names(texts: list[str], what: str, flag: str, reads: str = "texts") -> None:
    """A text argument that names an existing file is almost always a file given in the wrong
    place (``simmatch rank "q" file.txt``): refuse it, pointing to the flag that reads files, rather
    than silently treat the file's name as the text."""
    for text in texts:
        if os.path.isfile(text):
            raise InputError(
                f"{what} {text!r} is the name of a file, not a text; to read {reads} from the file "
                f"use {flag} {text}"
            )


def texts_from_args(texts: list[str], file: str | None) -> list[str]:
    """The texts given as arguments, else those of ``--file`` (``-`` for stdin), else a pipe."""
    from simmatch.data import load_texts

    if texts and file:
        raise InputError("give texts as arguments or with --file, not both")
    if file:
        return load_texts(file)
    if texts:
        refuse_file_names(texts, "text", "--file")
        return texts
    if not sys.stdin.isatty():
        return load_texts("-")
    raise InputError("no input: pass texts as arguments, --file PATH, or pipe them on stdin")


def parse_score_range(text: str | None) -> tuple[float, float] | None:
    """``"0,5"`` -> ``(0.0, 5.0)``; a clear error for anything else."""
    if text is None:
        return None
    parts = text.split(",")
    try:
        low, high = (float(x) for x in parts)
    except ValueError:
        raise InputError(f"--score-range must be LOW,HIGH (e.g. 0,5), got {text!r}") from None
    if not low < high:
        raise InputError(f"--score-range: LOW must be below HIGH, got {text!r}")
    return low, high


def add_score_range_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--score-range",
        metavar="LOW,HIGH",
        help="data files hold similarity scores in this range (e.g. 0,5 for STS-B), not class labels",
    )


def parse_label_map(text: str | None) -> dict[str, str | None] | None:
    """``"entailment=1,contradiction=0,neutral=drop"`` -> ``{"entailment": "1", "contradiction": "0",
    "neutral": None}`` (``drop``: leave those rows out); a clear error for anything else."""
    if text is None:
        return None
    out: dict[str, str | None] = {}
    for item in text.split(","):
        label, sep, value = (part.strip() for part in item.rpartition("="))
        if not sep or not label or not value:
            raise InputError(f"--label-map takes LABEL=NEW,... (NEW a label or drop), got {item.strip()!r}")
        if label in out:
            raise InputError(f"--label-map names {label!r} twice")
        out[label] = None if value == "drop" else value
    return out


def add_label_map_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--label-map",
        metavar="LABEL=NEW,...",
        help="rename labels as the data is read, 'drop' leaves a label's rows out; every label of the "
        "data must be named (e.g. entailment=1,contradiction=0,neutral=drop)",
    )
