"""``PairDataset``: a list of :class:`PairExample` plus what is known about its labels, and the
score rescaling the training losses use."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from simmatch.data.examples import PairExample
from simmatch.errors import InputError

if TYPE_CHECKING:
    import datasets
    import numpy as np

LabelType = Literal["class", "score"]


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
