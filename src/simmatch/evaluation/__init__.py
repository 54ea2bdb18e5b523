"""Evaluation: metrics (sklearn/scipy plus ranked retrieval), evaluators that take a model and
return ``dict[str, float]`` with a ``primary_metric``, and :func:`evaluate_dataset` /
:func:`tune_decision`, the calls behind ``simmatch eval`` and ``simmatch tune-decision``."""

from simmatch.evaluation.evaluate import evaluate_dataset, tune_decision
from simmatch.evaluation.evaluators import (
    EmbeddingSimilarityEvaluator,
    PairClassificationEvaluator,
    RetrievalEvaluator,
    embedding_search,
    pair_cosines,
)
from simmatch.evaluation.metrics import (
    DECISION_METRICS,
    average_precision,
    best_logit_offsets,
    best_threshold,
    classification_metrics,
    correlation_metrics,
    retrieval_metrics,
    threshold_accuracy,
)
from simmatch.evaluation.plots import plot_scores

__all__ = [
    "DECISION_METRICS",
    "EmbeddingSimilarityEvaluator",
    "PairClassificationEvaluator",
    "RetrievalEvaluator",
    "average_precision",
    "best_logit_offsets",
    "best_threshold",
    "classification_metrics",
    "correlation_metrics",
    "embedding_search",
    "evaluate_dataset",
    "pair_cosines",
    "plot_scores",
    "retrieval_metrics",
    "threshold_accuracy",
    "tune_decision",
]
