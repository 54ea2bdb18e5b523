"""simmatch: semantic text matching for Chinese and English.

The heavy modules (torch, transformers) load on first use, so ``import simmatch`` is cheap and the
CLI starts fast."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "Embedder": "simmatch.models",
    "PairClassifier": "simmatch.models",
    "PairPrediction": "simmatch.models",
    "RankedDocument": "simmatch.models",
    "Tasks": "simmatch.models",
    "pipeline": "simmatch.models",
    "resolve_model": "simmatch.models",
    "Index": "simmatch.index",
}

if TYPE_CHECKING:
    from simmatch.index import Index
    from simmatch.models import (
        Embedder,
        PairClassifier,
        PairPrediction,
        RankedDocument,
        Tasks,
        pipeline,
        resolve_model,
    )

__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'simmatch' has no attribute {name!r}")
