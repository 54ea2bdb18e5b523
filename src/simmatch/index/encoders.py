"""The models an index works with: loading them by name, and checking that an encoder is the one
the index was built with (name, dimension and a fingerprint embedding).

An encoder is anything with ``.encode(texts, batch_size=, normalize=, kind=)``, ``.dim`` and
``.model_name`` (an ``Embedder``, or a fake in tests); a reranker anything with
``.scores(pairs)`` (a ``PairClassifier``). Given as a string, an encoder is a model name or
directory loaded with ``Embedder`` and a reranker a directory loaded with ``PairClassifier``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from simmatch.errors import InputError

FINGERPRINT_TEXT = "simmatch index fingerprint: 语义匹配 semantic matching"
FINGERPRINT_MIN_COSINE = 0.99


def load_encoder(model: str | Path) -> Any:
    """An ``Embedder`` for a model name or directory (imported only when a model is needed)."""
    from simmatch.models import Embedder

    return Embedder(str(model))


def load_reranker(path: str | Path) -> Any:
    """A ``PairClassifier`` for a cross-encoder: a built-in name (``relevance-zh``) or a directory."""
    from simmatch.models import PairClassifier

    return PairClassifier(str(path))


def as_encoder(encoder: Any) -> Any:
    """An encoder object, loading a model name or directory given as a string or path."""
    return load_encoder(encoder) if isinstance(encoder, (str, Path)) else encoder


def as_reranker(rerank: Any) -> Any:
    """A reranker object (``scores(pairs)``), loading a directory given as a string or path."""
    if rerank is None:
        return None
    if isinstance(rerank, (str, Path)):
        rerank = load_reranker(rerank)
    if not callable(getattr(rerank, "scores", None)):
        kind = type(rerank).__name__
        raise InputError(f"rerank must be a cross-encoder directory or have scores(pairs), got {kind}")
    return rerank


def encoder_identity(encoder: Any) -> tuple[str, int]:
    for attribute in ("encode", "dim", "model_name"):
        if not hasattr(encoder, attribute):
            raise InputError(
                f"encoder {type(encoder).__name__} has no .{attribute}; an encoder needs "
                ".encode(texts, batch_size=, normalize=, kind=), .dim and .model_name"
            )
    return str(encoder.model_name), int(encoder.dim)


def fingerprint(encoder: Any, normalize: bool, kind: str, dim: int) -> np.ndarray:
    """The embedding of a fixed text, recorded at creation and compared at every open."""
    vector = np.asarray(
        encoder.encode([FINGERPRINT_TEXT], batch_size=1, normalize=normalize, kind=kind),
        dtype=np.float32,
    )
    if vector.shape != (1, dim):
        raise InputError(f"encoder returned shape {vector.shape} for one text; expected (1, {dim})")
    return vector[0]


def check_encoder(path: str | Path, settings: dict[str, Any], encoder: Any) -> None:
    """``InputError`` unless ``encoder`` is the model the index at ``path`` was built with."""
    model_name, dim = encoder_identity(encoder)
    recorded = (
        f"model {settings['model_name']!r} (dim {settings['dim']}, normalize={settings['normalize']},"
        f" passage kind {settings['passage_kind']!r}, query kind {settings['query_kind']!r})"
    )
    if model_name != settings["model_name"] or dim != settings["dim"]:
        raise InputError(
            f"index at {path} was built with {recorded}; the given encoder is {model_name!r} "
            f"(dim {dim}). Open it with that model, or build a new index."
        )
    stored = np.asarray(settings["fingerprint"], dtype=np.float32)
    fresh = fingerprint(encoder, settings["normalize"], settings["passage_kind"], dim)
    denominator = float(np.linalg.norm(stored) * np.linalg.norm(fresh)) or 1.0
    cosine = float(stored @ fresh) / denominator
    if cosine < FINGERPRINT_MIN_COSINE:
        raise InputError(
            f"index at {path} was built with {recorded}; the given encoder has the same name but "
            f"embeds differently (fingerprint cosine {cosine:.3f} < {FINGERPRINT_MIN_COSINE}), "
            "e.g. different weights. Use the original model or build a new index."
        )


def encode(
    encoder: Any, texts: list[str], *, kind: str, normalize: bool, dim: int, batch_size: int
) -> np.ndarray:
    """``encoder.encode`` checked: float32 ``(len(texts), dim)``, finite."""
    vectors = np.asarray(
        encoder.encode(texts, batch_size=batch_size, normalize=normalize, kind=kind), dtype=np.float32
    )
    if vectors.shape != (len(texts), dim):
        raise InputError(
            f"encoder returned shape {vectors.shape} for {len(texts)} texts; expected ({len(texts)}, {dim})"
        )
    if not np.isfinite(vectors).all():
        raise InputError("encoder returned non-finite values (NaN or inf)")
    return vectors
