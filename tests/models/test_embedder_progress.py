"""``Embedder.encode(show_progress=None)`` draws a bar when the work is large, measured in model
windows and tokens rather than texts, so a single very long text shows progress too."""

from __future__ import annotations

import numpy as np

from simmatch.models.embedder import PROGRESS_MIN_TOKENS


def test_one_very_long_text_shows_progress_by_windows(tiny_embedder, capsys):
    text = "hello " * (PROGRESS_MIN_TOKENS + 10)  # one token per word; windows of 62 tokens
    vector = tiny_embedder.encode(text)
    err = capsys.readouterr().err
    assert "encode" in err and "window" in err, err
    assert vector.shape == (tiny_embedder.dim,) and np.isfinite(vector).all()


def test_small_work_shows_no_bar_unless_asked(tiny_embedder, capsys):
    tiny_embedder.encode(["hello world"] * 20)
    assert capsys.readouterr().err == ""
    tiny_embedder.encode(["hello world"] * 20, show_progress=True)
    err = capsys.readouterr().err
    assert "encode" in err and "text" in err
