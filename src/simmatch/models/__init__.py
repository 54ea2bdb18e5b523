"""Models: the twin tower (``Embedder``), the single tower (``PairClassifier``), the built-in
registry and the ModelScope-style ``pipeline`` facade."""

from simmatch.models.embedder import Embedder, EmbedderConfig
from simmatch.models.pair_classifier import PairClassifier, PairPrediction
from simmatch.models.pipeline import pipeline
from simmatch.models.registry import BUILTIN_MODELS, DEFAULT_EMBEDDER, list_builtin_models, resolve_model
from simmatch.models.results import RankedDocument

__all__ = [
    "BUILTIN_MODELS",
    "DEFAULT_EMBEDDER",
    "Embedder",
    "EmbedderConfig",
    "PairClassifier",
    "PairPrediction",
    "RankedDocument",
    "list_builtin_models",
    "pipeline",
    "resolve_model",
]
