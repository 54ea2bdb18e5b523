from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass

import numpy as np
import pytest


class HashEncoder:
    """A deterministic fake ``Embedder``: counts of hashed character bigrams in 64 dimensions.

    Texts sharing characters get similar vectors, identical texts identical ones, so similarity
    metrics behave sensibly without any model."""

    dim = 64

    def __init__(self):
        self.calls: list[tuple[int, str]] = []

    def encode(self, texts, *, batch_size=32, normalize=True, kind="query"):
        self.calls.append((len(texts), kind))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            padded = f"^{text}$"
            for a, b in itertools.pairwise(padded):
                h = int.from_bytes(hashlib.blake2b((a + b).encode(), digest_size=4).digest(), "little")
                out[i, h % self.dim] += 1.0
        if normalize:
            out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out


@dataclass(frozen=True)
class FakePrediction:
    label: str
    probabilities: dict[str, float]
    score: float


class ScriptedClassifier:
    """A fake ``PairClassifier`` that returns the given labels / scores in order."""

    def __init__(self, labels=None, scores=None):
        self.labels = labels
        self.scores_ = scores

    def predict(self, pairs, *, batch_size=32):
        n = len(pairs)
        labels = self.labels or ["0"] * n
        scores = self.scores_ if self.scores_ is not None else [0.0] * n
        return [FakePrediction(str(label), {}, float(s)) for label, s in zip(labels, scores, strict=True)]


@pytest.fixture
def hash_encoder():
    return HashEncoder()
