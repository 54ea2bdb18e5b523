"""Cheap pair features for the ensemble's stacker: token overlap and twin-tower cosine."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _tokens(text: str) -> set[str]:
    """Characters for CJK text, lower-cased words otherwise (whitespace and punctuation dropped)."""
    out: set[str] = set()
    word = ""
    for ch in text.lower():
        if ch.isalnum() and ord(ch) < 0x2E80:
            word += ch
            continue
        if word:
            out.add(word)
            word = ""
        if ch.isalnum():
            out.add(ch)
    if word:
        out.add(word)
    return out


def token_overlap(pairs: Sequence[tuple[str, str]]) -> np.ndarray:
    """Jaccard overlap of the two sides' token sets (CJK characters, other words), float32 (n,)."""
    out = np.zeros(len(pairs), dtype=np.float32)
    for i, (a, b) in enumerate(pairs):
        ta, tb = _tokens(a), _tokens(b)
        union = ta | tb
        out[i] = len(ta & tb) / len(union) if union else 0.0
    return out


def twin_tower_cosine(embedder: Any, pairs: Sequence[tuple[str, str]], batch_size: int = 32) -> np.ndarray:
    """Cosine of the two sides' embeddings under ``embedder`` (an ``Embedder``), float32 (n,)."""
    a = [p[0] for p in pairs]
    b = [p[1] for p in pairs]
    return np.asarray(embedder.similarity_pairwise(a, b, batch_size=batch_size), dtype=np.float32)
