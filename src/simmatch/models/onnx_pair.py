"""ONNX Runtime backend for the single tower: a transformers sequence-classification model
(encoder, pooler and head, any number of layers) or a pooled-head cross-encoder
(``simmatch.models.heads``: mean of the token states, then dense layers) exported once to ONNX
and run with onnxruntime on the CPU, by the same mechanism as the embedder's backend
(``simmatch.models.onnx_export``: export cache, file lock, int8 recipe, sessions, the torch-free
tokenizer). This module supplies only the cross-encoder's module, its check against PyTorch and
its metadata.

Backends (the ``backend=`` argument of ``PairClassifier``):

``"torch"``
    transformers in PyTorch, fp32. The reference.
``"onnx"``
    The same model exported to ONNX (fp32, with onnxruntime's transformer fusions for
    BERT-family models). Logits within 1e-3 of PyTorch (checked at export), probabilities
    within about 1e-5.
``"onnx-int8"``
    The fp32 graph with dynamic int8 quantization (``onnx_export.INT8_RECIPE``, the embedder's
    recipe). Its fidelity on real pairs (label agreement >= 99.5 %, mean absolute difference of
    the per-label probabilities <= 0.02) is measured by ``bench/speed/cross_encoder.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from simmatch.errors import SimmatchError, require
from simmatch.models import onnx_export
from simmatch.models.onnx_export import Int8Recipe

OUTPUT_NAME = "logits"
FAMILY = "pair"
EXPORT_VERSION = onnx_export.FAMILIES[FAMILY][1]
# Largest |ONNX logit - PyTorch logit| accepted at export, relative to the logits' scale.
MAX_LOGIT_DIFF = 1e-3


def export_dir(path: str) -> Path:
    """Where the cross-encoder export of the model at ``path`` is (or will be) cached."""
    return onnx_export.export_dir(path, FAMILY)


def _sample(config: Any, shape: tuple[int, int], seed: int, pads: dict[int, int], types: bool) -> dict:
    sample = onnx_export.sample_inputs(config, shape, seed=seed, pads=pads)
    if types:
        token_types = np.zeros_like(sample["input_ids"])
        if int(getattr(config, "type_vocab_size", 2) or 1) > 1:
            token_types[:, shape[1] // 2 :] = 1  # the second text of each pair
        sample["token_type_ids"] = token_types * sample["attention_mask"]
    return sample


def _export_pair(path: str, out_dir: Path) -> dict[str, Any]:
    """Export a sequence-classification model's logits to ``out_dir``; returns the metadata."""
    torch = require("torch", "onnx")
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from simmatch.models._checks import check_trained_head
    from simmatch.models._loading import quiet_loading
    from simmatch.models.heads import is_pooled_head, load_pooled_head
    from simmatch.models.torch_backend import TorchPairBackend

    if is_pooled_head(path):
        # A head on the mean of the pair's token states (simmatch.models.heads): the whole
        # sentence-transformers module chain (transformer, pooling, dense layers) is traced.
        with quiet_loading():
            model, tokenizer = load_pooled_head(path, "cpu")
        module, encoder = model.cross_encoder, model.cross_encoder.model
        model.cross_encoder.float()
    else:
        tokenizer = AutoTokenizer.from_pretrained(path)
        with quiet_loading():
            model, loading = AutoModelForSequenceClassification.from_pretrained(
                path, output_loading_info=True
            )
        check_trained_head(model, loading, path, path)
        module = encoder = model
    if hasattr(encoder, "set_attn_implementation"):
        # The eager attention graph is the pattern onnxruntime's fusion recognises.
        encoder.set_attn_implementation("eager")
    model.eval()
    ref = TorchPairBackend(model, tokenizer, "cpu")
    config = model.config

    class _Logits(torch.nn.Module):  # type: ignore[name-defined]  # torch is imported lazily here
        def __init__(self) -> None:
            super().__init__()
            self.classifier = module

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
            inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
            if token_type_ids is not None:
                inputs["token_type_ids"] = token_type_ids
            return model(**inputs).logits

    types = ref.needs_token_types
    trace = _sample(config, (2, 8), 0, {1: 5}, types)
    fused = onnx_export.export_module(_Logits(), trace, OUTPUT_NAME, out_dir, config)

    # Check on shapes other than the traced ones, padding included.
    check = _sample(config, (3, 13), 1, {1: 4, 2: 9}, types)
    expected = ref.logits(check)
    session = onnx_export.open_session(out_dir / onnx_export.FP32_FILE, threads=1)
    got = _run(session, check)
    diff = float(np.abs(expected - got).max())
    if diff > MAX_LOGIT_DIFF * max(1.0, float(np.abs(expected).max())):
        raise SimmatchError(
            f"ONNX export of {path} does not reproduce PyTorch (max logit difference {diff:.6f}); "
            "use backend='torch' for this model"
        )
    tokenizer.save_pretrained(str(out_dir / onnx_export.TOKENIZER_DIR))
    return onnx_export.export_meta(
        tokenizer,
        version=EXPORT_VERSION,
        source=str(path),
        num_labels=ref.num_labels,
        labels=[ref.id2label[i] for i in range(ref.num_labels)],
        max_positions=ref.max_positions,
        needs_token_types=types,
        layers=int(getattr(config, "num_hidden_layers", 0) or 0),
        model_type=str(getattr(config, "model_type", "")),
        fused=fused,
        check_max_logit_diff=diff,
    )


def _run(session: Any, features: dict[str, np.ndarray]) -> np.ndarray:
    names = {i.name for i in session.get_inputs()}
    feeds = onnx_export.int64_feeds({k: v for k, v in features.items() if k in names})
    return np.asarray(session.run([OUTPUT_NAME], feeds)[0], dtype=np.float32)


class OnnxPairBackend:
    """Logits of text pairs from an ONNX export of a sequence-classification model.

    ``quantize=True`` runs the int8 graph made with ``recipe`` (default
    ``onnx_export.INT8_RECIPE``). ``threads`` defaults to the physical cores available to this
    process. Loading an existing export imports neither PyTorch nor transformers.
    """

    def __init__(
        self,
        path: str,
        quantize: bool = False,
        *,
        threads: int | None = None,
        recipe: Int8Recipe | None = None,
    ) -> None:
        opened = onnx_export.open_export(path, FAMILY, _export_pair, quantize, threads, recipe)
        self.export_dir, self.model_file, self.recipe = opened.export_dir, opened.model_file, opened.recipe
        self.tokenizer, self.session = opened.tokenizer, opened.session
        meta = opened.meta
        self.num_labels = int(meta["num_labels"])
        self.id2label = {i: str(label) for i, label in enumerate(meta["labels"])}
        self.max_positions = int(meta["max_positions"])
        self.needs_token_types = bool(meta["needs_token_types"])
        self.layers = int(meta["layers"])

    def logits(self, features: dict[str, np.ndarray]) -> np.ndarray:
        """Head outputs (batch, num_labels) for ``input_ids``, ``attention_mask`` (and
        ``token_type_ids``) arrays."""
        return _run(self.session, features)
