"""Adapters between a model being trained (a sentence-transformers object) and simmatch's
evaluators, which code against the ``Embedder.encode`` / ``PairClassifier.predict`` contract.

During training the weights live in the trainer's model, so the dev split is scored through these
views rather than by saving and reloading a directory at every evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from simmatch.models.pair_classifier import PairPrediction


class EncoderView:
    """``Embedder.encode`` on top of a live ``SentenceTransformer`` (its prompts, its tokenizer)."""

    def __init__(self, st_model: Any, batch_size: int = 64) -> None:
        self.st_model = st_model
        self.batch_size = batch_size
        self.prompts = {k: v for k, v in (st_model.prompts or {}).items() if v}

    def prompt_for(self, kind: str | None) -> str:
        if kind is None:
            return ""
        if kind == "passage":
            for name in ("passage", "document", "doc"):
                if name in self.prompts:
                    return self.prompts[name]
            return ""
        return self.prompts.get(kind, "")

    def encode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int | None = None,
        normalize: bool = True,
        kind: str | None = "query",
    ) -> np.ndarray:
        was_training = self.st_model.training
        try:
            vectors = self.st_model.encode(
                list(texts),
                batch_size=batch_size or self.batch_size,
                prompt=self.prompt_for(kind),
                normalize_embeddings=normalize,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        finally:
            self.st_model.train(was_training)
        return np.asarray(vectors, dtype=np.float32)


class PairClassifierView:
    """``PairClassifier.predict`` on top of a live sentence-transformers ``CrossEncoder``, with the
    same reading of the head: softmax over ``labels`` (score = P(last) for two labels, expected
    grade / (n-1) for more) or, for one output, ``sigmoid(logit)`` thresholded at 0.5."""

    def __init__(self, cross_encoder: Any, labels: Sequence[str] | None, batch_size: int = 64) -> None:
        self.model = cross_encoder
        self.labels = list(labels) if labels is not None else None
        self.batch_size = batch_size

    def logits(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        from torch import nn

        was_training = self.model.training
        try:
            out = self.model.predict(
                [tuple(p) for p in pairs],
                batch_size=self.batch_size,
                activation_fn=nn.Identity(),
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        finally:
            self.model.train(was_training)
        out = np.asarray(out, dtype=np.float32)
        return out.reshape(len(pairs), -1)

    def predict(self, pairs: Sequence[tuple[str, str]], **_: Any) -> list[PairPrediction]:
        logits = self.logits(pairs)
        if self.labels is None:
            scores = 1.0 / (1.0 + np.exp(-logits[:, 0]))
            return [PairPrediction("1" if s >= 0.5 else "0", {}, float(s)) for s in scores]
        z = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        n = probs.shape[1]
        grades = probs[:, 1] if n == 2 else probs @ np.arange(n) / (n - 1)
        return [
            PairPrediction(self.labels[int(row.argmax())], dict(zip(self.labels, map(float, row))), float(g))
            for row, g in zip(probs, grades)
        ]


class MeanOfEvaluators:
    """Several simmatch evaluators as one: every metric prefixed with its dev set's name, plus
    ``mean_<primary>``, the mean of their primary metrics, as the primary metric. Used to pick a
    checkpoint that is good on more than one dev set (e.g. STS-B dev without losing LCQMC dev)."""

    def __init__(self, evaluators: dict[str, Any]) -> None:
        primaries = {e.primary_metric for e in evaluators.values()}
        if len(primaries) != 1:
            from simmatch.errors import InputError

            raise InputError(f"dev sets must share a primary metric to be averaged, got {sorted(primaries)}")
        self.evaluators = evaluators
        self.primary_metric = f"mean_{primaries.pop()}"

    def __call__(self, model: Any) -> dict[str, float]:
        out: dict[str, float] = {}
        primary = []
        for name, evaluator in self.evaluators.items():
            metrics = evaluator(model)
            primary.append(float(metrics[evaluator.primary_metric]))
            out.update({f"{name}_{k}": float(v) for k, v in metrics.items()})
        out[self.primary_metric] = float(np.mean(primary))
        return out


def make_st_evaluator(
    evaluator: Callable[[Any], dict[str, float]], view: Callable[[Any], Any], name: str = "dev"
) -> Any:
    """A sentence-transformers evaluator that scores the trainer's model with a simmatch evaluator
    (anything returning ``dict[str, float]`` with a ``primary_metric``), keys prefixed ``name_``."""
    from sentence_transformers.base.evaluation import BaseEvaluator

    class _SimmatchEvaluator(BaseEvaluator):
        def __init__(self) -> None:
            super().__init__()
            self.name = name
            self.primary_metric = f"{name}_{evaluator.primary_metric}"  # type: ignore[attr-defined]
            self.greater_is_better = True

        def __call__(self, model: Any, output_path: str | None = None, epoch: float = -1, steps: int = -1):
            metrics = evaluator(view(model))
            return {f"{name}_{k}": float(v) for k, v in metrics.items()}

    return _SimmatchEvaluator()
