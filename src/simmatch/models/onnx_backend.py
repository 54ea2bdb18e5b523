"""ONNX Runtime backend for the twin tower: the model's transformer and pooling (and any Dense
layers) exported once to ONNX and run with onnxruntime on the CPU. Export, cache, int8
quantization, sessions and the torch-free tokenizer are the shared mechanism of
``simmatch.models.onnx_export``; this module supplies the embedder's module and metadata.

Backends (the ``backend=`` argument of ``Embedder``):

``"torch"``
    sentence-transformers modules in PyTorch, fp32. The reference.
``"onnx"``
    The same computation exported to ONNX (fp32), with onnxruntime's transformer fusions
    (fused attention, bias-GELU, embedding-LayerNorm; residual Add + LayerNormalization left
    unfused, see ``onnx_export.export_module``) applied offline for BERT-family models, and the
    rest of ORT's graph optimizations applied when the session opens. Numerically the same as
    ``"torch"`` (cosine > 0.99999).
``"onnx-int8"``
    The fp32 graph with dynamic int8 quantization, ``onnx_export.INT8_RECIPE``, chosen so that
    cosine to fp32 stays >= 0.99 mean and >= 0.98 min on real Chinese sentences. The
    recommended backend for CPU serving; numbers in ``docs/speed.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from simmatch.errors import SimmatchError, require
from simmatch.models import onnx_export
from simmatch.models.onnx_export import Int8Recipe

OUTPUT_NAME = "sentence_embedding"
FAMILY = "embedder"
EXPORT_VERSION = onnx_export.FAMILIES[FAMILY][1]


def export_dir(path: str) -> Path:
    """Where the embedder export of the model at ``path`` is (or will be) cached."""
    return onnx_export.export_dir(path, FAMILY)


def _export_fp32(path: str, out_dir: Path) -> dict[str, Any]:
    """Export transformer + pooling (+ Dense) to ``out_dir``; returns the metadata."""
    torch = require("torch", "onnx")
    from simmatch.models.torch_backend import TorchBackend

    ref = TorchBackend(path, device="cpu")
    modules = torch.nn.ModuleList(ref._modules)
    transformer = ref._modules[0]
    auto_model = getattr(transformer, "auto_model", None)
    config = getattr(auto_model, "config", None)
    if auto_model is not None and hasattr(auto_model, "set_attn_implementation"):
        # The eager attention graph is the pattern onnxruntime's fusion recognises.
        auto_model.set_attn_implementation("eager")
    needs_token_types = ref._needs_token_types

    class _Pooled(torch.nn.Module):  # type: ignore[name-defined]  # torch is imported lazily here
        def __init__(self) -> None:
            super().__init__()
            self.stack = modules

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            features: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
            if needs_token_types:
                features["token_type_ids"] = torch.zeros_like(input_ids)
            for module in self.stack:
                features = module(features)
            return features["sentence_embedding"]

    trace = onnx_export.sample_inputs(config, (2, 8), seed=0, pads={1: 5})
    fused = onnx_export.export_module(_Pooled(), trace, OUTPUT_NAME, out_dir, config)

    # Check on shapes other than the traced ones, padding included.
    check = onnx_export.sample_inputs(config, (3, 13), seed=1, pads={1: 4, 2: 9})
    expected = ref.embed(check["input_ids"], check["attention_mask"])
    session = onnx_export.open_session(out_dir / onnx_export.FP32_FILE, threads=1)
    got = session.run([OUTPUT_NAME], onnx_export.int64_feeds(check))[0]
    cos = _row_cosine(expected, got)
    if float(cos.min()) < 0.9999:
        raise SimmatchError(
            f"ONNX export of {path} does not reproduce PyTorch (min cosine {cos.min():.6f}); "
            "use backend='torch' for this model"
        )
    ref.tokenizer.save_pretrained(str(out_dir / onnx_export.TOKENIZER_DIR))
    return onnx_export.export_meta(
        ref.tokenizer,
        version=EXPORT_VERSION,
        source=str(path),
        prompts=ref.prompts,
        max_seq_length=ref.max_seq_length,
        dim=ref.dim,
        model_type=str(getattr(config, "model_type", "")),
        fused=fused,
        check_min_cosine=float(cos.min()),
    )


def _row_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    num = (a * b).sum(axis=1)
    return num / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-30)


class OnnxBackend:
    """Pooled sentence vectors from an ONNX export of a sentence-transformers model.

    ``quantize=True`` runs the int8 graph made with ``recipe`` (default
    ``onnx_export.INT8_RECIPE``; other recipes are cached under their own file name). ``threads``
    defaults to the physical cores available to this process.
    """

    def __init__(
        self,
        path: str,
        quantize: bool = False,
        *,
        threads: int | None = None,
        recipe: Int8Recipe | None = None,
    ) -> None:
        opened = onnx_export.open_export(path, FAMILY, _export_fp32, quantize, threads, recipe)
        self.export_dir, self.model_file, self.recipe = opened.export_dir, opened.model_file, opened.recipe
        self.tokenizer, self.session = opened.tokenizer, opened.session
        meta = opened.meta
        self.prompts: dict[str, str] = dict(meta["prompts"])
        self.max_seq_length = int(meta["max_seq_length"])
        self.dim = int(meta["dim"])

    def embed(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        feeds = onnx_export.int64_feeds({"input_ids": input_ids, "attention_mask": attention_mask})
        return np.asarray(self.session.run([OUTPUT_NAME], feeds)[0], dtype=np.float32)
