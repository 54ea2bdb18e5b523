"""Evaluation: metrics (sklearn/scipy plus ranked retrieval) and evaluators that take a model and
return ``dict[str, float]`` with a ``primary_metric``."""

from simmatch.evaluation.evaluators import (
    EmbeddingSimilarityEvaluator,
    PairClassificationEvaluator,
    RetrievalEvaluator,
    embedding_search,
    pair_cosines,
)
from simmatch.evaluation.metrics import (
    best_threshold,
    classification_metrics,
    correlation_metrics,
    retrieval_metrics,
    threshold_accuracy,
)
from simmatch.evaluation.plots import plot_scores

__all__ = [
    "EmbeddingSimilarityEvaluator",
    "PairClassificationEvaluator",
    "RetrievalEvaluator",
    "best_threshold",
    "classification_metrics",
    "correlation_metrics",
    "embedding_search",
    "pair_cosines",
    "plot_scores",
    "retrieval_metrics",
    "threshold_accuracy",
]
