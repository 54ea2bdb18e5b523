"""Fitting an ensemble's combiner on a dev hold-out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from simmatch.ensemble.model import COMBINERS, PairEnsemble
from simmatch.errors import InputError
from simmatch.models.pair_classifier import PairClassifier


def fit_ensemble(
    members: Sequence[Any],
    dev: Any,
    *,
    combiner: str = "logistic",
    features: Sequence[str] = (),
    embedder: Any | None = None,
    C: float = 1.0,
    class_weight: str | None = None,
    batch_size: int = 32,
    backend: str | None = None,
) -> PairEnsemble:
    """Combine ``members`` (``PairClassifier`` objects or model names/directories); a ``logistic``
    combiner is fitted on ``dev`` (a labeled ``PairDataset`` — a hold-out, never a reported split).
    ``C`` and ``class_weight`` are scikit-learn's (``"balanced"`` when macro-F1 is the goal).
    ``backend``: what members given by name and an ``embedder`` given by name run on (default: the
    first loaded member's backend, else ``"torch"``)."""
    if backend is None:
        backend = next((m.backend for m in members if isinstance(m, PairClassifier)), "torch")
    loaded = [m if isinstance(m, PairClassifier) else PairClassifier(m, backend=backend) for m in members]
    ensemble = PairEnsemble(loaded, combiner="mean", features=features, embedder=embedder, backend=backend)
    if combiner == "mean":
        return PairEnsemble(
            ensemble.members, combiner="mean", features=features, embedder=ensemble.embedder, backend=backend
        )
    if combiner != "logistic":
        raise InputError(f"combiner must be one of {', '.join(COMBINERS)}, got {combiner!r}")
    from sklearn.linear_model import LogisticRegression

    unknown = sorted({str(e.label) for e in dev} - set(ensemble.labels))
    if unknown:
        raise InputError(f"{dev.name} has label {unknown[0]!r}, not one of the members' {ensemble.labels}")
    y = np.array([ensemble.labels.index(str(e.label)) for e in dev])
    absent = [lab for i, lab in enumerate(ensemble.labels) if i not in set(y.tolist())]
    if absent:
        raise InputError(
            f"{dev.name}: fitting a stacker needs every label in the dev data; {absent[0]!r} has none"
        )
    x = ensemble.design(dev.pairs, batch_size)
    fitted = LogisticRegression(C=C, class_weight=class_weight, max_iter=1000).fit(x, y)
    coef, intercept = fitted.coef_, fitted.intercept_
    weights = {"coef": np.asarray(coef).tolist(), "intercept": np.asarray(intercept).tolist()}
    return PairEnsemble(
        ensemble.members,
        combiner="logistic",
        features=features,
        embedder=ensemble.embedder,
        weights=weights,
        backend=backend,
    )
