"""Cross-encoder heads that pool the pair's token states, built from sentence-transformers modules.

BERT's sequence-classification head reads the first token through a pooler. e5 was trained with
mean pooling and ships no pooler, and its first-token state varies little between inputs, so a
head on the mean of the pair's token states suits it better (measured in docs/quality.md). Such a
model is a sentence-transformers ``CrossEncoder`` of modules ``Transformer → Pooling(mean) →
Dense(tanh) → Dropout → Dense(→ "scores")``: it saves as an ordinary sentence-transformers
directory, ``CrossEncoder(dir)`` loads it, and :class:`PooledHeadModel` lets ``PairClassifier``
read it like a transformers sequence classifier (``model.config`` with the labels,
``model(**tokens).logits``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

POOLING_TYPE_SUFFIX = ".Pooling"


def is_pooled_head(path: str | Path) -> bool:
    """Whether the model directory is a cross-encoder whose head pools token states: its
    ``modules.json`` lists a ``Pooling`` module and a ``Dense`` module that writes ``"scores"``
    (an embedder directory has the pooling but no such head)."""
    root = Path(path)
    try:
        modules = json.loads((root / "modules.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    kinds = [str(m.get("type", "")) for m in modules if isinstance(m, dict)]
    if not any(k.endswith(POOLING_TYPE_SUFFIX) for k in kinds):
        return False
    for m in modules:
        if isinstance(m, dict) and str(m.get("type", "")).endswith(".Dense"):
            try:
                config = json.loads(
                    (root / str(m.get("path", "")) / "config.json").read_text(encoding="utf-8")
                )
            except (OSError, json.JSONDecodeError):
                continue
            if config.get("module_output_name") == "scores":
                return True
    return False


def mean_head_cross_encoder(
    path: str, label_config: dict[str, Any], *, device: str, dropout: float = 0.1
) -> Any:
    """A fresh ``CrossEncoder`` with a mean-pooling head on the encoder at ``path`` (labels in
    ``label_config``: ``num_labels``, ``id2label``, ``label2id``)."""
    import torch
    from sentence_transformers.base.modules import Dense, Transformer
    from sentence_transformers.cross_encoder import CrossEncoder
    from sentence_transformers.sentence_transformer.modules import Dropout, Pooling
    from torch import nn

    transformer = Transformer(path, transformer_task="feature-extraction", config_kwargs=label_config)
    dim = transformer.get_embedding_dimension()
    std = float(getattr(transformer.auto_model.config, "initializer_range", 0.02))
    pooler = Dense(dim, dim, activation_function=nn.Tanh())
    classifier = Dense(
        dim, int(label_config["num_labels"]), activation_function=None, module_output_name="scores"
    )
    with torch.no_grad():
        for dense in (pooler, classifier):
            dense.linear.weight.normal_(mean=0.0, std=std)
            dense.linear.bias.zero_()
    modules = [transformer, Pooling(dim, "mean"), pooler, Dropout(dropout), classifier]
    return CrossEncoder(modules=modules, device=device)


def pooled_states(cross_encoder: Any, pairs: Sequence[tuple[str, str]], batch_size: int = 32) -> torch.Tensor:
    """The pooled vector (input of the head's first dense layer) of each pair, in eval mode."""
    import torch

    was_training = cross_encoder.training
    cross_encoder.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(pairs), batch_size):
            features = cross_encoder.preprocess([tuple(p) for p in pairs[start : start + batch_size]])
            features = {
                k: v.to(cross_encoder.device) for k, v in features.items() if isinstance(v, torch.Tensor)
            }
            features = cross_encoder[1](cross_encoder[0](features))
            out.append(features["sentence_embedding"].float())
    cross_encoder.train(was_training)
    return torch.cat(out)


def standardize_first_dense(cross_encoder: Any, pairs: Sequence[tuple[str, str]]) -> None:
    """Data-dependent init of the head's first dense layer: it sees each pooled dimension
    standardized over ``pairs`` (mean 0, std 1), so the classifier starts from informative input."""
    import torch

    h = pooled_states(cross_encoder, pairs)
    mean, std = h.mean(0), h.std(0).clamp_min(1e-4)
    linear = cross_encoder[2].linear
    with torch.no_grad():
        linear.weight.copy_(torch.diag(1.0 / std).to(linear.weight.dtype))
        linear.bias.copy_((-mean / std).to(linear.bias.dtype))


class PooledHeadModel:
    """A pooling-head ``CrossEncoder`` seen as a transformers sequence classifier:
    ``config`` (the encoder's config, which carries ``num_labels`` / ``id2label``),
    ``model(**tokens).logits``, and ``to`` / ``eval`` / ``train`` / ``training`` passed through."""

    def __init__(self, cross_encoder: Any) -> None:
        self.cross_encoder = cross_encoder
        self.config = cross_encoder.model.config

    def __call__(self, **tokens: torch.Tensor) -> Any:
        features = self.cross_encoder(dict(tokens))
        return SimpleNamespace(logits=features["scores"])

    @property
    def training(self) -> bool:
        return bool(self.cross_encoder.training)

    def train(self, mode: bool = True) -> PooledHeadModel:
        self.cross_encoder.train(mode)
        return self

    def eval(self) -> PooledHeadModel:
        return self.train(False)

    def to(self, device: Any) -> PooledHeadModel:
        self.cross_encoder.to(device)
        return self


def sequence_classifier(cross_encoder: Any) -> Any:
    """The model ``PairClassifier`` runs for a sentence-transformers ``CrossEncoder``: its
    transformers sequence classifier, or a :class:`PooledHeadModel` over a pooling head."""
    from sentence_transformers.sentence_transformer.modules import Pooling

    if any(isinstance(m, Pooling) for m in cross_encoder):
        return PooledHeadModel(cross_encoder)
    return cross_encoder.model


def load_pooled_head(path: str | Path, device: str) -> tuple[Any, Any]:
    """(model, tokenizer) of a saved pooling-head cross-encoder, for ``PairClassifier``."""
    from sentence_transformers.cross_encoder import CrossEncoder

    cross_encoder = CrossEncoder(str(path), device=device)
    return PooledHeadModel(cross_encoder), cross_encoder.tokenizer
