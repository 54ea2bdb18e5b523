"""Layer pruning: keep the first N encoder layers of a transformers model.

Dropping the top layers of a BERT-style encoder halves its cost at 6 of 12 layers; fine-tuning
afterwards recovers most of the quality for pair tasks (the lower layers carry most of the lexical
and syntactic signal a cross-encoder needs). The pruned model saves and loads as an ordinary model
of the same architecture with ``num_hidden_layers = N``.
"""

from __future__ import annotations

from typing import Any

from simmatch.errors import InputError


def _encoder_layers(model: Any) -> Any:
    """The ``nn.ModuleList`` of transformer layers inside ``model`` (BERT, XLM-R, …: ``encoder.layer``)."""
    from transformers import PreTrainedModel

    for module in model.modules():
        if isinstance(module, PreTrainedModel):
            base = getattr(module, getattr(module, "base_model_prefix", ""), module)
            layers = getattr(getattr(base, "encoder", None), "layer", None)
            if layers is not None:
                return module, layers
    raise InputError("layer pruning: no encoder with a list of layers (encoder.layer) found in the model")


def keep_first_layers(model: Any, n: int) -> int:
    """Keep the first ``n`` encoder layers of the Hugging Face model inside ``model`` (a
    ``PreTrainedModel`` or a sentence-transformers model holding one), in place; its config says
    ``num_hidden_layers = n`` so it saves and reloads pruned. Returns the number of layers before."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise InputError(f"layers must be a positive integer, got {n!r}")
    hf, layers = _encoder_layers(model)
    before = len(layers)
    if n > before:
        raise InputError(f"layers={n}, but the model has only {before} encoder layers")
    del layers[n:]
    hf.config.num_hidden_layers = n
    return before
