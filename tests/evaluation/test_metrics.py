"""Metrics checked against scikit-learn / scipy on random data and against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, average_precision_score, f1_score, ndcg_score

from simmatch.errors import InputError
from simmatch.evaluation import (
    average_precision,
    best_threshold,
    classification_metrics,
    correlation_metrics,
    retrieval_metrics,
    threshold_accuracy,
)


@pytest.mark.parametrize("seed", range(5))
def test_classification_metrics_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    labels = ["0", "1", "2"]
    y_true = rng.choice(labels, size=200).tolist()
    y_pred = [t if rng.random() < 0.6 else rng.choice(labels) for t in y_true]
    got = classification_metrics(y_true, y_pred, labels)
    assert got["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert got["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    per_class = f1_score(y_true, y_pred, labels=labels, average=None)
    assert [got[f"f1_{c}"] for c in labels] == pytest.approx(per_class.tolist())
    assert set(got) == {"accuracy", "macro_f1", "f1_0", "f1_1", "f1_2"}


def test_classification_metrics_absent_class_and_errors():
    got = classification_metrics(["0", "0", "1"], ["0", "0", "0"], ["0", "1", "2"])
    assert got["f1_2"] == 0.0 and got["f1_1"] == 0.0
    assert got["macro_f1"] == pytest.approx(0.8 / 3)
    with pytest.raises(InputError, match=r"y_pred\[1\] = 'yes' is not one of the labels"):
        classification_metrics(["0", "1"], ["0", "yes"], ["0", "1"])
    with pytest.raises(InputError, match="same length, got 2 and 1"):
        classification_metrics(["0", "1"], ["0"], ["0", "1"])
    with pytest.raises(InputError, match="must not be empty"):
        classification_metrics([], [], ["0"])


@pytest.mark.parametrize("seed", range(5))
def test_correlation_metrics_match_scipy(seed):
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, 6, size=100).astype(float)
    pred = gold + rng.normal(scale=2.0, size=100)
    got = correlation_metrics(gold, pred)
    assert got["spearman"] == pytest.approx(spearmanr(gold, pred).statistic)
    assert got["pearson"] == pytest.approx(pearsonr(gold, pred).statistic)


def test_correlation_of_constant_prediction_is_nan():
    got = correlation_metrics([1.0, 2.0, 3.0], [0.5, 0.5, 0.5])
    assert math.isnan(got["spearman"]) and math.isnan(got["pearson"])
    with pytest.raises(InputError, match="finite"):
        correlation_metrics([1.0, 2.0], [0.5, float("nan")])


def _brute_force(scores, labels, metric):
    """Best value over every threshold 'positive when score >= t', t in scores + above max."""
    best = -1.0
    for t in [*np.unique(scores), np.inf]:
        pred = scores >= t
        value = (
            accuracy_score(labels, pred) if metric == "accuracy" else f1_score(labels, pred, zero_division=0)
        )
        best = max(best, value)
    return best


@pytest.mark.parametrize("metric", ["accuracy", "f1"])
@pytest.mark.parametrize("seed", range(6))
def test_best_threshold_matches_brute_force(seed, metric):
    rng = np.random.default_rng(seed)
    labels = rng.random(300) < 0.4
    scores = np.round(labels * 0.3 + rng.normal(size=300), 1)  # rounding makes ties
    threshold, value = best_threshold(scores, labels.astype(int), metric=metric)
    assert value == pytest.approx(_brute_force(scores, labels, metric))
    pred = scores >= threshold
    achieved = accuracy_score(labels, pred) if metric == "accuracy" else f1_score(labels, pred)
    assert achieved == pytest.approx(value)
    if metric == "accuracy":
        assert threshold_accuracy(scores, labels, threshold) == pytest.approx(value)


def test_best_threshold_is_a_midpoint_and_handles_one_class():
    assert best_threshold([0.9, 0.8, 0.3, 0.1], [1, 1, 0, 0]) == (pytest.approx(0.55), 1.0)
    threshold, acc = best_threshold([0.2, 0.4], [0, 0])
    assert acc == 1.0 and threshold > 0.4
    threshold, acc = best_threshold([0.2, 0.4], [True, True])
    assert acc == 1.0 and threshold <= 0.2
    with pytest.raises(InputError, match="binary labels must be 0/1 or bool"):
        best_threshold([0.1, 0.2], [1, 2])
    with pytest.raises(InputError, match="metric must be"):
        best_threshold([0.1, 0.2], [0, 1], metric="auc")


@pytest.mark.parametrize("seed", range(5))
def test_average_precision_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    labels = rng.random(200) < 0.3
    scores = np.round(labels * 0.5 + rng.normal(size=200), 1)  # rounding makes ties
    assert average_precision(scores, labels) == average_precision_score(labels, scores)
    assert average_precision(scores.tolist(), labels.astype(int).tolist()) == average_precision_score(
        labels, scores
    )


def test_average_precision_hand_computed_and_errors():
    # Positives ranked 1st and 3rd: precision 1/1 and 2/3.
    assert average_precision([0.9, 0.8, 0.7, 0.1], [1, 0, 1, 0]) == pytest.approx((1 + 2 / 3) / 2)
    assert math.isnan(average_precision([0.2, 0.4], [0, 0]))  # no positive: undefined
    with pytest.raises(InputError, match="binary labels must be 0/1 or bool"):
        average_precision([0.1, 0.2, 0.3], [0, 1, 2])
    with pytest.raises(InputError, match="same length, got 2 and 1"):
        average_precision([0.1, 0.2], [1])
    with pytest.raises(InputError, match="finite"):
        average_precision([0.1, float("nan")], [0, 1])


def test_threshold_accuracy():
    assert threshold_accuracy([0.1, 0.5, 0.7], [0, 1, 0], 0.5) == pytest.approx(2 / 3)


def test_retrieval_metrics_hand_computed():
    ranked = {"q1": ["a", "b", "c", "d"], "q2": ["x", "y"]}
    relevant = {"q1": {"b", "d"}, "q2": {"z"}}
    got = retrieval_metrics(ranked, relevant, ks=(1, 2, 10))
    # q1: first hit at rank 2; DCG = 1/log2(3) + 1/log2(5), ideal = 1 + 1/log2(3). q2: no hit.
    ndcg_q1 = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert got == pytest.approx(
        {"mrr@10": 0.25, "ndcg@10": ndcg_q1 / 2, "recall@1": 0.0, "recall@2": 0.25, "recall@10": 0.5}
    )
    assert ndcg_q1 == pytest.approx(0.650921, abs=1e-6)


def test_retrieval_metrics_cutoff_ignores_hits_beyond_it():
    ranked = {"q": [f"n{i}" for i in range(10)] + ["hit"]}
    got = retrieval_metrics(ranked, {"q": {"hit"}}, ks=(10, 50))
    assert got == {"mrr@10": 0.0, "ndcg@10": 0.0, "recall@10": 0.0, "recall@50": 1.0}


@pytest.mark.parametrize("seed", range(3))
def test_ndcg_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    n_docs, n_queries = 60, 25
    docs = [f"d{i}" for i in range(n_docs)]
    ranked, relevant, y_true, y_score = {}, {}, [], []
    for q in range(n_queries):
        ranking = rng.permutation(n_docs)[:20]
        rel = rng.choice(n_docs, size=int(rng.integers(1, 6)), replace=False)
        ranked[f"q{q}"] = [docs[i] for i in ranking]
        relevant[f"q{q}"] = {docs[i] for i in rel}
        true = np.zeros(n_docs)
        true[rel] = 1
        score = np.zeros(n_docs)
        score[ranking] = np.arange(20, 0, -1)  # unranked documents tie at 0, below every ranked one
        y_true.append(true)
        y_score.append(score)
    got = retrieval_metrics(ranked, relevant)
    assert got["ndcg@10"] == pytest.approx(ndcg_score(y_true, y_score, k=10))


def test_retrieval_metrics_errors():
    with pytest.raises(InputError, match="no ranking for query 'q2'"):
        retrieval_metrics({"q1": ["a"]}, {"q1": {"a"}, "q2": {"b"}})
    with pytest.raises(InputError, match="repeats a document id"):
        retrieval_metrics({"q1": ["a", "a"]}, {"q1": {"a"}})
    with pytest.raises(InputError, match="relevant must not be empty"):
        retrieval_metrics({}, {})


# ------------------------------------------------------------------ decision offsets
def test_best_logit_offsets_lifts_the_under_predicted_label():
    from simmatch.evaluation import best_logit_offsets

    # Label 2's pairs score 0.52 below label 1: the argmax never says 2. Its offset must pass 0.52,
    # and the search keeps the grid value nearest 0 that does (step 0.05). Lowering label 1 instead
    # would turn label 1's pairs into 0s (no better), so label 1 keeps 0.
    rows = {0: [2.0, 0.0, 0.0], 1: [1.9, 2.0, 0.0], 2: [0.0, 1.0, 0.48]}
    y = np.array([i % 3 for i in range(30)])
    logits = np.array([rows[int(k)] for k in y])
    before = f1_score(y, logits.argmax(1), average="macro")
    assert best_logit_offsets(logits, y, rounds=0) == ((0.0, 0.0, 0.0), pytest.approx(before))
    offsets, value = best_logit_offsets(logits, y)
    assert offsets == (0.0, 0.0, 0.55)
    assert value == 1.0 and before < 0.6
    # Accuracy needs the same move; data the argmax already serves keeps offsets of 0.
    assert best_logit_offsets(logits, y, metric="accuracy") == ((0.0, 0.0, 0.55), 1.0)
    assert best_logit_offsets(np.eye(3)[y] * 2, y) == ((0.0, 0.0, 0.0), 1.0)


def test_best_logit_offsets_errors():
    from simmatch.evaluation import best_logit_offsets

    logits = np.zeros((4, 3))
    with pytest.raises(InputError, match="metric must be one of macro_f1, accuracy, not 'f1'"):
        best_logit_offsets(logits, [0, 1, 2, 0], metric="f1")
    with pytest.raises(InputError, match=r"y_true must hold label indices in \[0, 2\]"):
        best_logit_offsets(logits, [0, 1, 3, 0])
    with pytest.raises(InputError, match=r"logits must have shape \(n, num_labels >= 2\)"):
        best_logit_offsets(np.zeros(4), [0, 1, 1, 0])
    with pytest.raises(InputError, match="logits and y_true must have the same length"):
        best_logit_offsets(logits, [0, 1])
