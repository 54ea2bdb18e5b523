"""The shared functions every door computes results with: pairwise cosine, thresholded labels,
ranking, and reading a pair head's logits."""

from __future__ import annotations

import numpy as np
import pytest

from simmatch.errors import InputError
from simmatch.models import (
    PairPrediction,
    RankedDocument,
    cosine_pairwise,
    labels_by_threshold,
    predictions_from_logits,
    rank_by_scores,
)


def test_cosine_pairwise_values():
    a = np.array([[3.0, 4.0], [1.0, 0.0], [0.0, 0.0], [1.0, 1.0]], dtype=np.float32)
    b = np.array([[6.0, 8.0], [0.0, 2.0], [1.0, 0.0], [-1.0, -1.0]], dtype=np.float32)
    got = cosine_pairwise(a, b)
    assert got.dtype == np.float32 and got.shape == (4,)
    np.testing.assert_allclose(got, [1.0, 0.0, 0.0, -1.0], atol=1e-7)
    with pytest.raises(InputError, match=r"same shape, got \(4, 2\) and \(3, 2\)"):
        cosine_pairwise(a, b[:3])


def test_labels_by_threshold():
    assert labels_by_threshold([0.2, 0.5, 0.9], 0.5) == ["0", "1", "1"]
    assert labels_by_threshold(np.float32([0.1, 0.7]), 0.6, ("no", "yes")) == ["no", "yes"]
    with pytest.raises(InputError, match="two names"):
        labels_by_threshold([0.1], 0.5, ("a", "b", "c"))


def test_rank_by_scores_is_stable_and_cuts():
    docs = ["a", "b", "c", "d"]
    ranked = rank_by_scores(np.array([0.5, 0.9, 0.5, 0.1]), docs)
    assert ranked == [
        RankedDocument(1, pytest.approx(0.9), "b"),
        RankedDocument(0, 0.5, "a"),  # ties keep input order
        RankedDocument(2, 0.5, "c"),
        RankedDocument(3, pytest.approx(0.1), "d"),
    ]
    assert [d.index for d in rank_by_scores([0.5, 0.9, 0.5, 0.1], docs, top_k=2)] == [1, 0]
    assert len(rank_by_scores([1.0], ["x"], top_k=5)) == 1
    with pytest.raises(InputError, match="top_k must be >= 1, got 0"):
        rank_by_scores([1.0], ["x"], top_k=0)
    with pytest.raises(InputError, match="2 scores for 1 documents"):
        rank_by_scores([1.0, 2.0], ["x"])


def test_predictions_from_logits_classification():
    logits = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, 3.0]], dtype=np.float32)
    first, second = predictions_from_logits(logits, ["0", "1", "2"])
    p = np.exp(logits[0]) / np.exp(logits[0]).sum()
    assert first.label == "0"
    assert first.probabilities == pytest.approx({"0": p[0], "1": p[1], "2": p[2]}, abs=1e-7)
    assert first.score == pytest.approx(float(p[1] + 2 * p[2]) / 2, abs=1e-7)  # expected grade / (n-1)
    assert second.label == "2"
    (binary,) = predictions_from_logits(np.array([[0.0, 1.0]]), ["neg", "pos"])
    assert binary.label == "pos" and binary.score == pytest.approx(1 / (1 + np.exp(-1.0)), abs=1e-7)
    with pytest.raises(InputError, match="3 logits per pair but 2 labels"):
        predictions_from_logits(logits, ["0", "1"])


def test_predictions_from_logits_with_offsets_follow_the_adjusted_logits():
    logits = np.array([[2.0, 1.5, -1.0]], dtype=np.float32)
    (plain,) = predictions_from_logits(logits, ["0", "1", "2"])
    (moved,) = predictions_from_logits(logits, ["0", "1", "2"], logit_offsets=(0.0, 0.75, 0.0))
    z = logits[0] + np.array([0.0, 0.75, 0.0])
    p = np.exp(z) / np.exp(z).sum()
    assert plain.label == "0" and moved.label == "1"
    assert moved.probabilities == pytest.approx({"0": p[0], "1": p[1], "2": p[2]}, abs=1e-7)
    assert moved.score == pytest.approx(float(p[1] + 2 * p[2]) / 2, abs=1e-7)
    with pytest.raises(InputError, match="2 logit offsets for 3 labels"):
        predictions_from_logits(logits, ["0", "1", "2"], logit_offsets=(0.0, 1.0))


def test_predictions_from_logits_regression_uses_threshold_labels():
    logits = np.array([[-2.0], [0.0], [1.0]], dtype=np.float32)
    sig = 1 / (1 + np.exp(-logits[:, 0]))
    got = predictions_from_logits(logits, None, threshold=0.6, threshold_labels=("different", "similar"))
    assert got == [
        PairPrediction("different", {}, pytest.approx(float(sig[0]), abs=1e-7)),
        PairPrediction("different", {}, 0.5),
        PairPrediction("similar", {}, pytest.approx(float(sig[2]), abs=1e-7)),
    ]
    assert [p.label for p in predictions_from_logits(logits, None)] == ["0", "1", "1"]
