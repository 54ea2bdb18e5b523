"""Adapters between a model being trained (a sentence-transformers object) and simmatch's
evaluators, which code against the ``Embedder.encode`` / ``PairClassifier.predict`` contract.

During training the weights live in the trainer's model, so the dev split is scored through these
views rather than by saving and reloading a directory at every evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from simmatch.errors import InputError
from simmatch.models.embedder import Embedder, LongTextPolicy
from simmatch.models.pair_classifier import PairClassifier, PairClassifierConfig


def encoder_view(
    st_model: Any, *, max_seq_length: int | None = None, long_text: LongTextPolicy = "window"
) -> Embedder:
    """An ``Embedder`` on a live ``SentenceTransformer``: dev data and mined negatives go through
    the text path users get (simmatch's tokenization without stripping, long-text windows,
    length-sorted batches). ``max_seq_length``: the window users will get, when training runs
    with a shorter one."""
    return Embedder.from_sentence_transformer(
        st_model, max_seq_length=max_seq_length, long_text=long_text, name="training"
    )


def pair_classifier_view(
    cross_encoder: Any,
    *,
    threshold: float = PairClassifierConfig.threshold,
    threshold_labels: Sequence[str] = PairClassifierConfig.threshold_labels,
) -> PairClassifier:
    """A ``PairClassifier`` on a live sentence-transformers ``CrossEncoder``: the same
    tokenization, truncation and reading of the head (``predictions_from_logits``, with the
    given threshold and threshold labels for a regression head) as the saved model gives."""
    return PairClassifier.from_cross_encoder(
        cross_encoder, threshold=threshold, threshold_labels=threshold_labels, name="training"
    )


class MeanOfEvaluators:
    """Several simmatch evaluators as one: every metric prefixed with its dev set's name, plus
    ``mean_<primary>``, the mean of their primary metrics, as the primary metric. Used to pick a
    checkpoint that is good on more than one dev set (e.g. STS-B dev without losing LCQMC dev)."""

    def __init__(self, evaluators: dict[str, Any]) -> None:
        primaries = {e.primary_metric for e in evaluators.values()}
        if len(primaries) != 1:
            raise InputError(f"dev sets must share a primary metric to be averaged, got {sorted(primaries)}")
        self.evaluators = evaluators
        self.primary_metric = f"mean_{primaries.pop()}"

    def __call__(self, model: Any) -> dict[str, float]:
        out: dict[str, float] = {}
        primary = []
        for name, evaluator in self.evaluators.items():
            metrics = evaluator(model)
            primary.append(float(metrics[evaluator.primary_metric]))
            out.update({f"{name}_{k}": float(v) for k, v in metrics.items()})
        out[self.primary_metric] = float(np.mean(primary))
        return out


def make_st_evaluator(
    evaluator: Callable[[Any], dict[str, float]], view: Callable[[Any], Any], name: str = "dev"
) -> Any:
    """A sentence-transformers evaluator that scores the trainer's model with a simmatch evaluator
    (anything returning ``dict[str, float]`` with a ``primary_metric``), keys prefixed ``name_``."""
    from sentence_transformers.base.evaluation import BaseEvaluator

    class _SimmatchEvaluator(BaseEvaluator):
        def __init__(self) -> None:
            super().__init__()
            self.name = name
            self.primary_metric = f"{name}_{evaluator.primary_metric}"  # type: ignore[attr-defined]
            self.greater_is_better = True

        def __call__(self, model: Any, output_path: str | None = None, epoch: float = -1, steps: int = -1):
            metrics = evaluator(view(model))
            return {f"{name}_{k}": float(v) for k, v in metrics.items()}

    return _SimmatchEvaluator()
