"""Layer pruning: keep the first N encoder layers of a model (``--layers N`` in training, and
``prune_layers`` for a trained cross-encoder).

Dropping the top layers of a BERT-style encoder halves its cost at 6 of 12 layers; fine-tuning
afterwards recovers most of the quality for pair tasks (the lower layers carry most of the lexical
and syntactic signal a cross-encoder needs). A trained model pruned without fine-tuning keeps its
head but its scores move, so measure it before serving it. The pruned model saves and loads as an
ordinary model of the same architecture with ``num_hidden_layers = N``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, overload

from simmatch.errors import InputError
from simmatch.models.pair_classifier import PairClassifier

__all__ = ["prune_layers"]

# Where transformers keeps the encoder's layer list, under the base model.
_LAYER_PATHS = ("encoder.layer", "encoder.layers", "transformer.layer", "layers")


@overload
def prune_layers(
    model: str | Path | PairClassifier, layers: int, *, device: str | None = None
) -> PairClassifier: ...
@overload
def prune_layers(model: Any, layers: int, *, device: str | None = None) -> Any: ...
def prune_layers(model: Any, layers: int, *, device: str | None = None) -> Any:
    """Keep the first ``layers`` encoder layers of ``model``, with the same embeddings, pooler
    and head.

    * A cross-encoder directory or name, or a torch ``PairClassifier`` (left unchanged): a new
      ``PairClassifier`` (torch backend, on ``device``). ``save()`` it to get a directory that
      loads with any backend:

      >>> prune_layers("path/to/qbqtc-model", 6).save("qbqtc-6-layers")

    * A torch model, as training builds it (a transformers ``PreTrainedModel``, or a
      sentence-transformers ``SentenceTransformer`` / ``CrossEncoder`` holding one): pruned in
      place and returned; its config says ``num_hidden_layers = layers``, so it saves and reloads
      pruned.
    """
    if isinstance(layers, bool) or not isinstance(layers, int) or layers < 1:
        raise InputError(f"layers must be a positive integer, got {layers!r}")
    if not isinstance(model, (str, Path, PairClassifier)):
        _keep_first(model, layers, _torch_name(model))
        return model
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
    _keep_first(hf, layers, source.model_name)
    return PairClassifier._wrap(
        f"{source.model_name} (first {layers} layers)",
        source.path,
        hf,
        source.tokenizer,
        source.device,
        source.config,
    )


def _keep_first(model: Any, layers: int, name: str) -> None:
    """Cut the layer list of the transformers model inside ``model`` to its first ``layers``."""
    hf, stack = _layer_list(model, name)
    if layers > len(stack):
        raise InputError(f"{name} has {len(stack)} encoder layers; cannot keep {layers}")
    del stack[layers:]
    hf.config.num_hidden_layers = layers
    if isinstance(getattr(hf.config, "layer_types", None), list):
        hf.config.layer_types = hf.config.layer_types[:layers]


def _pretrained_models(model: Any) -> list[Any]:
    """The transformers models in ``model``, outermost first (``model`` itself if it is one)."""
    from transformers import PreTrainedModel

    modules = getattr(model, "modules", None)
    if not callable(modules):
        return []
    return [m for m in modules() if isinstance(m, PreTrainedModel)]


def _layer_list(model: Any, name: str) -> tuple[Any, Any]:
    """(transformers model, its list of encoder layers)."""
    for hf in _pretrained_models(model):
        base = getattr(hf, getattr(hf, "base_model_prefix", ""), None) or hf
        for dotted in _LAYER_PATHS:
            *parents, attribute = dotted.split(".")
            holder = base
            for part in parents:
                holder = getattr(holder, part, None)
            stack = getattr(holder, attribute, None) if holder is not None else None
            if stack is not None and hasattr(stack, "__len__") and len(stack) > 0:
                return hf, stack
    raise InputError(f"{name}: cannot find the encoder's layer list to prune ({type(model).__name__})")


def _torch_name(model: Any) -> str:
    for hf in _pretrained_models(model):
        path = getattr(hf.config, "name_or_path", "")
        if path:
            return str(path)
    return type(model).__name__
