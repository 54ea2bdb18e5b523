"""Inference backends for the twin tower. A backend maps padded token ids to pooled (not yet
normalized) sentence vectors; tokenization, batching and long-text windows stay in ``Embedder`` so
every backend sees the same inputs.

Backends live in their own modules (``torch_backend``, ``onnx_backend``); this module only names
them and loads one, so no backend module imports this one."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from simmatch.errors import InputError
from simmatch.models.torch_backend import TorchBackend

BACKENDS = ("torch", "onnx", "onnx-int8")
__all__ = ["BACKENDS", "EncoderBackend", "TorchBackend", "load_backend"]


class EncoderBackend(Protocol):
    tokenizer: Any
    prompts: dict[str, str]
    max_seq_length: int
    dim: int

    def embed(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray: ...


def load_backend(name: str, path: str, device: str | None = None) -> EncoderBackend:
    if name == "torch":
        return TorchBackend(path, device=device)
    if name in ("onnx", "onnx-int8"):
        from simmatch.models.onnx_backend import OnnxBackend

        return OnnxBackend(path, quantize=name == "onnx-int8")
    raise InputError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
