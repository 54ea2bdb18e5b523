"""Inference backends of both model families, named once (``BACKENDS``: every ``--backend``
flag, setting and argument takes its choices from here).

A twin-tower backend maps padded token ids to pooled (not yet normalized) sentence vectors; a
single-tower backend maps padded pair ids to head logits. Tokenization, batching and long-text
handling stay in ``Embedder`` / ``PairClassifier`` so every backend sees the same inputs.

Backends live in their own modules (``torch_backend``, ``onnx_backend``, ``onnx_pair``, the last
two sharing ``onnx_export``); this module only names them and loads one, so no backend module
imports this one."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from simmatch.errors import InputError
from simmatch.models.torch_backend import TorchBackend, TorchPairBackend

BACKENDS = ("torch", "onnx", "onnx-int8")
__all__ = [
    "BACKENDS",
    "EncoderBackend",
    "PairBackend",
    "TorchBackend",
    "TorchPairBackend",
    "check_backend",
    "check_threads",
    "load_backend",
    "load_pair_backend",
]


class EncoderBackend(Protocol):
    tokenizer: Any
    prompts: dict[str, str]
    max_seq_length: int
    dim: int

    def embed(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray: ...


class PairBackend(Protocol):
    """What ``PairClassifier`` runs: head size and label names, the position limit, whether the
    model reads token type ids, and logits for padded pair ids."""

    tokenizer: Any

    @property
    def num_labels(self) -> int: ...
    @property
    def id2label(self) -> dict[int, str]: ...
    @property
    def max_positions(self) -> int: ...
    @property
    def needs_token_types(self) -> bool: ...

    def logits(self, features: dict[str, np.ndarray]) -> np.ndarray: ...


def check_backend(name: str) -> str:
    if name not in BACKENDS:
        raise InputError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    return name


def check_threads(threads: int | None) -> int | None:
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise InputError(f"threads must be a positive integer or None, got {threads!r}")
    return threads


def load_backend(
    name: str, path: str, device: str | None = None, threads: int | None = None
) -> EncoderBackend:
    """The twin-tower backend ``name`` for the model at ``path``; ``threads``: its CPU threads
    (``None``: the library's default)."""
    check_backend(name)
    check_threads(threads)
    if name == "torch":
        return TorchBackend(path, device=device, threads=threads)
    from simmatch.models.onnx_backend import OnnxBackend

    return OnnxBackend(path, quantize=name == "onnx-int8", threads=threads)


def load_pair_backend(name: str, path: str) -> PairBackend:
    """An ONNX single-tower backend (``"onnx"`` or ``"onnx-int8"``) for the model at ``path``.
    ``PairClassifier`` loads the torch one itself (its model object is the training view's)."""
    if check_backend(name) == "torch":
        raise InputError("load_pair_backend loads the ONNX backends; PairClassifier loads torch")
    from simmatch.models.onnx_pair import OnnxPairBackend

    return OnnxPairBackend(path, quantize=name == "onnx-int8")
