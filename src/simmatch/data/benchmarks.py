"""The public benchmark data sets under :func:`simmatch.settings.data_root`, by name and split, and
:func:`resolve_dataset`: a ``NAME:SPLIT`` benchmark or a file path, as every door spells data.

Each benchmark declares its files and its label type, so a loaded split is validated against it
(a stray label ``"3"`` in LCQMC or a score of 5.2 in STS-B is an error, not a new class).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, overload

from simmatch.data.dataset import PairDataset
from simmatch.data.examples import RetrievalExample
from simmatch.data.pairs import check_label_map, load_pairs, load_retrieval
from simmatch.errors import InputError
from simmatch.settings import data_root

BINARY = ("0", "1")


@dataclass(frozen=True, slots=True)
class Benchmark:
    """A named benchmark: split → file (relative to the data root) and the label declaration.

    ``split_column`` is true when all splits live in one file and a ``split`` column selects them.
    """

    name: str
    files: dict[str, str]
    labels: tuple[str, ...] | None = None
    score_range: tuple[float, float] | None = None
    split_column: bool = False
    description: str = ""

    @property
    def label_type(self) -> str:
        return "class" if self.labels is not None else "score"

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(self.files)


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark(
            "qbqtc",
            {"dev": "qbqtc/dev.json", "test_public": "qbqtc/test_public.json"},
            labels=("0", "1", "2"),
            description="QQ browser query-title relevance, 0 poor / 1 somewhat / 2 very relevant",
        ),
        Benchmark(
            "lcqmc",
            {"dev": "lcqmc/dev.tsv", "test": "lcqmc/test.tsv"},
            labels=BINARY,
            description="LCQMC question matching",
        ),
        Benchmark(
            "afqmc",
            {"train": "afqmc/train.tsv", "dev": "afqmc/dev.tsv"},
            labels=BINARY,
            description="Ant Financial question matching (CLUE AFQMC)",
        ),
        Benchmark("bq", {"dev": "bq/dev.tsv"}, labels=BINARY, description="BQ corpus, bank questions"),
        Benchmark(
            "pawsx-zh", {"dev": "pawsx-zh/dev.tsv"}, labels=BINARY, description="PAWS-X Chinese paraphrases"
        ),
        Benchmark(
            "stsb-zh",
            {"train": "stsb-zh/train.tsv", "dev": "stsb-zh/dev.tsv", "test": "stsb-zh/test.tsv"},
            score_range=(0.0, 5.0),
            description="Chinese STS-B, similarity 0–5",
        ),
        Benchmark(
            "stsb-en",
            {s: "stsb-en/stsbenchmark.tsv.gz" for s in ("train", "dev", "test")},
            score_range=(0.0, 5.0),
            split_column=True,
            description="STS Benchmark (English), similarity 0–5",
        ),
    )
}


def get_benchmark(name: str) -> Benchmark:
    """The :class:`Benchmark` called ``name``; ``InputError`` listing the known names otherwise."""
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise InputError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}") from None


def benchmark_path(name: str, split: str, *, root: str | Path | None = None) -> Path:
    """The file holding ``split`` of benchmark ``name`` under ``root`` (default :func:`data_root`)."""
    bench = get_benchmark(name)
    if split not in bench.files:
        raise InputError(f"benchmark {name!r} has no split {split!r}; splits: {', '.join(bench.splits)}")
    return Path(root if root is not None else data_root()) / bench.files[split]


def load_benchmark(
    name: str,
    split: str,
    *,
    root: str | Path | None = None,
    limit: int | None = None,
    label_map: Mapping[str, str | None] | None = None,
) -> PairDataset:
    """Load one split of a known benchmark, validated against its declared labels or score range.

    Names: ``qbqtc`` (dev, test_public), ``lcqmc`` (dev, test), ``afqmc`` (train, dev), ``bq`` (dev),
    ``pawsx-zh`` (dev), ``stsb-zh`` (train, dev, test), ``stsb-en`` (train, dev, test). Files are
    read from ``root`` or :func:`simmatch.settings.data_root` (``$SIMMATCH_DATA``).
    ``label_map`` (class benchmarks only) renames or drops labels as in :func:`load_pairs`; its keys
    must be the benchmark's labels (``{"0": "0", "1": "1", "2": "1"}`` makes QBQTC binary).
    """
    bench = get_benchmark(name)
    path = benchmark_path(name, split, root=root)
    labels = bench.labels
    mapping = check_label_map(label_map)
    if mapping is not None:
        if bench.labels is None:
            raise InputError(f"label_map applies to class labels; benchmark {name!r} holds scores")
        unknown = [key for key in mapping if key not in bench.labels]
        if unknown:
            raise InputError(
                f"label_map names {unknown[0]!r}, not a label of {name!r} ({', '.join(bench.labels)})"
            )
        labels = None  # every raw label is a key of the map, so a declared one; the mapped set is inferred
    return load_pairs(
        path,
        labels=labels,
        score_range=bench.score_range,
        label_map=mapping,
        split=split if bench.split_column else None,
        limit=limit,
        name=f"{name}/{split}",
    )


def _benchmark_split(text: str) -> tuple[str, str | None] | None:
    """``(name, split or None)`` when ``text`` names a benchmark (and is not an existing file)."""
    name, sep, split = text.partition(":")
    if name in BENCHMARKS and not Path(text).exists():
        return name, (split if sep else None)
    return None


def same_data(a: str | Path, b: str | Path, *, root: str | Path | None = None) -> bool:
    """True when two ``--data``-style specs name the same data: the same ``NAME:SPLIT``, the same
    file (however the path is spelled; a benchmark split counts as its file) or both stdin. Specs
    that do not resolve (unknown names, missing files) compare by their text."""

    def key(spec: str | Path) -> tuple[str, str | None]:
        text = str(spec)
        if text == "-":
            return ("-", None)
        named = _benchmark_split(text)
        if named is not None:
            name, split = named
            bench = BENCHMARKS[name]
            if split not in bench.files:
                return (text, None)
            path = benchmark_path(name, split, root=root).resolve()
            return (str(path), split if bench.split_column else None)
        return (str(Path(text).resolve()), None)

    return key(a) == key(b)


@overload
def resolve_dataset(
    spec: str | Path,
    *,
    limit: int | None = None,
    retrieval: Literal[False] = False,
    score_range: tuple[float, float] | None = None,
    label_map: Mapping[str, str | None] | None = None,
    require_label: bool = False,
    root: str | Path | None = None,
) -> PairDataset: ...
@overload
def resolve_dataset(
    spec: str | Path,
    *,
    limit: int | None = None,
    retrieval: Literal[True],
    score_range: tuple[float, float] | None = None,
    label_map: Mapping[str, str | None] | None = None,
    require_label: bool = False,
    root: str | Path | None = None,
) -> list[RetrievalExample]: ...
def resolve_dataset(
    spec: str | Path,
    *,
    limit: int | None = None,
    retrieval: bool = False,
    score_range: tuple[float, float] | None = None,
    label_map: Mapping[str, str | None] | None = None,
    require_label: bool = False,
    root: str | Path | None = None,
) -> PairDataset | list[RetrievalExample]:
    """Load the data a ``--train``/``--dev``/``--data`` argument names.

    ``NAME:SPLIT`` with a known benchmark name (``"lcqmc:test"``) loads that split with
    :func:`load_benchmark`; anything else is a file path (or ``"-"`` for stdin) read by
    :func:`load_pairs` (``score_range``: the file's labels are scores in that range, e.g. STS-B's
    whole numbers 0–5), or with ``retrieval=True`` by :func:`load_retrieval` (``{query, pos, neg}``
    JSON lines). A ``NAME:SPLIT`` or bare ``NAME`` that is neither a benchmark nor an existing file
    raises ``InputError`` listing the benchmark names. ``label_map`` and ``require_label`` are
    :func:`load_pairs`'s (pairs only; benchmarks always have labels).
    """
    text = str(spec)
    if retrieval and label_map is not None:
        raise InputError("label_map applies to pair data, not retrieval data")
    named = _benchmark_split(text)
    if named is not None:
        name, split = named
        if retrieval:
            raise InputError(
                f"{text} is a pair benchmark; retrieval data is a {{query, pos, neg}} JSON lines file"
            )
        if split is None:
            splits = " or ".join(f"{name}:{s}" for s in BENCHMARKS[name].splits)
            raise InputError(f"benchmark {name!r} needs a split: {splits}")
        return load_benchmark(name, split, root=root, limit=limit, label_map=label_map)
    name = text.partition(":")[0]
    looks_like_a_name = ":" in text or not any(c in text for c in "./\\")
    if text != "-" and looks_like_a_name and not Path(text).exists():
        raise InputError(
            f"unknown benchmark {name!r} and no such file {text!r}; benchmarks are NAME:SPLIT with NAME "
            f"one of {', '.join(BENCHMARKS)} (e.g. lcqmc:test)"
        )
    if retrieval:
        return load_retrieval(spec, limit=limit)
    return load_pairs(
        spec, limit=limit, score_range=score_range, label_map=label_map, require_label=require_label
    )
