"""Losses by name, so the training layer and the CLI pick them with plain strings.

Each entry says which model family it trains, what data it needs and which hyper-parameters it
takes; an unknown name or option is an error naming the valid ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from simmatch.errors import InputError

if TYPE_CHECKING:
    from torch import nn

Family = Literal["cross-encoder", "embedder"]
DataKind = Literal["class", "score", "binary", "retrieval"]


@dataclass(frozen=True)
class LossSpec:
    """``data``: ``class`` (class labels), ``score`` (graded labels, rescaled to [0, 1]),
    ``binary`` (0/1 pairs), ``retrieval`` (``{query, pos, neg}`` examples)."""

    name: str
    family: Family
    data: DataKind
    description: str
    build: Callable[..., nn.Module]
    options: dict[str, str] = field(default_factory=dict)


def _ce(model: Any, label_smoothing: float = 0.0) -> nn.Module:
    from simmatch.losses.cross_encoder import CrossEntropyLoss

    return CrossEntropyLoss(model, label_smoothing=float(label_smoothing))


def _lsce(model: Any, eps: float = 0.1) -> nn.Module:
    from simmatch.losses.cross_encoder import LabelSmoothedCrossEntropyLoss

    return LabelSmoothedCrossEntropyLoss(model, eps=float(eps))


def _balanced(model: Any, **options: Any) -> nn.Module:
    from simmatch.losses.cross_encoder import ClassBalancedCrossEntropyLoss

    return ClassBalancedCrossEntropyLoss(model, **options)


def _mse(model: Any) -> nn.Module:
    from simmatch.losses.cross_encoder import SigmoidMSELoss

    return SigmoidMSELoss(model)


def _cosent(model: Any, scale: float = 20.0) -> nn.Module:
    from simmatch.losses.twin_tower import CoSENTLoss

    return CoSENTLoss(model, scale=float(scale))


def _contrastive(model: Any, margin: float = 0.5) -> nn.Module:
    from simmatch.losses.twin_tower import ContrastiveLoss, SiameseDistanceMetric

    return ContrastiveLoss(model, distance_metric=SiameseDistanceMetric.COSINE_DISTANCE, margin=float(margin))


def _mnrl(model: Any, scale: float = 20.0) -> nn.Module:
    from simmatch.losses.twin_tower import MultipleNegativesRankingLoss

    return MultipleNegativesRankingLoss(model, scale=float(scale))


LOSSES: dict[str, LossSpec] = {
    s.name: s
    for s in (
        LossSpec(
            "ce",
            "cross-encoder",
            "class",
            "cross-entropy over n labels",
            _ce,
            {"label_smoothing": "mix the one-hot target with uniform (default 0)"},
        ),
        LossSpec(
            "lsce",
            "cross-encoder",
            "class",
            "label-smoothed cross-entropy (what the Erlangshen released code optimizes: its argmax "
            "'correction' carries no gradient)",
            _lsce,
            {"eps": "weight of the uniform target (default 0.1)"},
        ),
        LossSpec(
            "balanced-ce",
            "cross-encoder",
            "class",
            "cross-entropy corrected for class imbalance (logit adjustment or inverse-frequency weights)",
            _balanced,
            {
                "class_counts": "examples per class (filled in from the training data)",
                "method": "logit-adjustment (default) or inverse-frequency",
                "tau": "strength of the prior correction (default 1)",
                "label_smoothing": "default 0",
            },
        ),
        LossSpec("mse", "cross-encoder", "score", "MSE of sigmoid(logit) against a [0, 1] target", _mse),
        LossSpec(
            "cosent",
            "embedder",
            "score",
            "CoSENT ranking of pair cosines by label",
            _cosent,
            {"scale": "inverse temperature (default 20)"},
        ),
        LossSpec(
            "contrastive",
            "embedder",
            "binary",
            "cosine-distance contrastive loss with a margin",
            _contrastive,
            {"margin": "negatives are pushed below cosine 1 - margin (default 0.5)"},
        ),
        LossSpec(
            "mnrl",
            "embedder",
            "retrieval",
            "multiple-negatives ranking (InfoNCE) with in-batch and optional hard negatives",
            _mnrl,
            {"scale": "inverse temperature (default 20)"},
        ),
    )
}


def get_loss_spec(name: str, family: Family | None = None) -> LossSpec:
    """The :class:`LossSpec` called ``name`` (for ``family`` when given)."""
    names = [n for n, s in LOSSES.items() if family is None or s.family == family]
    spec = LOSSES.get(name)
    if spec is None or (family is not None and spec.family != family):
        what = f"{family} loss" if family else "loss"
        raise InputError(f"unknown {what} {name!r}; choose one of {', '.join(names)}")
    return spec


def build_loss(name: str, model: Any, family: Family | None = None, **options: Any) -> nn.Module:
    """Instantiate loss ``name`` for ``model``; unknown options are an error listing the valid ones."""
    spec = get_loss_spec(name, family)
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        valid = ", ".join(spec.options) or "none"
        raise InputError(f"loss {name!r} takes no option {unknown[0]!r}; valid options: {valid}")
    return spec.build(model, **options)
