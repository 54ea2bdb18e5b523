"""The index's vocabulary, declared once: search modes, rerank fusions, the settings fixed at
creation (``IndexConfig``) and their defaults. The CLI and the HTTP schemas derive their choices
and defaults from here.

Why ``hybrid`` is the default mode: on both retrieval tasks measured in ``docs/retrieval.md``
(QBQTC and LCQMC, built-in e5, exact index) reciprocal-rank fusion of dense and BM25 ranks above
dense alone (MRR@10 0.787 vs 0.765 and 0.887 vs 0.864), so every door searches that way unless
told otherwise. Why ``rrf`` is the default rerank fusion: on the same two tasks, ordering the
reranked head by RRF of first-stage rank and reranker rank beat ordering it by the reranker score
alone (MRR@10 0.807 vs 0.754 on QBQTC, 0.867 vs 0.826 on LCQMC), because a small cross-encoder's
pointwise scores order near-paraphrases worse than the first stage does.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from collections.abc import Sequence
from typing import Any, Literal, get_args

import numpy as np

from simmatch.errors import InputError
from simmatch.index.tokenize import TOKENIZERS
from simmatch.index.vectors import ANN_CHOICES, METRICS, AnnParams

Mode = Literal["dense", "bm25", "hybrid"]
MODES: tuple[str, ...] = get_args(Mode)
DEFAULT_MODE: Mode = "hybrid"

RerankFusion = Literal["replace", "rrf"]
RERANK_FUSIONS: tuple[str, ...] = get_args(RerankFusion)
DEFAULT_RERANK_FUSION: RerankFusion = "rrf"

DEFAULT_TOP_K = 10
DEFAULT_RERANK_TOP_K = 50
FUSION_CANDIDATES = 100  # each retriever's list length fed to RRF (at least the wanted depth)


def positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    return value


def choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise InputError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")
    return value


@dataclasses.dataclass(frozen=True)
class IndexConfig:
    """What ``Index.create`` records (validated here; the defaults are the ones every door uses).

    metric: ``"cosine"`` (vectors normalized, inner product), ``"ip"`` (raw inner product) or
        ``"l2"`` (score = minus squared Euclidean distance).
    ann: ``"flat"`` always searches exactly; ``"hnsw"`` / ``"ivf"`` switch to that ANN index once
        the index holds ``ann_threshold`` documents (and back to flat below half of it);
        ``"auto"`` = ``"hnsw"`` (no training step, incremental adds; see ``docs/index_scale.md``).
    ann_threshold: document count at which an ANN index replaces exact search.
    tokenizer: BM25 tokenizer, see ``simmatch.index.tokenize``.
    ann_params: HNSW / IVF parameters (``AnnParams``).
    passage_kind / query_kind: the ``kind=`` passed to ``encoder.encode`` for documents and
        queries (the e5 prompts).
    """

    metric: str = "cosine"
    ann: str = "auto"
    ann_threshold: int = 50_000
    tokenizer: str = "auto"
    ann_params: AnnParams = dataclasses.field(default_factory=AnnParams)
    passage_kind: str = "passage"
    query_kind: str = "query"

    def __post_init__(self) -> None:
        choice("metric", self.metric, METRICS)
        choice("ann", self.ann, ANN_CHOICES)
        choice("tokenizer", self.tokenizer, TOKENIZERS)
        positive_int("ann_threshold", self.ann_threshold)
        if not isinstance(self.ann_params, AnnParams):
            raise InputError(f"ann_params must be an AnnParams, got {type(self.ann_params).__name__}")
        for name in ("passage_kind", "query_kind"):
            if not isinstance(getattr(self, name), str):
                raise InputError(f"{name} must be a string, got {getattr(self, name)!r}")

    @property
    def normalize(self) -> bool:
        """Whether vectors are L2-normalized (``metric="cosine"``)."""
        return self.metric == "cosine"

    def as_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``Index.create`` that give this config."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def record(self, model_name: str, dim: int, fingerprint: np.ndarray) -> dict[str, Any]:
        """The settings stored in a new index (with the encoder's identity and fingerprint)."""
        return {
            "model_name": model_name,
            "dim": dim,
            "normalize": self.normalize,
            "metric": self.metric,
            "passage_kind": self.passage_kind,
            "query_kind": self.query_kind,
            "tokenizer": self.tokenizer,
            "ann": self.ann,
            "ann_threshold": self.ann_threshold,
            "ann_params": dataclasses.asdict(self.ann_params),
            "fingerprint": [round(float(x), 6) for x in fingerprint],
            "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "generation": 0,
        }


INDEX_DEFAULTS = IndexConfig()
