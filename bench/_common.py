"""What every benchmark records the same way: the repository root, the data root (``$SIMMATCH_DATA``
or ``../shared/data``, through ``simmatch.settings.data_root``), the machine/load record, and the
QBQTC rerank workload that ``bench/speed`` and ``bench/serve`` both time (``qbqtc_workload``).

Benchmarks run as scripts (``python bench/<name>/run.py``); they import this module with::

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from _common import DATA_ROOT, ROOT, load_average, machine
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
from pathlib import Path
from typing import Any

from simmatch.settings import data_root

ROOT = Path(__file__).resolve().parents[1]
DATA_ROOT = data_root()
OUT = ROOT / "bench" / "out"

DEFAULT_PACKAGES = (
    "simmatch",
    "torch",
    "onnxruntime",
    "sentence-transformers",
    "transformers",
    "faiss-cpu",
    "bm25s",
    "numpy",
)


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages (rounded), or ``[]`` where the OS has none."""
    if not hasattr(os, "getloadavg"):
        return []
    return [round(x, 2) for x in os.getloadavg()]


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def versions(packages: tuple[str, ...] = DEFAULT_PACKAGES) -> dict[str, str]:
    out = {}
    for package in packages:
        try:
            out[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            out[package] = "-"
    return out


def machine(packages: tuple[str, ...] = DEFAULT_PACKAGES) -> dict[str, Any]:
    """The machine a benchmark ran on and how loaded it was when this was called."""
    autogroup = Path("/proc/self/autogroup")
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpus_online": os.cpu_count(),
        "cpus_usable": usable,
        "nice": os.nice(0) if hasattr(os, "nice") else None,
        "autogroup": autogroup.read_text().strip() if autogroup.exists() else None,
        "python": platform.python_version(),
        "versions": versions(packages),
        "load_average": load_average(),
    }


def qbqtc_workload(
    data_root: Path, n_pairs: int, n_queries: int, n_candidates: int
) -> tuple[list[tuple[str, str]], list[tuple[str, list[str]]]]:
    """From QBQTC test_public, in file order: the first ``n_pairs`` (query, title) pairs, and
    ``n_queries`` rerank jobs ``(query, titles)``: the first distinct queries, each with
    ``n_candidates`` distinct titles (its own titles first, then the titles that follow in the
    file, wrapping around)."""
    from simmatch.errors import DataFormatError

    path = data_root / "qbqtc" / "test_public.json"
    rows = []
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            try:
                row = json.loads(line)
                rows.append((str(row["query"]), str(row["title"])))
            except (json.JSONDecodeError, KeyError) as exc:
                raise DataFormatError(path, line_no, f"bad JSON line ({exc})") from exc
    if len(rows) < n_pairs or len(rows) < n_candidates:
        raise DataFormatError(path, None, f"only {len(rows)} pairs, {max(n_pairs, n_candidates)} requested")
    first: dict[str, int] = {}
    for i, (query, _) in enumerate(rows):
        first.setdefault(query, i)
    if len(first) < n_queries:
        raise DataFormatError(path, None, f"only {len(first)} distinct queries, {n_queries} requested")
    jobs = []
    for query, start in list(first.items())[:n_queries]:
        titles = list(dict.fromkeys(t for _, t in rows[start:] + rows[:start]))[:n_candidates]
        jobs.append((query, titles))
    return rows[:n_pairs], jobs


def splice(
    text: str, lines: list[str], start: str, end: str, *, append: bool = False, source: object = "text"
) -> str:
    """``text`` with its section from ``start`` to ``end`` replaced by ``lines`` (which carry the
    markers themselves). Without the markers: the section appended when ``append``, else an error
    naming them and ``source``. The one way every benchmark rewrites its part of a page."""
    block = "\n".join(lines)
    if start in text and end in text:
        head, rest = text.split(start, 1)
        return head + block + rest.split(end, 1)[1]
    if append:
        return text.rstrip("\n") + "\n\n" + block + "\n"
    raise SystemExit(f"{source}: markers {start} / {end} not found")


def write_section(doc: Path, lines: list[str], start: str, end: str) -> Path:
    """Rewrite ``doc``'s section between ``start`` and ``end`` (markers required) with ``lines``."""
    doc.write_text(splice(doc.read_text(encoding="utf-8"), lines, start, end, source=doc), encoding="utf-8")
    return doc
