"""The PyTorch reference backend: sentence-transformers modules run as they are, fp32."""

from __future__ import annotations

from typing import Any

import numpy as np


class TorchBackend:
    """sentence-transformers modules (Transformer → Pooling → Dense…) in PyTorch, fp32."""

    def __init__(self, path: str, device: str | None = None) -> None:
        from sentence_transformers import SentenceTransformer

        from simmatch.settings import default_device

        self.device = device or default_device()
        self._attach(SentenceTransformer(path, device=self.device).eval())

    @classmethod
    def from_model(cls, st_model: Any) -> TorchBackend:
        """Wrap a ``SentenceTransformer`` already in memory (training's live model) without
        copying it: later weight updates are seen, and each call runs in eval mode."""
        self = cls.__new__(cls)
        self.device = str(st_model.device)
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
        try:
            with torch.inference_mode():
                for module in self._modules:
                    features = module(features)
        finally:
            self.st_model.train(was_training)
        return features["sentence_embedding"].float().cpu().numpy()
