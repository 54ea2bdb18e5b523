"""Single tower (cross-encoder): a text pair → a label with per-label probabilities, or a score.

Built on transformers' ``AutoModelForSequenceClassification``: the label names come from the
model config's ``id2label``, so a QBQTC model says "0"/"1"/"2" and a paraphrase model says
"0"/"1" (or whatever it was trained with). A one-output head is a regression head: its score is
``sigmoid(logit)`` in [0, 1] and its label comes from ``threshold``.

``backend`` picks how the model runs (``simmatch.models.backends.BACKENDS``): ``"torch"`` (the
reference), ``"onnx"`` or ``"onnx-int8"`` (onnxruntime on the CPU, exported and cached by the same
mechanism as the embedder's, ``simmatch.models.onnx_pair``). Every backend sees the same token
ids: pairs are tokenized once, batched longest first by token count (similar lengths share a
batch, so little compute goes to padding), and results come back in input order.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from simmatch.errors import InputError
from simmatch.models._checks import check_trained_head
from simmatch.models._inputs import check_pairs, check_text, check_texts, check_top_k
from simmatch.models._loading import quiet_loading
from simmatch.models.heads import is_pooled_head, load_pooled_head, sequence_classifier
from simmatch.models.registry import builtin_name, resolve_model
from simmatch.models.results import (
    THRESHOLD_LABELS,
    PairPrediction,
    RankedDocument,
    predictions_from_logits,
    rank_by_scores,
)
from simmatch.models.torch_backend import TorchPairBackend

if TYPE_CHECKING:
    from simmatch.models.backends import PairBackend

__all__ = ["PairClassifier", "PairClassifierConfig", "PairPrediction", "encode_pairs"]

logger = logging.getLogger(__name__)

CONFIG_NAME = "simmatch.json"


@dataclass(frozen=True)
class PairClassifierConfig:
    """Saved beside the weights as ``simmatch.json``."""

    threshold: float = 0.5
    threshold_labels: tuple[str, str] = THRESHOLD_LABELS
    max_length: int = 512
    #: Added to the logits before the softmax (one per label; empty = plain argmax): a decision rule
    #: tuned on dev data by ``PairClassifier.tune_decision``.
    logit_offsets: tuple[float, ...] = ()
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
        backend: str = "torch",
        logit_offsets: Sequence[float] | None = None,
    ) -> None:
        """``threshold``, ``max_length``, ``logit_offsets``: override the values saved with the model
        (``logit_offsets=()`` decides by the plain argmax)."""
        from simmatch.models.backends import check_backend, load_pair_backend

        self.model_name = builtin_name(str(model)) or str(model)
        self.path = resolve_model(model)
        kind = check_backend(backend)
        path = Path(self.path)
        if _kind(path) == "ensemble":  # several models combined (simmatch.ensemble)
            from simmatch.ensemble.model import load_ensemble
            from simmatch.settings import default_device

            # Every member runs on the chosen backend; the combiner is a few numbers in numpy.
            self.device = "cpu" if kind != "torch" else device or default_device()
            self.model = load_ensemble(
                self.path,
                load_member=partial(PairClassifier, backend=backend),
                device=self.device,
                backend=backend,
            )
            self.tokenizer = None
            self._backend: PairBackend = TorchPairBackend(self.model, self.tokenizer, self.device)
        elif kind == "torch":
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            from simmatch.settings import default_device

            self.device = device or default_device()
            if is_pooled_head(self.path):  # a head on pooled token states (simmatch.models.heads)
                with quiet_loading():
                    self.model, self.tokenizer = load_pooled_head(self.path, self.device)
            else:
                self.tokenizer = AutoTokenizer.from_pretrained(self.path)
                with quiet_loading():
                    self.model, loading = AutoModelForSequenceClassification.from_pretrained(
                        self.path, output_loading_info=True
                    )
                check_trained_head(self.model, loading, self.model_name, self.path)
            self.model.to(self.device).eval()
            self._backend = TorchPairBackend(self.model, self.tokenizer, self.device)
        else:  # onnxruntime on the CPU; loading a cached export imports no PyTorch
            self.device = "cpu"
            self.model = None
            self._backend = load_pair_backend(backend, self.path)
            self.tokenizer = self._backend.tokenizer
        self.backend = backend
        saved = _read_config(Path(self.path))
        self.config = PairClassifierConfig(
            threshold=saved.threshold if threshold is None else float(threshold),
            threshold_labels=saved.threshold_labels,
            max_length=int(max_length or min(saved.max_length, self._model_max_length())),
            logit_offsets=saved.logit_offsets if logit_offsets is None else tuple(map(float, logit_offsets)),
            extra=saved.extra,
        )
        if not 0.0 <= self.config.threshold <= 1.0:
            raise InputError(f"threshold must be in [0, 1], got {self.config.threshold}")
        offsets = self.config.logit_offsets
        if offsets and (self.is_regression or len(offsets) != len(self.labels)):
            raise InputError(
                f"{'logit_offsets' if logit_offsets is not None else Path(self.path) / CONFIG_NAME}: "
                f"{len(offsets)} logit_offsets for "
                f"{'a regression head' if self.is_regression else f'the labels {self.labels}'}"
            )

    @classmethod
    def _wrap(
        cls, name: str, path: str, model: Any, tokenizer: Any, device: str, config: PairClassifierConfig
    ) -> PairClassifier:
        """A torch-backend classifier over a model and tokenizer already in memory; the config's
        ``max_length`` is capped at what the model can read."""
        self = cls.__new__(cls)
        self.model_name = name
        self.path = path
        self.device = device
        self.backend = "torch"
        self.tokenizer = tokenizer
        self.model = model
        self._backend = TorchPairBackend(model, tokenizer, device)
        self.config = replace(config, max_length=min(config.max_length, self._model_max_length()))
        return self

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
        from simmatch.settings import default_device

        device = device or default_device()
        tokenizer = AutoTokenizer.from_pretrained(path)
        with quiet_loading():
            model = AutoModelForSequenceClassification.from_pretrained(path, **kwargs)
        model.to(device).eval()
        name = builtin_name(str(base_model)) or str(base_model)
        config = PairClassifierConfig(threshold=threshold, max_length=max_length)
        return cls._wrap(name, path, model, tokenizer, device, config)

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
        config = PairClassifierConfig(threshold=float(threshold), threshold_labels=(negative, positive))
        device = str(cross_encoder.device)
        model = sequence_classifier(cross_encoder)  # its transformers model, or a pooled head
        return cls._wrap(name, name, model, cross_encoder.tokenizer, device, config)

    def save(self, path: str | Path) -> Path:
        """Weights, tokenizer and ``simmatch.json`` in one directory that ``PairClassifier`` loads."""
        if hasattr(self.model, "pair_logits"):  # an ensemble saves its members and combiner
            return self.save_settings(Path(self.model.save(path)))
        if self.model is None:
            raise InputError(
                f"save() writes PyTorch weights; this classifier runs on backend={self.backend!r}. "
                "Load it with backend='torch' to save it"
            )
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(out)
        self.tokenizer.save_pretrained(out)
        return self.save_settings(out)

    def save_settings(self, path: str | Path | None = None) -> Path:
        """Write this classifier's settings (threshold, labels, ``max_length``, ``logit_offsets``) to
        ``simmatch.json`` in ``path`` (default: the directory it was loaded from), keeping the file's
        other keys (an ensemble's members and combiner), so the next load decides the same way."""
        out = Path(self.path if path is None else path)
        if not out.is_dir():
            raise InputError(f"save_settings: {out} is not a model directory")
        file = out / CONFIG_NAME
        data: dict[str, Any] = {"kind": "pair-classifier"}
        if file.exists():
            try:
                data = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise InputError(f"{file}: cannot read simmatch config: {exc}") from exc
        settings = asdict(self.config)
        settings["threshold_labels"] = list(self.config.threshold_labels)
        settings["logit_offsets"] = list(self.config.logit_offsets)
        data.update(settings)
        tmp = file.with_name(file.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(file)  # atomic: a reader sees the old file or the new one
        return out

    def tune_decision(
        self,
        pairs: Sequence[tuple[str, str]],
        labels: Sequence[str],
        *,
        metric: str = "macro_f1",
        batch_size: int = 32,
    ) -> dict[str, Any]:
        """Fit per-label ``logit_offsets`` on labeled dev pairs (never a reported split) so the argmax
        decision maximises ``metric`` (``"macro_f1"`` or ``"accuracy"``), and use them from now on;
        ``save_settings()`` keeps them. Returns ``{"metric", "logit_offsets", "before", "after"}``
        (the metric on ``pairs`` without and with the offsets)."""
        from simmatch.evaluation.metrics import best_logit_offsets

        if self.is_regression:
            raise InputError("tune_decision needs a classification head; a regression head has a threshold")
        unknown = sorted({str(y) for y in labels} - set(self.labels))
        if unknown:
            raise InputError(f"dev label {unknown[0]!r} is not one of the model's labels {self.labels}")
        logits = self.logits(pairs, batch_size=batch_size)
        y = np.array([self.labels.index(str(v)) for v in labels])
        _, before = best_logit_offsets(logits, y, metric=metric, rounds=0)
        offsets, after = best_logit_offsets(logits, y, metric=metric)
        self.config = replace(self.config, logit_offsets=offsets)
        return {"metric": metric, "logit_offsets": list(offsets), "before": before, "after": after}

    # ------------------------------------------------------------------ properties
    @property
    def is_regression(self) -> bool:
        return self._backend.num_labels == 1

    @property
    def labels(self) -> list[str]:
        """Label names in logit order; for regression, the two threshold labels."""
        if self.is_regression:
            return list(self.config.threshold_labels)
        id2label = self._backend.id2label
        return [id2label[i] for i in range(self._backend.num_labels)]

    def _model_max_length(self) -> int:
        positions = self._backend.max_positions
        tok = getattr(self.tokenizer, "model_max_length", positions) or positions
        return int(min(positions, tok, 8192))

    # ------------------------------------------------------------------ inference
    def count_tokens(self, pairs: Sequence[tuple[str, str]]) -> list[int]:
        """Tokens each pair costs the model (special tokens included; a pair longer than
        ``max_length`` costs ``max_length``, as it is truncated), with any backend's tokenizer."""
        if hasattr(self.model, "members"):  # an ensemble: every member reads every pair
            return [sum(c) for c in zip(*(m.count_tokens(pairs) for m in self.model.members))]
        ids, _ = encode_pairs(self.tokenizer, check_pairs(pairs), self.config.max_length)
        return [len(x) for x in ids]

    def logits(
        self, pairs: Sequence[tuple[str, str]], *, batch_size: int = 32, show_progress: bool | None = None
    ) -> np.ndarray:
        """Raw head outputs, shape (n, num_labels), in input order. Pairs are batched longest
        first by token count. Pairs longer than ``max_length`` are truncated longest-first with a
        warning (cross-encoders see both texts at once, so windows of one side would change the
        task)."""
        checked = check_pairs(pairs)
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        if hasattr(self.model, "pair_logits"):  # an ensemble runs its own members
            return np.asarray(self.model.pair_logits(checked, batch_size=batch_size), dtype=np.float32)
        limit = self.config.max_length
        ids, types = encode_pairs(self.tokenizer, checked)
        long = [i for i, x in enumerate(ids) if len(x) > limit]
        if long:
            cut_ids, cut_types = encode_pairs(self.tokenizer, [checked[i] for i in long], limit)
            for j, i in enumerate(long):
                ids[i], types[i] = cut_ids[j], cut_types[j]
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        out = np.zeros((len(checked), self._backend.num_labels), dtype=np.float32)
        if show_progress is None:
            show_progress = len(checked) >= 1024
        progress = None
        if show_progress:
            from tqdm.auto import tqdm

            progress = tqdm(total=len(checked), desc="predict", unit="pair", leave=False)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            out[idx] = self._backend.logits(self._pad([ids[i] for i in idx], [types[i] for i in idx]))
            if progress is not None:
                progress.update(len(idx))
        if progress is not None:
            progress.close()
        if long:
            warnings.warn(
                f"{len(long)} pair(s) longer than max_length={limit} tokens were "
                "truncated (longest side first)",
                stacklevel=2,
            )
        return out

    def _pad(self, ids: list[list[int]], types: list[list[int]]) -> dict[str, np.ndarray]:
        """Right-padded ``input_ids``, ``attention_mask`` (and ``token_type_ids`` when the model
        reads them) for one batch."""
        width = max(len(x) for x in ids)
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        input_ids = np.full((len(ids), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        token_types = np.zeros((len(ids), width), dtype=np.int64)
        for row, (x, t) in enumerate(zip(ids, types)):
            input_ids[row, : len(x)] = x
            mask[row, : len(x)] = 1
            token_types[row, : len(t)] = t
        features = {"input_ids": input_ids, "attention_mask": mask}
        if self._backend.needs_token_types:
            features["token_type_ids"] = token_types
        return features

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
            logit_offsets=self.config.logit_offsets,
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
        return f"PairClassifier({self.model_name!r}, {head}, backend={self.backend!r})"


def encode_pairs(
    tokenizer: Any, pairs: Sequence[tuple[str, str]], max_length: int | None = None
) -> tuple[list[list[int]], list[list[int]]]:
    """Token ids and token type ids of each pair (special tokens included), with either backend's
    tokenizer: the ONNX backends' torch-free ``FastTokenizer`` or a transformers tokenizer. With
    ``max_length`` the longer side is cut first (``truncation="longest_first"``)."""
    first = [a for a, _ in pairs]
    second = [b for _, b in pairs]
    if hasattr(tokenizer, "encode_pairs"):
        ids, types = tokenizer.encode_pairs(first, second, max_length)
        return [list(x) for x in ids], [list(t) for t in types]
    cut: dict[str, Any] = {"truncation": False}
    if max_length is not None:
        cut = {"truncation": "longest_first", "max_length": max_length}
    enc = tokenizer(first, second, return_token_type_ids=True, verbose=False, **cut)
    return [list(x) for x in enc["input_ids"]], [list(t) for t in enc["token_type_ids"]]


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
    try:
        offsets = tuple(float(v) for v in data.get("logit_offsets") or ())
    except (TypeError, ValueError) as exc:
        raise InputError(f"{file}: logit_offsets must be a list of numbers: {exc}") from exc
    return PairClassifierConfig(
        threshold=float(data.get("threshold", 0.5)),
        threshold_labels=tuple(data.get("threshold_labels", THRESHOLD_LABELS)),  # type: ignore[arg-type]
        max_length=int(data.get("max_length", 512)),
        logit_offsets=offsets,
        extra=dict(data.get("extra", {})),
    )
