"""The service's engine: the loaded models behind an async API (``embed``, ``similarity``,
``compare``, ``rerank``, ``search``) that computes what the library computes, so each HTTP route is
parse → one engine call → format.

Model calls go through the batchers (``batching.py``): they run in one worker thread, and the items
of concurrent requests share model batches. What is done with the vectors and predictions that
come back is the library's own code (``simmatch.models.results``: pairwise cosine, the
ModelScope compare output, ranking), so the numbers, order and labels equal ``Embedder`` /
``PairClassifier`` for the same input."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from simmatch.models.embedder import KINDS, Kind
from simmatch.models.registry import builtin_name
from simmatch.models.results import compare_result, cosine_pairwise, rank_by_scores
from simmatch.service.batching import Batcher, ModelWorker

if TYPE_CHECKING:
    from simmatch.models import Embedder, PairClassifier, PairPrediction, RankedDocument
    from simmatch.service.settings import ServiceSettings

logger = logging.getLogger(__name__)

Method = Literal["cross-encoder", "cosine"]


@dataclass
class LoadedModels:
    """The models a service instance serves. ``create_app`` loads them from the settings at
    start-up unless they are given (tests pass tiny or instrumented models this way)."""

    embedder: Embedder
    cross_encoder: PairClassifier | None = None
    index: Any | None = None  # simmatch.index.Index

    @classmethod
    def load(cls, settings: ServiceSettings) -> LoadedModels:
        from simmatch.models import Embedder, PairClassifier

        embedder = Embedder(settings.model, device=settings.device, backend=settings.backend)
        cross = None
        if settings.cross_encoder:
            cross = PairClassifier(settings.cross_encoder, device=settings.device, backend=settings.backend)
        index = None
        if settings.index is not None:
            from simmatch.index import Index

            # Read-only: the service only searches, and never holds the writer lock, so
            # `simmatch index add` can update the index while it is served.
            index = Index.open(settings.index, embedder, read_only=True)
        return cls(embedder, cross, index)

    def close(self) -> None:
        close = getattr(self.index, "close", None)
        if callable(close):
            close()


def public_name(name: str) -> str:
    """What clients see as a model id: the built-in name, or a directory's last component (a
    server's file-system layout is not the client's business)."""
    return builtin_name(name) or Path(name).name or name


@dataclass(frozen=True)
class Embeddings:
    vectors: np.ndarray  # float32 (n, dim), L2-normalized, in input order
    tokens: int  # tokens the texts cost the model, for usage


@dataclass(frozen=True)
class PairScores:
    """``/similarity``: the cross-encoder's predictions, or the pairs' cosines."""

    model: str
    method: Method
    labels: list[str] | None  # the cross-encoder's labels; None for cosine
    predictions: list[PairPrediction] | None  # cross-encoder only
    scores: list[float]


@dataclass(frozen=True)
class Ranking:
    model: str
    method: Method
    results: list[RankedDocument]


class Engine:
    """Models, the worker thread and the batchers, alive from start-up to shut-down."""

    def __init__(self, settings: ServiceSettings, models: LoadedModels) -> None:
        self.settings = settings
        self.models = models
        self.embedder = models.embedder
        self.cross_encoder = models.cross_encoder
        self.index = models.index
        self.embedder_id = public_name(self.embedder.model_name)
        self.cross_encoder_id = public_name(self.cross_encoder.model_name) if self.cross_encoder else None
        self._embedder_names = {self.embedder_id, self.embedder.model_name, settings.model}
        self.worker = ModelWorker(trim_interval_s=settings.malloc_trim_interval_s)
        b = settings.batching

        def batcher(name: str, fn: Any) -> Batcher[Any, Any]:
            return Batcher(
                name,
                fn,
                self.worker,
                max_batch_size=b.max_batch_size,
                max_wait_ms=b.max_wait_ms,
                max_queue=b.max_queue,
            )

        self.embed_batchers: dict[str, Batcher[str, tuple[np.ndarray, int]]] = {
            kind: batcher(f"embed-{kind}", partial(self._embed_batch, kind)) for kind in KINDS
        }
        self.pairs_batcher: Batcher[tuple[str, str], PairPrediction] | None = (
            batcher("pairs", self._predict_batch) if self.cross_encoder is not None else None
        )

    # -- model calls (worker thread) ---------------------------------------------------------
    def _embed_batch(self, kind: Kind, texts: list[str]) -> list[tuple[np.ndarray, int]]:
        size = self.settings.batching.max_batch_size
        vectors = self.embedder.encode(texts, kind=kind, batch_size=size)
        tokens = self.embedder.count_tokens(texts, kind=kind)
        return list(zip(vectors, tokens))

    def _predict_batch(self, pairs: list[tuple[str, str]]) -> list[PairPrediction]:
        if self.cross_encoder is None:
            raise RuntimeError("pairs batcher without a cross-encoder")
        return self.cross_encoder.predict(pairs, batch_size=self.settings.batching.max_batch_size)

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def batchers(self) -> list[Batcher[Any, Any]]:
        pairs = [self.pairs_batcher] if self.pairs_batcher is not None else []
        return [*self.embed_batchers.values(), *pairs]

    def start(self) -> None:
        for b in self.batchers:
            b.start()

    async def stop(self) -> None:
        for b in self.batchers:
            await b.stop()
        self.worker.shutdown()
        self.models.close()

    def serves_embedder(self, name: str) -> bool:
        """Whether ``name`` names the loaded embedding model (its id, name or configured path)."""
        return name in self._embedder_names

    # -- the async API -----------------------------------------------------------------------
    async def embed(self, texts: list[str], kind: Kind = "query") -> Embeddings:
        """``Embedder.encode(texts, kind=kind)``, and the tokens the texts cost."""
        rows = await self.embed_batchers[kind].submit(texts)
        return Embeddings(np.stack([vec for vec, _ in rows]), sum(n for _, n in rows))

    async def similarity(self, pairs: list[tuple[str, str]]) -> PairScores:
        """``PairClassifier.predict(pairs)`` with a cross-encoder; else
        ``Embedder.similarity_pairwise`` (both sides as queries)."""
        if self.pairs_batcher is not None and self.cross_encoder is not None:
            predictions = await self.pairs_batcher.submit(pairs)
            return PairScores(
                self.cross_encoder_id or "",
                "cross-encoder",
                self.cross_encoder.labels,
                predictions,
                [p.score for p in predictions],
            )
        vectors = (await self.embed([a for a, _ in pairs] + [b for _, b in pairs])).vectors
        scores = cosine_pairwise(vectors[: len(pairs)], vectors[len(pairs) :])
        return PairScores(self.embedder_id, "cosine", None, None, [float(x) for x in scores])

    async def compare(
        self, source: str, candidates: list[str], *, kind: Kind = "query", compare_kind: Kind | None = None
    ) -> dict[str, Any]:
        """``Embedder.compare(source, candidates)``: ``{"text_embedding", "scores"}``."""
        src, cand = await asyncio.gather(
            self.embed([source], kind), self.embed(candidates, compare_kind or kind)
        )
        return compare_result(src.vectors[0], cand.vectors)

    async def rerank(self, query: str, documents: list[str], top_n: int | None = None) -> Ranking:
        """``PairClassifier.rank(query, documents, top_n)`` with a cross-encoder; else
        ``Embedder.rank`` (query prompt for the query, passage prompt for the documents)."""
        if self.pairs_batcher is not None:
            predictions = await self.pairs_batcher.submit([(query, d) for d in documents])
            scores = np.array([p.score for p in predictions], dtype=np.float32)
            return Ranking(
                self.cross_encoder_id or "", "cross-encoder", rank_by_scores(scores, documents, top_n)
            )
        q, d = await asyncio.gather(self.embed([query], "query"), self.embed(documents, "passage"))
        return Ranking(self.embedder_id, "cosine", rank_by_scores(d.vectors @ q.vectors[0], documents, top_n))

    async def search(self, query: str, *, rerank: bool = False, **options: Any) -> list[Any]:
        """``Index.search(query, **options)``, reranked by the loaded cross-encoder when ``rerank``."""
        if self.index is None:
            raise RuntimeError("search without an index")
        reranker = self.cross_encoder if rerank else None
        return await self.worker.run(self.index.search, query, rerank=reranker, **options)  # type: ignore[no-any-return]

    async def count_documents(self) -> int | None:
        """Documents in the served index; None without one."""
        return None if self.index is None else await self.worker.run(len, self.index)
