"""Models: the twin tower (``Embedder``), the single tower (``PairClassifier``), the built-in
registry and the ModelScope-style ``pipeline`` facade."""

from simmatch.models.embedder import KINDS, Embedder, EmbedderConfig, Kind, prompt_for
from simmatch.models.pair_classifier import PairClassifier
from simmatch.models.pipeline import Tasks, pipeline
from simmatch.models.pruning import prune_layers
from simmatch.models.registry import BUILTIN_MODELS, DEFAULT_EMBEDDER, list_builtin_models, resolve_model
from simmatch.models.results import (
    PairPrediction,
    RankedDocument,
    cosine_pairwise,
    labels_by_threshold,
    predictions_from_logits,
    rank_by_scores,
)

__all__ = [
    "BUILTIN_MODELS",
    "DEFAULT_EMBEDDER",
    "KINDS",
    "Embedder",
    "EmbedderConfig",
    "Kind",
    "PairClassifier",
    "PairPrediction",
    "RankedDocument",
    "Tasks",
    "cosine_pairwise",
    "labels_by_threshold",
    "list_builtin_models",
    "pipeline",
    "predictions_from_logits",
    "prompt_for",
    "prune_layers",
    "rank_by_scores",
    "resolve_model",
]
