"""Metrics: classification (sklearn), correlation (scipy), decision thresholds and logit offsets,
ranked retrieval."""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from simmatch.errors import InputError

#: Scores or labels: a sequence or a 1-d numpy array.
Numbers = Sequence[float] | np.ndarray
Labels = Sequence[Any] | np.ndarray


def _same_length(a: Sequence | np.ndarray, b: Sequence | np.ndarray, names: str) -> None:
    if len(a) != len(b):
        raise InputError(f"{names} must have the same length, got {len(a)} and {len(b)}")
    if len(a) == 0:
        raise InputError(f"{names} must not be empty")


def classification_metrics(
    y_true: Sequence[Hashable], y_pred: Sequence[Hashable], labels: Sequence[Hashable]
) -> dict[str, float]:
    """``accuracy``, ``macro_f1`` and ``f1_<label>`` for each label, computed by scikit-learn.

    Every true or predicted label must be one of ``labels`` (``InputError`` otherwise: a model whose
    label names differ from the data's is a configuration error, not a 0% class).
    """
    from sklearn.metrics import accuracy_score, f1_score

    _same_length(y_true, y_pred, "y_true and y_pred")
    if not labels:
        raise InputError("labels must not be empty")
    known = set(labels)
    for what, values in (("y_true", y_true), ("y_pred", y_pred)):
        for i, value in enumerate(values):
            if value not in known:
                raise InputError(f"{what}[{i}] = {value!r} is not one of the labels {list(labels)}")
    per_class = f1_score(y_true, y_pred, labels=list(labels), average=None, zero_division=0)
    result = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=list(labels), average="macro", zero_division=0)),
    }
    result.update({f"f1_{label}": float(f) for label, f in zip(labels, per_class, strict=True)})
    return result


def correlation_metrics(gold: Numbers, pred: Numbers) -> dict[str, float]:
    """``spearman`` and ``pearson`` correlation (scipy). A constant input gives ``nan`` (undefined)."""
    from scipy.stats import ConstantInputWarning, pearsonr, spearmanr

    _same_length(gold, pred, "gold and pred")
    if len(gold) < 2:
        raise InputError("correlation needs at least 2 values")
    g = np.asarray(gold, dtype=np.float64)
    p = np.asarray(pred, dtype=np.float64)
    if not (np.isfinite(g).all() and np.isfinite(p).all()):
        raise InputError("correlation inputs must be finite numbers")
    with warnings.catch_warnings():
        # A constant prediction has no correlation; nan says so, the warning would only repeat it.
        warnings.simplefilter("ignore", ConstantInputWarning)
        return {
            "spearman": float(spearmanr(g, p).statistic),
            "pearson": float(pearsonr(g, p).statistic),
        }


def _binary(labels: Labels) -> np.ndarray:
    y = np.asarray(labels)
    if y.dtype == bool:
        return y
    values = set(np.unique(y).tolist())
    if not values <= {0, 1}:
        raise InputError(f"binary labels must be 0/1 or bool, found {sorted(values, key=str)[:5]}")
    return y.astype(bool)


def _scores(scores: Numbers) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or not np.isfinite(s).all():
        raise InputError("scores must be a 1-d sequence of finite numbers")
    return s


def average_precision(scores: Numbers, labels: Labels) -> float:
    """Average precision of ``scores`` for the positive labels (0/1 or bool), by scikit-learn's
    ``average_precision_score``: the mean precision at each positive's rank, the area under the
    precision-recall curve without interpolation. It needs no threshold; C-MTEB reports it for pair
    classification. ``nan`` when there is no positive (undefined, as a correlation of constants)."""
    from sklearn.metrics import average_precision_score

    _same_length(scores, labels, "scores and labels")
    s, y = _scores(scores), _binary(labels)
    if not y.any():
        return float("nan")
    return float(average_precision_score(y, s))


def threshold_accuracy(scores: Numbers, labels: Labels, threshold: float) -> float:
    """Accuracy of predicting positive when ``score >= threshold``; ``labels`` are 0/1 or bool."""
    _same_length(scores, labels, "scores and labels")
    return float(np.mean((_scores(scores) >= threshold) == _binary(labels)))


def best_threshold(scores: Numbers, labels: Labels, *, metric: str = "accuracy") -> tuple[float, float]:
    """The decision threshold (positive when ``score >= threshold``) that maximises ``metric``.

    ``metric`` is ``"accuracy"`` or ``"f1"`` (of the positive class). Returns ``(threshold, value)``.
    Every cut between two distinct scores is tried in one pass over the sorted scores (written by
    hand: sklearn's ``roc_curve`` gives the same counts but as rates that turn into nan, with a
    warning, when a class is absent). The threshold returned is the midpoint between the lowest
    score predicted positive and the next lower score, so it generalises between the two; ties
    between cuts go to the highest threshold.
    """
    if metric not in ("accuracy", "f1"):
        raise InputError(f"metric must be 'accuracy' or 'f1', not {metric!r}")
    _same_length(scores, labels, "scores and labels")
    s = _scores(scores)
    y = _binary(labels)
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    # Cut k predicts the top k scores positive; only cuts between distinct scores are valid.
    tp = np.concatenate([[0], np.cumsum(y_sorted)])
    k = np.arange(len(s) + 1)
    fp = k - tp
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    valid = np.ones(len(s) + 1, dtype=bool)
    valid[1:-1] = s_sorted[:-1] != s_sorted[1:]
    if metric == "accuracy":
        value = (tp + (n_neg - fp)) / len(y)
    else:
        denom = tp + fp + n_pos
        value = np.divide(2 * tp, denom, out=np.zeros(len(k)), where=denom > 0)
    value = np.where(valid, value, -np.inf)
    cut = int(np.argmax(value))
    if cut == 0:
        threshold = float(np.nextafter(s_sorted[0], np.inf))  # nothing positive
    elif cut == len(s):
        threshold = float(s_sorted[-1])  # everything positive
    else:
        threshold = float((s_sorted[cut - 1] + s_sorted[cut]) / 2)
    return threshold, float(value[cut])


DECISION_METRICS = ("macro_f1", "accuracy")


def best_logit_offsets(
    logits: np.ndarray,
    y_true: Sequence[int] | np.ndarray,
    *,
    metric: str = "macro_f1",
    span: float = 2.0,
    steps: int = 81,
    rounds: int = 3,
) -> tuple[tuple[float, ...], float]:
    """Per-label offsets added to a classifier's logits (post-hoc logit adjustment) that maximise
    ``metric`` (``"macro_f1"`` or ``"accuracy"``) of the argmax decision on ``(logits, y_true)``.

    ``logits``: (n, num_labels); ``y_true``: label indices. Label 0's offset stays 0 (a softmax is
    unchanged by a common shift); each other label's offset is searched on ``steps`` values in
    ``[-span, span]``, one label at a time, for up to ``rounds`` passes; ties go to the offset closest
    to 0, so data that is already best served by the argmax keeps offsets of 0 (``rounds=0`` only
    scores the plain argmax). Returns ``(offsets, value)``. Written by hand: scikit-learn's
    ``TunedThresholdClassifierCV`` tunes the threshold of a binary classifier only.
    """
    from sklearn.metrics import accuracy_score, f1_score

    if metric not in DECISION_METRICS:
        raise InputError(f"metric must be one of {', '.join(DECISION_METRICS)}, not {metric!r}")
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y_true)
    if z.ndim != 2 or z.shape[1] < 2:
        raise InputError(f"logits must have shape (n, num_labels >= 2), got {z.shape}")
    _same_length(z, y, "logits and y_true")
    n_labels = z.shape[1]
    if y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= n_labels:
        raise InputError(f"y_true must hold label indices in [0, {n_labels - 1}]")
    labels = list(range(n_labels))

    def score(offsets: np.ndarray) -> float:
        pred = (z + offsets).argmax(axis=1)
        if metric == "accuracy":
            return float(accuracy_score(y, pred))
        return float(f1_score(y, pred, labels=labels, average="macro", zero_division=0))

    grid = sorted(np.linspace(-span, span, steps), key=abs)  # ties keep the value nearest 0
    offsets = np.zeros(n_labels)
    best = score(offsets)
    for _ in range(rounds):
        changed = False
        for k in range(1, n_labels):
            trial = offsets.copy()
            for value in grid:
                trial[k] = value
                value_score = score(trial)
                if value_score > best + 1e-12:
                    best, offsets[k], changed = value_score, value, True
        if not changed:
            break
    return tuple(round(float(v), 4) for v in offsets), best


def retrieval_metrics(
    ranked: Mapping[str, Sequence[str]],
    relevant: Mapping[str, set[str]],
    ks: Sequence[int] = (1, 10, 50),
    *,
    cutoff: int = 10,
) -> dict[str, float]:
    """``mrr@<cutoff>``, ``ndcg@<cutoff>`` (binary gains) and ``recall@k`` for each ``k``, averaged
    over the queries of ``relevant``.

    ``ranked[qid]`` is the ranking returned for a query, best first; it must exist for every query
    of ``relevant`` and hold no duplicate ids. recall@k = relevant ids in the top k / all relevant ids.
    Written by hand: a few lines over the ranked lists, where sklearn's ``ndcg_score`` would need a
    dense score matrix over the whole corpus.
    """
    if not relevant:
        raise InputError("relevant must not be empty")
    if cutoff < 1 or any(k < 1 for k in ks):
        raise InputError("cutoff and ks must be positive")
    discounts = 1.0 / np.log2(np.arange(2, max(cutoff, 1) + 2))
    mrr = ndcg = 0.0
    recall = dict.fromkeys(ks, 0.0)
    for qid, rel in relevant.items():
        if not rel:
            raise InputError(f"query {qid!r} has no relevant document")
        if qid not in ranked:
            raise InputError(f"no ranking for query {qid!r}")
        ranking = list(ranked[qid])
        if len(set(ranking)) != len(ranking):
            raise InputError(f"ranking for query {qid!r} repeats a document id")
        hits = [doc in rel for doc in ranking]
        first = next((i for i, hit in enumerate(hits[:cutoff]) if hit), None)
        mrr += 0.0 if first is None else 1.0 / (first + 1)
        dcg = sum(d for d, hit in zip(discounts, hits[:cutoff], strict=False) if hit)
        ideal = discounts[: min(len(rel), cutoff)].sum()
        ndcg += dcg / ideal
        for k in ks:
            recall[k] += sum(hits[:k]) / len(rel)
    n = len(relevant)
    result = {f"mrr@{cutoff}": mrr / n, f"ndcg@{cutoff}": ndcg / n}
    result.update({f"recall@{k}": recall[k] / n for k in ks})
    return {key: float(v) for key, v in result.items()}
