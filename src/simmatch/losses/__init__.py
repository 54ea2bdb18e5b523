"""Losses for both model families, in sentence-transformers' ``Loss(model, **hp)`` form.

Cross-encoder: ``CrossEntropyLoss`` (sentence-transformers), :class:`SigmoidMSELoss`,
:class:`LabelSmoothedCrossEntropyLoss`, :class:`ClassBalancedCrossEntropyLoss`. Twin tower (all
sentence-transformers): ``CoSENTLoss``,
``ContrastiveLoss`` (cosine margin), ``MultipleNegativesRankingLoss``. :func:`build_loss` picks one
by name (``ce``, ``lsce``, ``balanced-ce``, ``mse``, ``cosent``, ``contrastive``, ``mnrl``).
"""

from simmatch.losses.registry import LOSSES, LossSpec, build_loss, get_loss_spec

__all__ = [
    "LOSSES",
    "ClassBalancedCrossEntropyLoss",
    "CoSENTLoss",
    "ContrastiveLoss",
    "CrossEntropyLoss",
    "LabelSmoothedCrossEntropyLoss",
    "LossSpec",
    "MultipleNegativesRankingLoss",
    "SigmoidMSELoss",
    "build_loss",
    "get_loss_spec",
]

_LAZY = {
    "ClassBalancedCrossEntropyLoss": "simmatch.losses.cross_encoder",
    "CrossEntropyLoss": "simmatch.losses.cross_encoder",
    "SigmoidMSELoss": "simmatch.losses.cross_encoder",
    "LabelSmoothedCrossEntropyLoss": "simmatch.losses.cross_encoder",
    "CoSENTLoss": "simmatch.losses.twin_tower",
    "ContrastiveLoss": "simmatch.losses.twin_tower",
    "MultipleNegativesRankingLoss": "simmatch.losses.twin_tower",
}


def __getattr__(name: str):
    # The loss classes import torch and sentence-transformers; load them on first use so that
    # ``import simmatch.losses`` (for the registry) stays cheap.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'simmatch.losses' has no attribute {name!r}")
