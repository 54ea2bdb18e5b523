"""Evaluators: call one with a model, get ``dict[str, float]``; ``primary_metric`` names the headline.

They code against the model contract of docs/architecture.md through small protocols, so any object
with the same methods (a fake encoder in tests, a remote client) can be evaluated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from simmatch.data.dataset import PairDataset
from simmatch.data.examples import RetrievalTask
from simmatch.errors import InputError
from simmatch.evaluation.metrics import (
    average_precision,
    best_threshold,
    classification_metrics,
    correlation_metrics,
    retrieval_metrics,
    threshold_accuracy,
)
from simmatch.models.results import cosine_pairwise

SearchFn = Callable[[list[str], int], Sequence[Sequence[str]]]


class SupportsEncode(Protocol):
    """What :class:`EmbeddingSimilarityEvaluator` needs: ``Embedder.encode``."""

    def encode(self, texts: list[str], *, batch_size: int, normalize: bool, kind: str) -> np.ndarray: ...


class SupportsPredict(Protocol):
    """What :class:`PairClassificationEvaluator` needs: ``PairClassifier.predict``, returning objects
    with ``.label``, ``.probabilities`` and ``.score``."""

    def predict(self, pairs: list[tuple[str, str]], *, batch_size: int) -> Sequence[Any]: ...


def _require_labels(dataset: PairDataset, who: str) -> None:
    if not isinstance(dataset, PairDataset):
        raise InputError(f"{who} needs a PairDataset, got {type(dataset).__name__}")
    if dataset.label_type is None:
        raise InputError(f"{who} needs a labeled dataset; {dataset.name} has no label column")


def _gold_numbers(dataset: PairDataset) -> np.ndarray:
    """Scores as they are; class labels as numbers when they are numeric ("0", "1", "2"). Two
    non-numeric classes count as 0 and 1 in ``label_set`` order (the second is the positive class);
    more than two have no order to correlate with (entailment / neutral / contradiction) and raise
    ``InputError`` pointing to ``label_map``."""
    if dataset.label_type == "score":
        return np.asarray(dataset.labels, dtype=np.float64)
    labels = dataset.label_set or ()
    try:
        values = {label: float(label) for label in labels}
    except ValueError:
        if len(labels) > 2:
            example = ",".join(f"{label}=N" for label in labels)
            raise InputError(
                f"{dataset.name}: labels {', '.join(labels)} are not numbers, so a correlation with "
                f"them has no order; map each to a number or drop it with label_map (CLI: "
                f"--label-map {example}, N a number or drop)"
            ) from None
        values = {label: float(i) for i, label in enumerate(labels)}
    return np.asarray([values[str(label)] for label in dataset.labels], dtype=np.float64)


def _binary_ap(dataset: PairDataset, scores: np.ndarray) -> dict[str, float]:
    """``{"ap": ...}`` for binary class labels (the positive class against ``scores``), else ``{}``."""
    if not dataset.is_binary:
        return {}
    positives = [label == dataset.positive_label for label in dataset.labels]
    return {"ap": average_precision(scores, positives)}


def _encode(model: SupportsEncode, texts: list[str], batch_size: int, kind: str) -> np.ndarray:
    vectors = np.asarray(
        model.encode(texts, batch_size=batch_size, normalize=True, kind=kind), dtype=np.float32
    )
    if vectors.ndim != 2 or vectors.shape[0] != len(texts):
        raise InputError(f"encode returned shape {vectors.shape} for {len(texts)} texts")
    return vectors


def pair_cosines(
    model: SupportsEncode, dataset: PairDataset, *, batch_size: int = 32, kind: str = "query"
) -> np.ndarray:
    """Cosine similarity of each pair's two sentences; every distinct text is encoded once."""
    texts = list(dict.fromkeys(t for pair in dataset.pairs for t in pair))
    position = {t: i for i, t in enumerate(texts)}
    vectors = _encode(model, texts, batch_size, kind)
    a = vectors[[position[e.sentence1] for e in dataset]]
    b = vectors[[position[e.sentence2] for e in dataset]]
    # cosine_pairwise normalizes again: correct even for an encoder that ignores normalize=True.
    return cosine_pairwise(a, b).astype(np.float64)


class PairClassificationEvaluator:
    """Evaluates a ``PairClassifier`` on a labeled pair dataset through ``model.predict``.

    Class labels: ``accuracy``, ``macro_f1``, ``f1_<label>`` (the predicted ``.label`` must be one of
    the dataset's labels); primary metric ``accuracy`` for two classes, ``macro_f1`` for more. Two
    classes also give ``ap``, the average precision of ``.score`` (P(positive)) for the positive
    class (the last of ``label_set``), C-MTEB's pair-classification metric; it needs no threshold.
    Score labels (a regression head): ``spearman``, ``pearson`` of ``.score``; primary ``spearman``.
    """

    def __init__(self, dataset: PairDataset, *, primary_metric: str | None = None, batch_size: int = 32):
        _require_labels(dataset, "PairClassificationEvaluator")
        self.dataset = dataset
        self.batch_size = batch_size
        if dataset.label_type == "score":
            default, names = "spearman", ["spearman", "pearson"]
        else:
            default = "accuracy" if dataset.is_binary else "macro_f1"
            names = ["accuracy", "macro_f1", *(f"f1_{label}" for label in dataset.label_set or ())]
            names += ["ap"] if dataset.is_binary else []
        if primary_metric is not None and primary_metric not in names:
            raise InputError(f"primary_metric must be one of {', '.join(names)}, not {primary_metric!r}")
        self.primary_metric = primary_metric or default
        self.last_scores: np.ndarray | None = None
        self.last_threshold: float | None = None

    def plot(self, path: str | Path, *, title: str | None = None) -> Path:
        """PNG of the last evaluation's scores per gold label (see ``plot_scores``)."""
        return _plot_last(self, path, title)

    def __call__(self, model: SupportsPredict) -> dict[str, float]:
        predictions = list(model.predict(self.dataset.pairs, batch_size=self.batch_size))
        if len(predictions) != len(self.dataset):
            raise InputError(f"predict returned {len(predictions)} predictions for {len(self.dataset)} pairs")
        self.last_scores = np.asarray([float(p.score) for p in predictions], dtype=np.float64)
        # Binary heads predict the positive label when its probability (the score) is >= 0.5.
        self.last_threshold = 0.5 if self.dataset.is_binary else None
        if self.dataset.label_type == "score":
            return correlation_metrics(_gold_numbers(self.dataset), self.last_scores)
        metrics = classification_metrics(
            [str(label) for label in self.dataset.labels],
            [str(p.label) for p in predictions],
            labels=self.dataset.label_set or (),
        )
        return {**metrics, **_binary_ap(self.dataset, self.last_scores)}


class EmbeddingSimilarityEvaluator:
    """Evaluates an ``Embedder`` by the cosine similarity of each pair's embeddings.

    Always: ``spearman`` and ``pearson`` between cosine and the gold label (scores, or numeric class
    labels such as 0/1/2; more than two non-numeric classes are refused: map them with
    ``label_map`` when loading). Binary labels add ``ap``, the average precision of the cosine for
    the positive class (C-MTEB's pair-classification metric, no threshold needed). With
    ``threshold_from=dev`` (binary labels): the accuracy-maximising threshold is chosen on ``dev``
    (never on the evaluated data: the same pairs are refused) and ``threshold``, ``accuracy``,
    ``f1`` (positive class) on this dataset and ``dev_accuracy`` are added. ``kind`` is passed to
    ``encode`` (``"query"`` suits symmetric similarity with e5 prompts). Primary metric ``spearman``.
    """

    primary_metric = "spearman"

    def __init__(
        self,
        dataset: PairDataset,
        kind: str = "query",
        *,
        threshold_from: PairDataset | None = None,
        batch_size: int = 32,
    ):
        _require_labels(dataset, "EmbeddingSimilarityEvaluator")
        _gold_numbers(dataset)  # refuses labels without an order before any encoding
        if threshold_from is not None:
            _require_labels(threshold_from, "threshold_from")
            if set(threshold_from.examples) == set(dataset.examples):  # in any order
                raise InputError(
                    f"threshold_from holds the same pairs as {dataset.name}: choosing the threshold on "
                    "the evaluated split overstates accuracy; pass a dev split"
                )
            if not (dataset.is_binary and threshold_from.is_binary):
                raise InputError("threshold_from needs binary class labels in both datasets")
            if dataset.label_set != threshold_from.label_set:
                raise InputError(
                    f"label sets differ: {dataset.label_set} vs {threshold_from.label_set} (threshold_from)"
                )
        self.dataset = dataset
        self.threshold_from = threshold_from
        self.kind = kind
        self.batch_size = batch_size
        self.last_scores: np.ndarray | None = None
        self.last_threshold: float | None = None

    def plot(self, path: str | Path, *, title: str | None = None) -> Path:
        """PNG of the last evaluation's cosines per gold label, with the dev-chosen threshold."""
        return _plot_last(self, path, title)

    def _positives(self, dataset: PairDataset) -> np.ndarray:
        return np.asarray([label == dataset.positive_label for label in dataset.labels])

    def __call__(self, model: SupportsEncode) -> dict[str, float]:
        cosines = pair_cosines(model, self.dataset, batch_size=self.batch_size, kind=self.kind)
        self.last_scores, self.last_threshold = cosines, None
        metrics = correlation_metrics(_gold_numbers(self.dataset), cosines)
        metrics.update(_binary_ap(self.dataset, cosines))
        if self.threshold_from is not None:
            from sklearn.metrics import f1_score

            dev_cosines = pair_cosines(model, self.threshold_from, batch_size=self.batch_size, kind=self.kind)
            threshold, dev_accuracy = best_threshold(dev_cosines, self._positives(self.threshold_from))
            positives = self._positives(self.dataset)
            self.last_threshold = threshold
            metrics.update(
                threshold=threshold,
                accuracy=threshold_accuracy(cosines, positives, threshold),
                f1=float(f1_score(positives, cosines >= threshold, zero_division=0)),
                dev_accuracy=dev_accuracy,
            )
        return metrics


def _plot_last(evaluator: Any, path: str | Path, title: str | None) -> Path:
    from simmatch.evaluation.plots import plot_scores

    if evaluator.last_scores is None:
        raise InputError("nothing to plot yet: call the evaluator on a model first")
    dataset = evaluator.dataset
    # Continuous gold scores (STS-B 0–5) are grouped by their rounded value: one histogram each.
    labels = np.rint(_gold_numbers(dataset)).astype(int) if dataset.label_type == "score" else dataset.labels
    return plot_scores(evaluator.last_scores, list(labels), path, evaluator.last_threshold, title=title)


def embedding_search(
    model: SupportsEncode,
    corpus: Mapping[str, str],
    *,
    batch_size: int = 32,
    query_kind: str = "query",
    passage_kind: str = "passage",
) -> SearchFn:
    """An exact cosine search over ``corpus`` (id → text) with an ``Embedder``, as a ``search_fn``.

    The corpus is encoded once, here; the returned function encodes the queries and returns, per
    query, up to ``top_k`` document ids, best first (``simmatch.index.vectors.exact_search``, the
    exact search the index and hard-negative mining use).
    """
    from simmatch.index.vectors import exact_search

    if not corpus:
        raise InputError("corpus must not be empty")
    ids = list(corpus)
    vectors = _encode(model, [corpus[i] for i in ids], batch_size, passage_kind)

    def search(queries: list[str], top_k: int) -> list[list[str]]:
        q = _encode(model, list(queries), batch_size, query_kind)
        _, found = exact_search(q, vectors, top_k, "cosine")
        return [[ids[j] for j in row] for row in found]

    return search


class RetrievalEvaluator:
    """Evaluates a search over a :class:`RetrievalTask`: ``mrr@10``, ``ndcg@10``, ``recall@1/10/50``.

    ``search_fn(queries, top_k)`` returns, per query, document ids of ``task.corpus``, best first.
    When it is given, the model passed to ``__call__`` is not used (the evaluator measures that
    search); without it, ``__call__(embedder)`` searches with :func:`embedding_search`. Documents in
    ``task.exclude[qid]`` are removed from a query's ranking before scoring (more are requested to
    make up for them). Primary metric ``ndcg@<cutoff>``.
    """

    def __init__(
        self,
        task: RetrievalTask,
        search_fn: SearchFn | None = None,
        *,
        ks: Sequence[int] = (1, 10, 50),
        cutoff: int = 10,
        batch_size: int = 32,
    ):
        if not isinstance(task, RetrievalTask):
            raise InputError(f"RetrievalEvaluator needs a RetrievalTask, got {type(task).__name__}")
        if not task.relevant:
            raise InputError(f"task {task.name!r} has no query with a relevant document")
        self.task = task
        self.search_fn = search_fn
        self.ks = tuple(ks)
        self.cutoff = cutoff
        self.batch_size = batch_size
        self.primary_metric = f"ndcg@{cutoff}"

    def __call__(self, model: SupportsEncode | None = None) -> dict[str, float]:
        if self.search_fn is not None:
            search = self.search_fn
        elif model is None:
            raise InputError("RetrievalEvaluator needs a search_fn or a model to search with")
        else:
            search = embedding_search(model, self.task.corpus, batch_size=self.batch_size)
        qids = list(self.task.relevant)
        depth = max((*self.ks, self.cutoff))
        extra = max((len(self.task.exclude.get(q, ())) for q in qids), default=0)
        results = search([self.task.queries[q] for q in qids], depth + extra)
        if len(results) != len(qids):
            raise InputError(f"search_fn returned {len(results)} rankings for {len(qids)} queries")
        ranked: dict[str, list[str]] = {}
        for qid, result in zip(qids, results, strict=True):
            for doc in result:
                if doc not in self.task.corpus:
                    raise InputError(f"search_fn returned {doc!r}, not a document id of {self.task.name!r}")
            excluded = self.task.exclude.get(qid, set())
            ranked[qid] = [doc for doc in result if doc not in excluded][:depth]
        return retrieval_metrics(ranked, self.task.relevant, self.ks, cutoff=self.cutoff)
