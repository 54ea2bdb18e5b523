"""A ``pipeline(task, model=...)`` facade with ModelScope's task names and input/output shapes, so
code from ModelScope model cards ports over by changing the import::

    from simmatch import Tasks, pipeline

    pipeline_se = pipeline(Tasks.sentence_embedding, model="multilingual-e5-small")
    pipeline_se(input={"source_sentence": ["吃完海鲜可以喝牛奶吗?"], "sentences_to_compare": [...]})

- ``sentence-embedding``: ``{"source_sentence": [s], "sentences_to_compare": [...]}`` →
  ``{"text_embedding": (1 + n, dim) array, "scores": [n cosines]}``; with no (or empty)
  ``sentences_to_compare``, ``{"source_sentence": [s1, s2, ...]}`` → the embeddings of all of them
  and the scores of the first against the rest (``[]`` for one sentence).
- ``sentence-similarity``: ``(text_a, text_b)`` or a list of pairs → ``{"labels": [...], "scores": [...]}``
  (labels sorted by probability, best first), or a list of those.
- ``text-ranking``: ``{"source_sentence": [q], "sentences_to_compare": [...]}`` → ``{"scores": [...]}``
  in input order.

Pipelines take their input positionally or as ``input=``, as ModelScope's do. ModelScope's
``model_revision`` picks a hub revision (no effect on a built-in or a local directory, as in
ModelScope), ``device="gpu"`` means the default device (CUDA when available, else CPU), and
``sequence_length`` is the model's window (``max_seq_length`` / ``max_length``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from simmatch.errors import InputError
from simmatch.models.embedder import Embedder
from simmatch.models.pair_classifier import PairClassifier
from simmatch.models.registry import DEFAULT_EMBEDDER, resolve_model


class Tasks:
    """ModelScope's task names (``modelscope.utils.constant.Tasks``) for the tasks simmatch serves;
    the values are ModelScope's strings, so either spelling works."""

    sentence_embedding: Final = "sentence-embedding"
    sentence_similarity: Final = "sentence-similarity"
    text_ranking: Final = "text-ranking"


TASKS = (Tasks.sentence_embedding, Tasks.sentence_similarity, Tasks.text_ranking)


def _source_and_candidates(inputs: Any) -> tuple[list[str], list[str] | None]:
    if not isinstance(inputs, Mapping) or "source_sentence" not in inputs:
        raise InputError("input must be a dict with 'source_sentence' (and 'sentences_to_compare')")
    unknown = set(inputs) - {"source_sentence", "sentences_to_compare"}
    if unknown:
        raise InputError(f"unknown input field(s): {', '.join(sorted(unknown))}")
    src = inputs["source_sentence"]
    sources = list(src) if isinstance(src, (list, tuple)) else [src]
    candidates = inputs.get("sentences_to_compare")
    return sources, (list(candidates) if candidates is not None else None)


def _one_source(sources: list[str]) -> str:
    if len(sources) != 1:
        raise InputError(f"with sentences_to_compare, source_sentence must hold one text, got {len(sources)}")
    return sources[0]


class SentenceEmbeddingPipeline:
    def __init__(self, model: Embedder) -> None:
        self.model = model

    def __call__(self, input: Any) -> dict[str, Any]:
        sources, candidates = _source_and_candidates(input)
        if candidates:
            return self.model.compare(_one_source(sources), candidates)
        # No candidates: every source sentence is embedded, and the first is scored against the
        # rest (ModelScope's CoROM cards: "首个句子与其他句子的相似度").
        from simmatch.models._inputs import check_texts

        vectors = self.model.encode(check_texts(sources, "source_sentence"))
        return {"text_embedding": vectors, "scores": (vectors[1:] @ vectors[0]).astype(float).tolist()}


class SentenceSimilarityPipeline:
    def __init__(self, model: PairClassifier) -> None:
        self.model = model

    def __call__(self, input: Any) -> Any:
        single = isinstance(input, tuple) and len(input) == 2 and all(isinstance(x, str) for x in input)
        pairs = [input] if single else input
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

    def __call__(self, input: Any) -> dict[str, Any]:
        sources, candidates = _source_and_candidates(input)
        if not candidates:
            raise InputError("text-ranking needs 'sentences_to_compare'")
        src = _one_source(sources)
        return {"scores": self.model.scores([(src, c) for c in candidates]).astype(float).tolist()}


# ModelScope keywords → simmatch's (per model family); anything else is refused by name.
_EMBEDDER_OPTIONS = ("device", "backend", "max_seq_length", "long_text")
_CLASSIFIER_OPTIONS = ("device", "threshold", "max_length")


def _model_options(kwargs: dict[str, Any], accepted: tuple[str, ...], length_option: str) -> dict[str, Any]:
    options = dict(kwargs)
    options.pop("model_revision", None)  # used when the model is resolved
    if "sequence_length" in options:
        options[length_option] = options.pop("sequence_length")
    if options.get("device") == "gpu":  # ModelScope's default: a GPU when there is one
        options["device"] = None
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise InputError(
            f"unknown pipeline option(s): {', '.join(unknown)}; accepted: "
            f"{', '.join(sorted({*accepted, 'model_revision', 'sequence_length'}))}"
        )
    return options


def _no_options(kwargs: dict[str, Any]) -> None:
    if kwargs:
        raise InputError(
            f"option(s) {', '.join(sorted(kwargs))} apply when a pipeline loads its model; "
            "this model is already loaded"
        )


def _model_path(model: str | Path, kwargs: dict[str, Any]) -> str | Path:
    """A hub id with ``model_revision`` resolves here (the loaders take no revision)."""
    revision = kwargs.get("model_revision")
    return model if revision is None else resolve_model(model, revision=str(revision))


def pipeline(task: str, model: str | Path | Embedder | PairClassifier | None = None, **kwargs: Any) -> Any:
    """Build a ModelScope-style pipeline. ``model`` is a name/path or an already-loaded model.

    ``task`` is one of ``Tasks`` (ModelScope's strings). Without ``model``: the built-in e5
    (``sentence-embedding``), the built-in cross-encoders ``paraphrase-zh``
    (``sentence-similarity``) and ``relevance-zh`` (``text-ranking``). Keyword options:
    ``model_revision``, ``device``, ``sequence_length``, and the model class's own (``backend``,
    ``threshold``...)."""
    if task == Tasks.sentence_embedding:
        if isinstance(model, PairClassifier):
            raise InputError("sentence-embedding needs an embedding model, got a PairClassifier")
        if isinstance(model, Embedder):
            _no_options(kwargs)
            return SentenceEmbeddingPipeline(model)
        options = _model_options(kwargs, _EMBEDDER_OPTIONS, "max_seq_length")
        return SentenceEmbeddingPipeline(
            Embedder(str(_model_path(model or DEFAULT_EMBEDDER, kwargs)), **options)
        )
    if task in (Tasks.sentence_similarity, Tasks.text_ranking):
        if model is None:
            # The built-in cross-encoders: paraphrase yes/no for similarity, graded relevance for ranking.
            from simmatch.models.registry import DEFAULT_PARAPHRASE_MODEL, DEFAULT_RELEVANCE_MODEL

            model = DEFAULT_PARAPHRASE_MODEL if task == "sentence-similarity" else DEFAULT_RELEVANCE_MODEL
        if isinstance(model, Embedder):
            raise InputError(f"task {task!r} needs a cross-encoder (PairClassifier), got an Embedder")
        if isinstance(model, PairClassifier):
            _no_options(kwargs)
            clf = model
        else:
            options = _model_options(kwargs, _CLASSIFIER_OPTIONS, "max_length")
            clf = PairClassifier(_model_path(model, kwargs), **options)
        return (
            SentenceSimilarityPipeline(clf) if task == Tasks.sentence_similarity else TextRankingPipeline(clf)
        )
    raise InputError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
