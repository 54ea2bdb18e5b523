"""Model loading without library chatter.

transformers draws a "Loading weights" progress bar (and, on save, "Writing model shards") on
stderr for every model it loads, however small. simmatch loads models inside its own calls, where
that bar is noise, so every place that loads or saves weights does it inside :func:`quiet_loading`:
transformers' progress bars are switched off for the duration of the load and switched back on
afterwards if they were on. The user's own setting is left as it was (bars the user disabled stay
disabled, and ``HF_HUB_DISABLE_PROGRESS_BARS=0`` keeps them on); transformers' log level and every
other library's state are not touched. Training runs inside it too (its checkpoint writes and the
reload of the best checkpoint draw the same bars); the training progress bar is not one of
transformers' logging bars and still shows.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_depth = 0
_restore = False
_hub_was_disabled = False


@contextlib.contextmanager
def quiet_loading(*, only_if_imported: bool = False) -> Iterator[None]:
    """Silence transformers' progress bars while the block runs (nestable, thread-safe: the bars
    come back when the last of several concurrent loads finishes). ``only_if_imported``: do
    nothing unless transformers is already imported (a load that may not need it, such as a
    cached ONNX export, must not import it)."""
    global _depth, _restore, _hub_was_disabled
    if only_if_imported and "transformers" not in sys.modules:
        yield
        return
    try:
        from huggingface_hub import constants as hub_constants
        from huggingface_hub import utils as hub_utils
        from transformers.utils import logging as hf_logging
    except ImportError:  # the ONNX-only install: nothing to silence
        yield
        return
    if hub_constants.HF_HUB_DISABLE_PROGRESS_BARS is False:  # HF_HUB_DISABLE_PROGRESS_BARS=0: bars wanted
        yield
        return
    with _lock:
        if _depth == 0:
            _restore = hf_logging.is_progress_bar_enabled()
            _hub_was_disabled = hub_utils.are_progress_bars_disabled()
            if _restore:
                hf_logging.disable_progress_bar()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _restore:
                hf_logging.enable_progress_bar()
                if _hub_was_disabled:  # transformers re-enables the hub's bars too; keep them as found
                    hub_utils.disable_progress_bars()
