"""Layer pruning: a cross-encoder that keeps only its first N encoder layers (a cheaper model for
the same head; its scores move, so measure it before serving it)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from simmatch.errors import InputError
from simmatch.models.pair_classifier import PairClassifier

__all__ = ["prune_layers"]

# Where transformers keeps the encoder's layer list, under the base model.
_LAYER_PATHS = ("encoder.layer", "encoder.layers", "transformer.layer", "layers")


def prune_layers(
    model: str | Path | PairClassifier, layers: int, *, device: str | None = None
) -> PairClassifier:
    """A new ``PairClassifier`` (torch backend) with the first ``layers`` encoder layers of
    ``model`` (a cross-encoder directory or name, or a torch ``PairClassifier``, which is left
    unchanged) and the same embeddings, pooler and head. ``save()`` it to get a directory that
    loads with any backend:

    >>> prune_layers("path/to/qbqtc-model", 6).save("qbqtc-6-layers")
    """
    if isinstance(layers, bool) or not isinstance(layers, int) or layers < 1:
        raise InputError(f"layers must be a positive integer, got {layers!r}")
    if isinstance(model, PairClassifier):
        if model.model is None:
            raise InputError(
                f"prune_layers needs PyTorch weights; {model.model_name} runs on {model.backend!r}"
            )
        source = model
        hf = copy.deepcopy(model.model)
    else:
        source = PairClassifier(model, device=device)
        hf = source.model
    holder, name, stack = _layer_list(hf, source.model_name)
    if layers > len(stack):
        raise InputError(f"{source.model_name} has {len(stack)} encoder layers; cannot keep {layers}")
    setattr(holder, name, type(stack)(list(stack)[:layers]))
    hf.config.num_hidden_layers = layers
    if isinstance(getattr(hf.config, "layer_types", None), list):
        hf.config.layer_types = hf.config.layer_types[:layers]
    return PairClassifier._wrap(
        f"{source.model_name} (first {layers} layers)",
        source.path,
        hf,
        source.tokenizer,
        source.device,
        source.config,
    )


def _layer_list(model: Any, name: str) -> tuple[Any, str, Any]:
    """(object holding the layer list, attribute name, the list) of a transformers model."""
    base = getattr(model, getattr(model, "base_model_prefix", ""), None) or model
    for dotted in _LAYER_PATHS:
        *parents, attribute = dotted.split(".")
        holder = base
        for part in parents:
            holder = getattr(holder, part, None)
        stack = getattr(holder, attribute, None) if holder is not None else None
        if stack is not None and hasattr(stack, "__len__") and len(stack) > 0:
            return holder, attribute, stack
    raise InputError(f"{name}: cannot find the encoder's layer list to prune ({type(model).__name__})")
