"""Score plots for choosing and checking a decision threshold (matplotlib, the ``plot`` extra)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from simmatch.errors import InputError, require


def plot_scores(
    scores: Sequence[float],
    labels: Sequence,
    path: str | Path,
    threshold: float | None = None,
    *,
    title: str | None = None,
) -> Path:
    """Write a PNG: the score histogram of each label and, for two labels, accuracy vs threshold.

    With two distinct labels the larger (``1``, ``"1"``, ``True``) is the positive class, predicted
    when ``score >= threshold``; ``threshold`` (if given) is drawn on both panels. Returns the path.
    Uses matplotlib's object API with the Agg canvas, so no global backend is switched.
    """
    require("matplotlib", "plot")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels)
    if s.ndim != 1 or len(s) != len(y) or len(s) == 0:
        raise InputError(
            f"scores and labels must be non-empty and of equal length, got {len(s)} and {len(y)}"
        )
    if not np.isfinite(s).all():
        raise InputError("scores must be finite")
    classes = sorted(np.unique(y).tolist(), key=lambda v: (str(type(v)), v))
    binary = len(classes) == 2

    fig = Figure(figsize=(11 if binary else 6, 4), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2 if binary else 1, squeeze=False)[0]
    bins = np.linspace(s.min(), s.max(), 41) if s.max() > s.min() else 10
    for value in classes:
        axes[0].hist(
            s[y == value], bins=bins, alpha=0.55, label=f"label {value} (n={int((y == value).sum())})"
        )
    axes[0].set_xlabel("score")
    axes[0].set_ylabel("pairs")
    axes[0].set_title("score distribution per label")
    axes[0].legend()
    if binary:
        positives = y == classes[1]
        grid = np.unique(np.concatenate([s, np.linspace(s.min(), s.max(), 200)]))
        accuracy = [np.mean((s >= t) == positives) for t in grid]
        axes[1].plot(grid, accuracy)
        axes[1].set_xlabel("threshold (positive when score >= threshold)")
        axes[1].set_ylabel("accuracy")
        axes[1].set_title("accuracy vs threshold")
    if threshold is not None:
        for ax in axes:
            ax.axvline(
                threshold, color="black", linestyle="--", linewidth=1, label=f"threshold {threshold:.3f}"
            )
        if binary:
            axes[1].legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out
