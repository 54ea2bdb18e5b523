"""``PairEnsemble``: member cross-encoders + optional pair features → one probability per label.

Saved layout (a directory ``PairClassifier`` loads)::

    simmatch.json      {"kind": "ensemble", "labels": [...], "combiner": ..., "features": [...],
                        "members": ["members/0", ...], "embedder": "embedder" | name | null,
                        "weights": {"coef": [[...]], "intercept": [...]} | null}
    members/0, members/1, …  the member models (copied)
    embedder/                the twin tower for the "cosine" feature (copied when it is a directory;
                             a built-in embedder is stored by name)

The "cosine" feature's embedder runs on the backend the ensemble was opened with
(``PairClassifier(dir, backend=...)``; every member does too), so an ensemble on ``"onnx"`` needs no
PyTorch for its embedder either.

The combiner reads a design matrix of, per member, its probability for every label, then the
features. ``mean`` averages the members' probabilities (features unused); ``logistic`` is a
scikit-learn ``LogisticRegression`` fitted on a dev hold-out, stored as its coefficients (JSON, no
pickle) and applied as ``softmax(x @ coef.T + intercept)``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from simmatch.errors import InputError
from simmatch.models._inputs import check_pairs
from simmatch.models.registry import builtin_name

COMBINERS = ("mean", "logistic")
FEATURES = ("overlap", "cosine")
CONFIG_NAME = "simmatch.json"


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class PairEnsemble:
    """Several pair classifiers with the same labels, plus features, combined (see module docs).

    Seen by ``PairClassifier`` as a model: ``config`` (``num_labels``, ``id2label``),
    ``pair_logits(pairs)`` (log-probabilities, so the usual softmax gives the ensemble's
    probabilities), and no-op ``to`` / ``eval`` / ``train``.
    """

    def __init__(
        self,
        members: Sequence[Any],
        *,
        combiner: str = "mean",
        features: Sequence[str] = (),
        embedder: Any | None = None,
        weights: dict[str, Any] | None = None,
        backend: str = "torch",
        device: str | None = None,
    ) -> None:
        from simmatch.models.backends import check_backend

        check_backend(backend)
        if combiner not in COMBINERS:
            raise InputError(f"combiner must be one of {', '.join(COMBINERS)}, got {combiner!r}")
        unknown = [f for f in features if f not in FEATURES]
        if unknown:
            raise InputError(f"unknown ensemble feature {unknown[0]!r}; choose from {', '.join(FEATURES)}")
        if not members:
            raise InputError("an ensemble needs at least one member model")
        if any(isinstance(m, (str, Path)) for m in members):
            raise InputError("PairEnsemble takes loaded PairClassifier members; fit_ensemble loads names")
        self.members = list(members)
        labels = self.members[0].labels
        for m in self.members:
            if m.is_regression or m.labels != labels:
                raise InputError(
                    f"ensemble members must be classifiers with the same labels: {m.model_name} has "
                    f"{'a regression head' if m.is_regression else m.labels}, the first member {labels}"
                )
        if "cosine" in features and embedder is None:
            raise InputError("the 'cosine' feature needs an embedder (a built-in name or a model directory)")
        if combiner == "logistic" and weights is None:
            raise InputError("a logistic combiner needs fitted weights; use fit_ensemble")
        self.labels = list(labels)
        self.combiner = combiner
        self.features = list(features)
        self.embedder = embedder
        self.weights = weights
        self.backend = backend
        self.device = device
        self.training = False
        self.config = SimpleNamespace(
            num_labels=len(self.labels),
            id2label=dict(enumerate(self.labels)),
            max_position_embeddings=min(m.config.max_length for m in self.members),
        )

    # ------------------------------------------------------------------ the design matrix
    def member_probabilities(
        self, pairs: Sequence[tuple[str, str]], batch_size: int = 32
    ) -> list[np.ndarray]:
        return [_softmax(m.logits(pairs, batch_size=batch_size, show_progress=False)) for m in self.members]

    def _embedder(self) -> Any:
        from simmatch.models.embedder import Embedder

        if not hasattr(self.embedder, "similarity_pairwise"):  # a name or directory: load it once
            device = self.device if self.backend == "torch" else None
            self.embedder = Embedder(str(self.embedder), backend=self.backend, device=device)
        return self.embedder

    def design(self, pairs: Sequence[tuple[str, str]], batch_size: int = 32) -> np.ndarray:
        """Per pair: every member's probabilities (label order), then the features."""
        from simmatch.ensemble.features import token_overlap, twin_tower_cosine

        columns = [*self.member_probabilities(pairs, batch_size)]
        for name in self.features:
            if name == "overlap":
                columns.append(token_overlap(pairs)[:, None])
            else:
                columns.append(twin_tower_cosine(self._embedder(), pairs, batch_size)[:, None])
        return np.concatenate(columns, axis=1).astype(np.float64)

    # ------------------------------------------------------------------ inference
    def predict_proba(self, pairs: Sequence[tuple[str, str]], *, batch_size: int = 32) -> np.ndarray:
        """Probabilities (n, num_labels) in ``labels`` order."""
        checked = check_pairs(pairs)
        if self.combiner == "mean":
            return np.mean(self.member_probabilities(checked, batch_size), axis=0)
        return self._apply(self.design(checked, batch_size))

    def _apply(self, x: np.ndarray) -> np.ndarray:
        if self.weights is None:
            raise InputError("a logistic combiner needs fitted weights; use fit_ensemble")
        coef = np.asarray(self.weights["coef"], dtype=np.float64)
        intercept = np.asarray(self.weights["intercept"], dtype=np.float64)
        z = x @ coef.T + intercept
        if z.shape[1] == 1:  # scikit-learn's binary form: one logit for the second class
            z = np.concatenate([np.zeros_like(z), z], axis=1)
        return _softmax(z)

    def pair_logits(self, pairs: Sequence[tuple[str, str]], *, batch_size: int = 32) -> np.ndarray:
        return np.log(np.clip(self.predict_proba(pairs, batch_size=batch_size), 1e-12, 1.0)).astype(
            np.float32
        )

    def to(self, device: Any) -> PairEnsemble:
        return self

    def eval(self) -> PairEnsemble:
        return self

    def train(self, mode: bool = True) -> PairEnsemble:
        return self

    # ------------------------------------------------------------------ save
    def save(self, path: str | Path) -> Path:
        """Write the ensemble (members copied) to ``path``, atomically."""
        from simmatch._fs import atomic_directory

        out = Path(path)
        with atomic_directory(out, replace=True) as tmp:
            tmp = Path(tmp)
            members = []
            for i, m in enumerate(self.members):
                shutil.copytree(m.path, tmp / "members" / str(i))
                members.append(f"members/{i}")
            embedder: str | None = None
            if "cosine" in self.features:
                source = getattr(self.embedder, "path", self.embedder)
                name = builtin_name(str(getattr(self.embedder, "model_name", self.embedder)))
                if name is not None:  # a built-in resolves by name wherever the ensemble goes
                    embedder = name
                elif Path(str(source)).is_dir():
                    shutil.copytree(str(source), tmp / "embedder")
                    embedder = "embedder"
                else:
                    embedder = getattr(self.embedder, "model_name", str(self.embedder))
            data = {
                "kind": "ensemble",
                "labels": self.labels,
                "combiner": self.combiner,
                "features": self.features,
                "members": members,
                "embedder": embedder,
                "weights": self.weights,
            }
            (tmp / CONFIG_NAME).write_text(
                json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            )
        return out


def is_ensemble(path: str | Path) -> bool:
    file = Path(path) / CONFIG_NAME
    if not file.is_file():
        return False
    try:
        return json.loads(file.read_text(encoding="utf-8")).get("kind") == "ensemble"
    except (OSError, json.JSONDecodeError, AttributeError):
        return False


def load_ensemble(
    path: str | Path, *, load_member: Any, device: str | None = None, backend: str = "torch"
) -> PairEnsemble:
    """The ensemble saved at ``path``; ``load_member(dir, device=...)`` loads each member (the
    ``PairClassifier`` class, which calls this for a directory whose ``simmatch.json`` says
    ``"kind": "ensemble"``); ``backend`` is the one the "cosine" feature's embedder runs on."""
    root = Path(path)
    data = json.loads((root / CONFIG_NAME).read_text(encoding="utf-8"))
    members = [load_member(root / m, device=device) for m in data["members"]]
    embedder = data.get("embedder")
    if embedder is not None and (root / embedder).is_dir():
        embedder = str(root / embedder)
    ensemble = PairEnsemble(
        members,
        combiner=data["combiner"],
        features=data.get("features", []),
        embedder=embedder,
        weights=data.get("weights"),
        backend=backend,
        device=device,
    )
    if ensemble.labels != list(data["labels"]):
        raise InputError(f"{root}: members' labels {ensemble.labels} differ from the saved {data['labels']}")
    return ensemble
