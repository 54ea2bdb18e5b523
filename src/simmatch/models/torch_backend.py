"""The PyTorch reference backend: sentence-transformers modules run as they are, fp32."""

from __future__ import annotations

from typing import Any

import numpy as np


class TorchBackend:
    """sentence-transformers modules (Transformer → Pooling → Dense…) in PyTorch, fp32."""

    def __init__(self, path: str, device: str | None = None, threads: int | None = None) -> None:
        from sentence_transformers import SentenceTransformer

        from simmatch.settings import default_device

        self.device = device or default_device()
        self.threads = threads
        self._attach(SentenceTransformer(path, device=self.device).eval())

    @classmethod
    def from_model(cls, st_model: Any) -> TorchBackend:
        """Wrap a ``SentenceTransformer`` already in memory (training's live model) without
        copying it: later weight updates are seen, and each call runs in eval mode."""
        self = cls.__new__(cls)
        self.device = str(st_model.device)
        self.threads = None
        self._attach(st_model)
        return self

    def _attach(self, st_model: Any) -> None:
        import torch

        try:  # sentence-transformers >= 6
            from sentence_transformers.sentence_transformer.modules import Normalize
        except ImportError:  # 5.x
            from sentence_transformers.models import Normalize  # type: ignore[no-redef]

        self.st_model = st_model
        self.tokenizer = self.st_model.tokenizer
        self.prompts = {k: v for k, v in (self.st_model.prompts or {}).items() if v}
        limit = self.st_model.max_seq_length or getattr(self.tokenizer, "model_max_length", None) or 512
        self.max_seq_length = min(int(limit), 8192)
        # Normalization happens after long-text windows are averaged, so skip the module here.
        self._modules = [m for m in self.st_model if not isinstance(m, Normalize)]
        self._needs_token_types = "token_type_ids" in getattr(self.tokenizer, "model_input_names", [])
        probe = self.embed(np.array([[0, 1]], dtype=np.int64), np.ones((1, 2), dtype=np.int64))
        self.dim = int(probe.shape[1])
        self._torch = torch

    def embed(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        import torch

        features: dict[str, Any] = {
            "input_ids": torch.from_numpy(input_ids).to(self.device),
            "attention_mask": torch.from_numpy(attention_mask).to(self.device),
        }
        if self._needs_token_types:
            features["token_type_ids"] = torch.zeros_like(features["input_ids"])
        was_training = self.st_model.training
        self.st_model.eval()
        # torch's thread count is per process: set it for this call only and put it back.
        threads_before = torch.get_num_threads()
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                for module in self._modules:
                    features = module(features)
        finally:
            self.st_model.train(was_training)
            if self.threads is not None:
                torch.set_num_threads(threads_before)
        return features["sentence_embedding"].float().cpu().numpy()


class TorchPairBackend:
    """A transformers sequence-classification model in PyTorch, fp32: the single tower's
    reference backend. Wraps a model and tokenizer already loaded (by ``PairClassifier``, or
    training's live ``CrossEncoder``) without copying them; each call runs in eval mode and
    restores the model's mode."""

    def __init__(self, model: Any, tokenizer: Any, device: str) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.device = device

    @property
    def num_labels(self) -> int:
        return int(self.model.config.num_labels)

    @property
    def id2label(self) -> dict[int, str]:
        return {int(k): str(v) for k, v in self.model.config.id2label.items()}

    @property
    def max_positions(self) -> int:
        return int(getattr(self.model.config, "max_position_embeddings", 512) or 512)

    @property
    def needs_token_types(self) -> bool:
        return "token_type_ids" in getattr(self.tokenizer, "model_input_names", [])

    def logits(self, features: dict[str, np.ndarray]) -> np.ndarray:
        """Head outputs (batch, num_labels) for ``input_ids``, ``attention_mask`` (and
        ``token_type_ids``) arrays."""
        import torch

        inputs = {k: torch.from_numpy(v).to(self.device) for k, v in features.items()}
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                out = self.model(**inputs).logits.float().cpu().numpy()
        finally:
            self.model.train(was_training)
        return np.asarray(out, dtype=np.float32)
