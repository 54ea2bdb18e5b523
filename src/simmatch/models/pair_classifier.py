"""Single tower (cross-encoder): a text pair → a label with per-label probabilities, or a score.

Built on transformers' ``AutoModelForSequenceClassification``: the label names come from the
model config's ``id2label``, so a QBQTC model says "0"/"1"/"2" and a paraphrase model says
"0"/"1" (or whatever it was trained with). A one-output head is a regression head: its score is
``sigmoid(logit)`` in [0, 1] and its label comes from ``threshold``.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simmatch.errors import InputError
from simmatch.models._checks import check_trained_head
from simmatch.models._inputs import check_pairs, check_text, check_texts, check_top_k
from simmatch.models.heads import is_pooled_head, load_pooled_head, sequence_classifier
from simmatch.models.registry import builtin_name, resolve_model
from simmatch.models.results import (
    THRESHOLD_LABELS,
    PairPrediction,
    RankedDocument,
    predictions_from_logits,
    rank_by_scores,
)

__all__ = ["PairClassifier", "PairClassifierConfig", "PairPrediction"]

logger = logging.getLogger(__name__)

CONFIG_NAME = "simmatch.json"


@dataclass(frozen=True)
class PairClassifierConfig:
    """Saved beside the weights as ``simmatch.json``."""

    threshold: float = 0.5
    threshold_labels: tuple[str, str] = THRESHOLD_LABELS
    max_length: int = 512
    extra: dict[str, Any] = field(default_factory=dict)


class PairClassifier:
    """Classify or score text pairs with a cross-encoder.

    >>> clf = PairClassifier("path/to/qbqtc-model")
    >>> clf.predict([("吃完海鲜可以喝牛奶吗?", "吃海鲜不能同时喝牛奶吃水果")])[0].label
    '2'
    """

    model: Any  # a transformers sequence classifier, a pooled-head model or an ensemble
    tokenizer: Any

    def __init__(
        self,
        model: str | Path,
        *,
        device: str | None = None,
        threshold: float | None = None,
        max_length: int | None = None,
    ) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from simmatch.settings import default_device

        self.model_name = builtin_name(str(model)) or str(model)
        self.path = resolve_model(model)
        self.device = device or default_device()
        if _kind(Path(self.path)) == "ensemble":  # several models combined (simmatch.ensemble)
            from simmatch.ensemble.model import load_ensemble

            self.model = load_ensemble(self.path, load_member=PairClassifier, device=self.device)
            self.tokenizer = None
        elif is_pooled_head(self.path):  # a head on pooled token states (simmatch.models.heads)
            self.model, self.tokenizer = load_pooled_head(self.path, self.device)
        else:
            self.tokenizer = AutoTokenizer.from_pretrained(self.path)
            self.model, loading = AutoModelForSequenceClassification.from_pretrained(
                self.path, output_loading_info=True
            )
            check_trained_head(self.model, loading, self.model_name, self.path)
        self.model.to(self.device).eval()
        saved = _read_config(Path(self.path))
        self.config = PairClassifierConfig(
            threshold=saved.threshold if threshold is None else float(threshold),
            threshold_labels=saved.threshold_labels,
            max_length=int(max_length or min(saved.max_length, self._model_max_length())),
            extra=saved.extra,
        )
        if not 0.0 <= self.config.threshold <= 1.0:
            raise InputError(f"threshold must be in [0, 1], got {self.config.threshold}")

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(
        cls,
        base_model: str | Path,
        labels: Sequence[str] | None,
        *,
        device: str | None = None,
        max_length: int = 512,
        threshold: float = 0.5,
    ) -> PairClassifier:
        """A fresh classification head (``labels``) or regression head (``labels=None``) on a
        pretrained encoder, ready for training."""
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        path = resolve_model(base_model)
        if labels is not None:
            labels = [str(x) for x in labels]
            if len(labels) < 2 or len(set(labels)) != len(labels):
                raise InputError(f"labels must be at least two distinct names, got {labels}")
            id2label = dict(enumerate(labels))
            kwargs: dict[str, Any] = {
                "num_labels": len(labels),
                "id2label": id2label,
                "label2id": {v: k for k, v in id2label.items()},
            }
        else:
            kwargs = {"num_labels": 1, "id2label": {0: "score"}, "label2id": {"score": 0}}
        self = cls.__new__(cls)
        self.model_name = builtin_name(str(base_model)) or str(base_model)
        self.path = path
        from simmatch.settings import default_device

        self.device = device or default_device()
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForSequenceClassification.from_pretrained(path, **kwargs)
        self.model.to(self.device).eval()
        self.config = PairClassifierConfig(
            threshold=threshold, max_length=min(max_length, self._model_max_length())
        )
        return self

    @classmethod
    def from_cross_encoder(
        cls,
        cross_encoder: Any,
        *,
        threshold: float = PairClassifierConfig.threshold,
        threshold_labels: Sequence[str] = PairClassifierConfig.threshold_labels,
        name: str = "in-memory",
    ) -> PairClassifier:
        """A ``PairClassifier`` over a sentence-transformers ``CrossEncoder`` already in memory
        (training's live model): its transformers model and tokenizer, read the way a saved
        model is read. Each call runs the model in eval mode and restores its mode."""
        if len(threshold_labels) != 2:
            raise InputError(f"threshold_labels must be two names (negative, positive): {threshold_labels}")
        if not 0.0 <= threshold <= 1.0:
            raise InputError(f"threshold must be in [0, 1], got {threshold}")
        negative, positive = (str(x) for x in threshold_labels)
        self = cls.__new__(cls)
        self.model_name = name
        self.path = name
        self.device = str(cross_encoder.device)
        self.tokenizer = cross_encoder.tokenizer
        self.model = sequence_classifier(cross_encoder)
        self.config = PairClassifierConfig(
            threshold=float(threshold),
            threshold_labels=(negative, positive),
            max_length=min(PairClassifierConfig.max_length, self._model_max_length()),
        )
        return self

    def save(self, path: str | Path) -> Path:
        """Weights, tokenizer and ``simmatch.json`` in one directory that ``PairClassifier`` loads."""
        if hasattr(self.model, "pair_logits"):  # an ensemble saves its members and combiner
            return Path(self.model.save(path))
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(out)
        self.tokenizer.save_pretrained(out)
        data = asdict(self.config)
        data["threshold_labels"] = list(self.config.threshold_labels)
        data["kind"] = "pair-classifier"
        (out / CONFIG_NAME).write_text(
            json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        return out

    # ------------------------------------------------------------------ properties
    @property
    def is_regression(self) -> bool:
        return int(self.model.config.num_labels) == 1

    @property
    def labels(self) -> list[str]:
        """Label names in logit order; for regression, the two threshold labels."""
        if self.is_regression:
            return list(self.config.threshold_labels)
        id2label = self.model.config.id2label
        return [str(id2label[i]) for i in range(int(self.model.config.num_labels))]

    def _model_max_length(self) -> int:
        positions = getattr(self.model.config, "max_position_embeddings", 512) or 512
        tok = getattr(self.tokenizer, "model_max_length", positions) or positions
        return int(min(positions, tok, 8192))

    # ------------------------------------------------------------------ inference
    def logits(
        self, pairs: Sequence[tuple[str, str]], *, batch_size: int = 32, show_progress: bool | None = None
    ) -> np.ndarray:
        """Raw head outputs, shape (n, num_labels). Pairs longer than ``max_length`` are truncated
        longest-first with a warning (cross-encoders see both texts at once, so windows of one
        side would change the task)."""
        import torch

        checked = check_pairs(pairs)
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        if hasattr(self.model, "pair_logits"):  # an ensemble runs its own members
            return self.model.pair_logits(checked, batch_size=batch_size)
        order = sorted(range(len(checked)), key=lambda i: -(len(checked[i][0]) + len(checked[i][1])))
        out = np.zeros((len(checked), int(self.model.config.num_labels)), dtype=np.float32)
        truncated = 0
        if show_progress is None:
            show_progress = len(checked) >= 1024
        progress = None
        if show_progress:
            from tqdm.auto import tqdm

            progress = tqdm(total=len(checked), desc="predict", unit="pair", leave=False)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            a = [checked[i][0] for i in idx]
            b = [checked[i][1] for i in idx]
            full = self.tokenizer(a, b, truncation=False, verbose=False)
            truncated += sum(len(x) > self.config.max_length for x in full["input_ids"])
            enc = self.tokenizer(
                a,
                b,
                truncation="longest_first",
                max_length=self.config.max_length,
                padding=True,
                return_tensors="pt",
            )
            enc = {k: v.to(self.device) for k, v in enc.items()}
            was_training = self.model.training
            self.model.eval()
            try:
                with torch.inference_mode():
                    logits = self.model(**enc).logits.float().cpu().numpy()
            finally:
                self.model.train(was_training)
            out[idx] = logits
            if progress is not None:
                progress.update(len(idx))
        if progress is not None:
            progress.close()
        if truncated:
            warnings.warn(
                f"{truncated} pair(s) longer than max_length={self.config.max_length} tokens were "
                "truncated (longest side first)",
                stacklevel=2,
            )
        return out

    def predict(
        self, pairs: Sequence[tuple[str, str]], *, batch_size: int = 32, show_progress: bool | None = None
    ) -> list[PairPrediction]:
        """One ``PairPrediction`` per pair, in input order."""
        logits = self.logits(pairs, batch_size=batch_size, show_progress=show_progress)
        return predictions_from_logits(
            logits,
            self.labels,
            threshold=self.config.threshold,
            threshold_labels=self.config.threshold_labels,
        )

    def scores(self, pairs: Sequence[tuple[str, str]], *, batch_size: int = 32) -> np.ndarray:
        """Relevance score per pair (higher = better match), float32 (n,)."""
        return np.array([p.score for p in self.predict(pairs, batch_size=batch_size)], dtype=np.float32)

    def rank(
        self, query: str, documents: Sequence[str], top_k: int | None = None, *, batch_size: int = 32
    ) -> list[RankedDocument]:
        """Documents sorted by relevance to ``query``, best first; ``top_k`` keeps the first k."""
        check_text(query, "query")
        docs = check_texts(documents, "documents")
        check_top_k(top_k)
        return rank_by_scores(self.scores([(query, d) for d in docs], batch_size=batch_size), docs, top_k)

    def __repr__(self) -> str:
        head = "regression" if self.is_regression else f"labels={self.labels}"
        return f"PairClassifier({self.model_name!r}, {head})"


def _kind(path: Path) -> str | None:
    """The ``kind`` field of a directory's ``simmatch.json`` (``"ensemble"``, …), if any."""
    try:
        return json.loads((path / CONFIG_NAME).read_text(encoding="utf-8")).get("kind")
    except (OSError, json.JSONDecodeError, AttributeError):
        return None


def _read_config(path: Path) -> PairClassifierConfig:
    file = path / CONFIG_NAME
    if not file.exists():
        return PairClassifierConfig()
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{file}: cannot read simmatch config: {exc}") from exc
    return PairClassifierConfig(
        threshold=float(data.get("threshold", 0.5)),
        threshold_labels=tuple(data.get("threshold_labels", THRESHOLD_LABELS)),  # type: ignore[arg-type]
        max_length=int(data.get("max_length", 512)),
        extra=dict(data.get("extra", {})),
    )
