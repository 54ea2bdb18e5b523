"""Result types shared by both model families."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RankedDocument:
    """One ranked candidate: its position in the input, its score (higher is better), its text."""

    index: int
    score: float
    text: str
