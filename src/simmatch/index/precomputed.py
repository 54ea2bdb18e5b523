"""Vectors computed elsewhere (a Ray job, ``simmatch.scale``) handed to ``Index.add`` instead of
encoding there: ``Embeddings`` carries the rows and the identity of the model that made them, and
is refused unless that identity is the index's (model name, dimension, ``normalize``, passage
kind, fingerprint embedding within ``FINGERPRINT_MIN_COSINE``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from simmatch.errors import InputError
from simmatch.index.encoders import FINGERPRINT_MIN_COSINE


@dataclass(frozen=True)
class Embeddings:
    """One vector per document, in the order of the documents given to ``Index.add``.

    vectors: float32 ``(n, dim)``. model_name / normalize / kind: how they were made (``kind``
    the prompt side, ``"passage"`` for documents). fingerprint: the same model's embedding of
    ``encoders.FINGERPRINT_TEXT`` with the same ``normalize`` and ``kind``.
    """

    vectors: np.ndarray
    model_name: str
    fingerprint: np.ndarray
    normalize: bool = True
    kind: str = "passage"

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    def checked(self, where: str, settings: dict[str, Any], count: int | None) -> np.ndarray:
        """The vectors as float32, or ``InputError`` when they were not made by the model the
        index at ``where`` was built with, or do not match the ``count`` documents."""
        vectors = np.asarray(self.vectors, dtype=np.float32)
        dim = int(settings["dim"])
        made = (self.model_name, self.normalize, self.kind)
        wanted = (settings["model_name"], settings["normalize"], settings["passage_kind"])
        if made != wanted:
            raise InputError(
                f"index at {where} was built with model {wanted[0]!r} (normalize={wanted[1]}, passage "
                f"kind {wanted[2]!r}); the precomputed vectors are from {made[0]!r} "
                f"(normalize={made[1]}, kind {made[2]!r})"
            )
        if vectors.ndim != 2 or vectors.shape[1] != dim:
            raise InputError(f"precomputed vectors have shape {vectors.shape}; the index needs (n, {dim})")
        if count is None:
            raise InputError("with precomputed vectors, give the documents as a list (one vector each)")
        if count != len(vectors):
            raise InputError(f"{len(vectors)} precomputed vectors for {count} documents; one per document")
        if not np.isfinite(vectors).all():
            raise InputError("precomputed vectors contain non-finite values (NaN or inf)")
        stored = np.asarray(settings["fingerprint"], dtype=np.float32)
        fresh = np.asarray(self.fingerprint, dtype=np.float32).reshape(-1)
        if fresh.shape != stored.shape:
            raise InputError(f"fingerprint has shape {fresh.shape}; the index's is {stored.shape}")
        cosine = float(stored @ fresh) / (float(np.linalg.norm(stored) * np.linalg.norm(fresh)) or 1.0)
        if cosine < FINGERPRINT_MIN_COSINE:
            raise InputError(
                f"the precomputed vectors' model embeds differently from the one the index at {where} "
                f"was built with (fingerprint cosine {cosine:.3f} < {FINGERPRINT_MIN_COSINE})"
            )
        return vectors
