"""A ``pipeline(task, model=...)`` facade with ModelScope's task names and input/output shapes, so
code from ModelScope model cards ports over by changing the import.

- ``sentence-embedding``: ``{"source_sentence": [s], "sentences_to_compare": [...]}`` →
  ``{"text_embedding": array, "scores": [...]}`` (scores only when candidates are given).
- ``sentence-similarity``: ``(text_a, text_b)`` or a list of pairs → ``{"labels": [...], "scores": [...]}``
  (labels sorted by probability, best first), or a list of those.
- ``text-ranking``: ``{"source_sentence": [q], "sentences_to_compare": [...]}`` → ``{"scores": [...]}``
  in input order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from simmatch.errors import InputError
from simmatch.models.embedder import Embedder
from simmatch.models.pair_classifier import PairClassifier

TASKS = ("sentence-embedding", "sentence-similarity", "text-ranking")


def _source_and_candidates(inputs: Any) -> tuple[str, list[str] | None]:
    if not isinstance(inputs, Mapping) or "source_sentence" not in inputs:
        raise InputError("input must be a dict with 'source_sentence' (and 'sentences_to_compare')")
    unknown = set(inputs) - {"source_sentence", "sentences_to_compare"}
    if unknown:
        raise InputError(f"unknown input field(s): {', '.join(sorted(unknown))}")
    src = inputs["source_sentence"]
    if isinstance(src, (list, tuple)):
        if len(src) != 1:
            raise InputError(f"source_sentence must hold one text, got {len(src)}")
        src = src[0]
    return src, inputs.get("sentences_to_compare")


class SentenceEmbeddingPipeline:
    def __init__(self, model: Embedder) -> None:
        self.model = model

    def __call__(self, inputs: Any) -> dict[str, Any]:
        src, candidates = _source_and_candidates(inputs)
        if candidates is None:
            return {"text_embedding": self.model.encode([src]), "scores": []}
        return self.model.compare(src, candidates)


class SentenceSimilarityPipeline:
    def __init__(self, model: PairClassifier) -> None:
        self.model = model

    def __call__(self, inputs: Any) -> Any:
        single = isinstance(inputs, tuple) and len(inputs) == 2 and all(isinstance(x, str) for x in inputs)
        pairs = [inputs] if single else inputs
        out = []
        for p in self.model.predict(pairs):
            if p.probabilities:
                ranked = sorted(p.probabilities.items(), key=lambda kv: -kv[1])
                out.append({"labels": [k for k, _ in ranked], "scores": [v for _, v in ranked]})
            else:
                out.append({"labels": [p.label], "scores": [p.score]})
        return out[0] if single else out


class TextRankingPipeline:
    def __init__(self, model: PairClassifier) -> None:
        self.model = model

    def __call__(self, inputs: Any) -> dict[str, Any]:
        src, candidates = _source_and_candidates(inputs)
        if candidates is None:
            raise InputError("text-ranking needs 'sentences_to_compare'")
        return {"scores": self.model.scores([(src, c) for c in candidates]).astype(float).tolist()}


def pipeline(task: str, model: str | Embedder | PairClassifier | None = None, **kwargs: Any) -> Any:
    """Build a ModelScope-style pipeline. ``model`` is a name/path or an already-loaded model;
    by default the built-in e5 (``sentence-embedding``), the built-in paraphrase cross-encoder
    ``paraphrase-zh`` (``sentence-similarity``) or relevance cross-encoder ``relevance-zh``
    (``text-ranking``)."""
    if task == "sentence-embedding":
        if isinstance(model, PairClassifier):
            raise InputError("sentence-embedding needs an embedding model, got a PairClassifier")
        emb = model if isinstance(model, Embedder) else Embedder(model or "multilingual-e5-small", **kwargs)
        return SentenceEmbeddingPipeline(emb)
    if task in ("sentence-similarity", "text-ranking"):
        if model is None:
            # The built-in cross-encoders: paraphrase yes/no for similarity, graded relevance for ranking.
            from simmatch.models.registry import DEFAULT_PARAPHRASE_MODEL, DEFAULT_RELEVANCE_MODEL

            model = DEFAULT_PARAPHRASE_MODEL if task == "sentence-similarity" else DEFAULT_RELEVANCE_MODEL
        if isinstance(model, Embedder):
            raise InputError(f"task {task!r} needs a cross-encoder (PairClassifier), got an Embedder")
        clf = model if isinstance(model, PairClassifier) else PairClassifier(model, **kwargs)
        return SentenceSimilarityPipeline(clf) if task == "sentence-similarity" else TextRankingPipeline(clf)
    raise InputError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
