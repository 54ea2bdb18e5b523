"""The public benchmark data sets under :func:`simmatch.settings.data_root`, by name and split.

Each benchmark declares its files and its label type, so a loaded split is validated against it
(a stray label ``"3"`` in LCQMC or a score of 5.2 in STS-B is an error, not a new class).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from simmatch.data.loaders import PairDataset, load_pairs
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
    name: str, split: str, *, root: str | Path | None = None, limit: int | None = None
) -> PairDataset:
    """Load one split of a known benchmark, validated against its declared labels or score range.

    Names: ``qbqtc`` (dev, test_public), ``lcqmc`` (dev, test), ``afqmc`` (train, dev), ``bq`` (dev),
    ``pawsx-zh`` (dev), ``stsb-zh`` (train, dev, test), ``stsb-en`` (train, dev, test). Files are
    read from ``root`` or :func:`simmatch.settings.data_root` (``$SIMMATCH_DATA``).
    """
    bench = get_benchmark(name)
    path = benchmark_path(name, split, root=root)
    return load_pairs(
        path,
        labels=bench.labels,
        score_range=bench.score_range,
        split=split if bench.split_column else None,
        limit=limit,
        name=f"{name}/{split}",
    )
