"""Loading a model draws no "Loading weights" bar, and leaves the user's progress-bar setting as it
was (simmatch.models._loading.quiet_loading)."""

from __future__ import annotations

import pytest
from transformers.utils import logging as hf_logging

from simmatch.models import Embedder, PairClassifier


@pytest.fixture
def bars_on():
    before = hf_logging.is_progress_bar_enabled()
    hf_logging.enable_progress_bar()
    yield
    (hf_logging.enable_progress_bar if before else hf_logging.disable_progress_bar)()


def test_loading_draws_no_progress_bar_and_keeps_the_setting(
    bars_on, capfd, tiny_embedder_dir, tiny_cross3_dir
):
    Embedder(str(tiny_embedder_dir), device="cpu")
    PairClassifier(str(tiny_cross3_dir), device="cpu")
    PairClassifier.create(str(tiny_embedder_dir), ["0", "1"], device="cpu")
    err = capfd.readouterr().err
    assert "Loading weights" not in err and "%|" not in err, err
    assert hf_logging.is_progress_bar_enabled()  # switched back on for the user's own loads


def test_bars_the_user_disabled_stay_disabled(tiny_embedder_dir):
    from simmatch.models._loading import quiet_loading

    before = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        with quiet_loading(), quiet_loading():  # nested (a loader inside a loader)
            assert not hf_logging.is_progress_bar_enabled()
        assert not hf_logging.is_progress_bar_enabled()
        hf_logging.enable_progress_bar()
        with quiet_loading():
            assert not hf_logging.is_progress_bar_enabled()
        assert hf_logging.is_progress_bar_enabled()
    finally:
        (hf_logging.enable_progress_bar if before else hf_logging.disable_progress_bar)()
