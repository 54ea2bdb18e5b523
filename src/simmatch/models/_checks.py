"""Checks on a loaded model that refuse what would give silent wrong answers."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from simmatch.errors import InputError


def untrained_head(model: Any, loading_info: Mapping[str, Any]) -> list[str]:
    """The classification-head weights a checkpoint did not hold (transformers initialized them
    at random): keys reported missing that lie outside the encoder (``model.base_model_prefix``)."""
    prefix = str(getattr(model, "base_model_prefix", "") or "")
    missing = loading_info.get("missing_keys") or ()
    return sorted(str(k) for k in missing if not (prefix and str(k).startswith(prefix + ".")))


def check_trained_head(model: Any, loading_info: Mapping[str, Any], name: str, path: str | Path) -> None:
    """Refuse a sequence-classification model whose head was never trained (an embedder directory
    or a bare base model loaded as a cross-encoder): it would give every pair the same
    meaningless label. ``loading_info`` is what ``from_pretrained(..., output_loading_info=True)``
    returns."""
    missing = untrained_head(model, loading_info)
    if not missing:
        return
    local = Path(path)
    sentence_transformers = (local / "modules.json").exists() or (
        local / "config_sentence_transformers.json"
    ).exists()
    what = (
        "an embedding model (sentence-transformers directory)"
        if sentence_transformers
        else "a base model without a trained classification head"
    )
    raise InputError(
        f"{name} is {what}, not a cross-encoder: its classification head "
        f"({', '.join(missing)}) was never trained, so every pair would get the same meaningless "
        f"label. Pass a trained cross-encoder, load this model as an embedder (Embedder, CLI --model), "
        f"or train a cross-encoder from it (PairClassifier.create(...), CLI simmatch train cross-encoder)"
    )
