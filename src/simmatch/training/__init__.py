"""One training layer for both model families: :func:`train_cross_encoder` (single tower,
``PairClassifier``) and :func:`train_embedder` (twin tower, ``Embedder``), configured by one
:class:`TrainingConfig`, plus two-stage hard-negative mining (:func:`mine_hard_negatives`)."""

from simmatch.training.config import TrainingConfig
from simmatch.training.core import TrainingResult
from simmatch.training.cross_encoder import train_cross_encoder
from simmatch.training.embedder import train_embedder
from simmatch.training.interpolate import interpolate_weights
from simmatch.training.mining import mine_hard_negatives, pairs_to_retrieval_examples

__all__ = [
    "TrainingConfig",
    "TrainingResult",
    "interpolate_weights",
    "mine_hard_negatives",
    "pairs_to_retrieval_examples",
    "train_cross_encoder",
    "train_embedder",
]
