"""Result types shared by both model families, and the one place each is computed from scores:
pairwise cosine, thresholded labels, ranking, a head's logits read as predictions. The library, the
CLI, the HTTP service and training's dev evaluation all call these, so every door gives the same
numbers, order and labels for the same input."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from simmatch.errors import InputError
from simmatch.models._inputs import check_top_k

# The labels a score thresholded into two classes gets (negative, positive), unless a model says
# otherwise (``PairClassifierConfig.threshold_labels``).
THRESHOLD_LABELS: tuple[str, str] = ("0", "1")


@dataclass(frozen=True)
class RankedDocument:
    """One ranked candidate: its position in the input, its score (higher is better), its text."""

    index: int
    score: float
    text: str


@dataclass(frozen=True)
class PairPrediction:
    """``label``: the predicted label name; ``probabilities``: one per label (sum to 1) for
    classification heads, ``{}`` for regression; ``score``: the relevance score used for ranking
    (regression score, P(positive) for binary, expected grade / (n-1) for graded labels)."""

    label: str
    probabilities: dict[str, float]
    score: float


def cosine_pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine of ``a[i]`` with ``b[i]`` for every row, float32 (n,). Rows are normalized here, so
    vectors that are not unit length (or an encoder that ignores ``normalize``) still give cosines;
    a zero row gives 0."""
    a = np.atleast_2d(np.asarray(a, dtype=np.float32))
    b = np.atleast_2d(np.asarray(b, dtype=np.float32))
    if a.shape != b.shape:
        raise InputError(f"cosine_pairwise needs two arrays of the same shape, got {a.shape} and {b.shape}")
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return np.einsum("ij,ij->i", a, b).astype(np.float32, copy=False)


def labels_by_threshold(
    scores: Sequence[float] | np.ndarray, threshold: float, labels: Sequence[str] = THRESHOLD_LABELS
) -> list[str]:
    """``labels[1]`` (positive) where ``score >= threshold``, else ``labels[0]``."""
    negative, positive = _threshold_names(labels)
    return [positive if float(s) >= threshold else negative for s in np.asarray(scores).reshape(-1)]


def rank_by_scores(
    scores: Sequence[float] | np.ndarray, documents: Sequence[str], top_k: int | None = None
) -> list[RankedDocument]:
    """Documents sorted by score, best first (ties keep input order); ``top_k`` keeps the first k."""
    check_top_k(top_k)
    values = np.asarray(scores, dtype=np.float32).reshape(-1)
    if len(values) != len(documents):
        raise InputError(f"{len(values)} scores for {len(documents)} documents")
    order = np.argsort(-values, kind="stable")[: top_k or len(documents)]
    return [RankedDocument(int(i), float(values[i]), documents[i]) for i in order]


def compare_result(source: np.ndarray, candidates: np.ndarray) -> dict[str, Any]:
    """ModelScope's sentence-embedding output from the (normalized) source vector and candidate
    vectors: ``{"text_embedding": (1 + n, dim), "scores": [n cosines]}``."""
    scores = (candidates @ source).astype(float).tolist()
    return {"text_embedding": np.vstack([source[None, :], candidates]), "scores": scores}


def predictions_from_logits(
    logits: np.ndarray,
    labels: Sequence[str] | None,
    *,
    threshold: float = 0.5,
    threshold_labels: Sequence[str] = THRESHOLD_LABELS,
    logit_offsets: Sequence[float] = (),
) -> list[PairPrediction]:
    """How a pair head's raw outputs (n, num_labels) read as predictions.

    One output (regression): score ``sigmoid(logit)``, label ``threshold_labels[1]`` when
    ``score >= threshold`` else ``threshold_labels[0]``, no probabilities. More outputs: softmax
    over ``labels`` (in logit order), the argmax label, and a relevance score of P(last label) for
    two labels or the expected grade / (n - 1) for more, so "very relevant" outranks "somewhat
    relevant" even when neither is the argmax. ``logit_offsets`` (one per label, empty for none) are
    added to the logits first: a decision rule tuned on dev data (post-hoc logit adjustment, see
    ``simmatch.evaluation.best_logit_offsets``), so label, probabilities and score all follow it.
    """
    rows = np.asarray(logits, dtype=np.float32)
    if rows.ndim != 2 or rows.shape[1] < 1:
        raise InputError(f"logits must have shape (n, num_labels), got {rows.shape}")
    if rows.shape[1] == 1:
        scores = 1.0 / (1.0 + np.exp(-rows[:, 0]))
        names = labels_by_threshold(scores, threshold, threshold_labels)
        return [PairPrediction(label, {}, float(s)) for label, s in zip(names, scores)]
    names = [str(x) for x in labels or ()]
    if len(names) != rows.shape[1]:
        raise InputError(f"{rows.shape[1]} logits per pair but {len(names)} labels: {names}")
    if len(logit_offsets):
        if len(logit_offsets) != len(names):
            raise InputError(f"{len(logit_offsets)} logit offsets for {len(names)} labels: {names}")
        rows = rows + np.asarray(logit_offsets, dtype=np.float32)
    z = rows - rows.max(axis=1, keepdims=True)
    probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    n = probs.shape[1]
    relevance = probs[:, 1] if n == 2 else probs @ np.arange(n, dtype=probs.dtype) / (n - 1)
    return [
        PairPrediction(names[int(row.argmax())], {lab: float(p) for lab, p in zip(names, row)}, float(r))
        for row, r in zip(probs, relevance)
    ]


def _threshold_names(names: Sequence[str]) -> tuple[str, str]:
    if len(names) != 2:
        raise InputError(f"threshold labels must be two names (negative, positive), got {list(names)}")
    return str(names[0]), str(names[1])
