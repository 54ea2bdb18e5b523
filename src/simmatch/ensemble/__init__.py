"""Ensembles of pair models (the MaSTS route): several cross-encoders, optionally with cheap pair
features (twin-tower cosine, token overlap), combined by averaged probabilities or a
logistic-regression stacker fitted on a dev hold-out. Saved to a directory that
``PairClassifier(dir)`` loads, so the CLI, the service, index rerank and ``pipeline`` use it as they
use one model.

>>> ens = fit_ensemble(["runs/a", "runs/b"], dev, combiner="logistic", features=["overlap"])
>>> ens.save("my-ensemble"); PairClassifier("my-ensemble").predict(pairs)
"""

from simmatch.ensemble.fit import fit_ensemble
from simmatch.ensemble.model import COMBINERS, FEATURES, PairEnsemble, load_ensemble

__all__ = ["COMBINERS", "FEATURES", "PairEnsemble", "fit_ensemble", "load_ensemble"]
