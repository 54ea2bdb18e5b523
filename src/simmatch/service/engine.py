"""The service's engine: the loaded models behind an async API (``embed``, ``similarity``,
``compare``, ``rerank``, ``search``) that computes what the library computes, so each HTTP route is
parse → one engine call → format.

Model calls go through the batchers (``batching.py``): they run in one worker thread, and the items
of concurrent requests share model batches. Before anything is queued, the engine counts the
request's tokens with the model's own tokenizer (off the event loop when the texts are long) and
refuses a request over ``max_tokens_per_request``; the counts weigh the batchers' fairness and
give ``usage``. ``begin_shutdown`` (SIGTERM) serves what fits in the grace period and answers the
rest 503.

What is done with the vectors and predictions that come back is the library's own code
(``simmatch.models.results``: pairwise cosine, the ModelScope compare output, ranking), so the
numbers, order and labels equal ``Embedder`` / ``PairClassifier`` for the same input."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from simmatch.models.embedder import KINDS, Kind
from simmatch.models.registry import builtin_name
from simmatch.models.results import compare_result, cosine_pairwise, rank_by_scores
from simmatch.service.batching import Batcher, ModelWorker, ServiceStoppingError

if TYPE_CHECKING:
    from simmatch.models import Embedder, PairClassifier, PairPrediction, RankedDocument
    from simmatch.service.settings import ServiceSettings

logger = logging.getLogger(__name__)

Method = Literal["cross-encoder", "cosine"]

# Texts of more characters than this are tokenized in a thread, not on the event loop.
_TOKENIZE_INLINE_CHARS = 4096


class RequestTooLargeError(Exception):
    """A request over ``max_tokens_per_request``; the service answers 422 naming the limit."""

    def __init__(self, tokens: int, limit: int) -> None:
        self.tokens = tokens
        self.limit = limit
        super().__init__(
            f"the request comes to {tokens} tokens for the model; the limit is "
            f"max_tokens_per_request={limit}: send fewer or shorter texts per request"
        )


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
        self._stopping: ServiceStoppingError | None = None
        self._deadline: float | None = None  # loop time by which shut-down answers everyone
        self._give_up: asyncio.TimerHandle | None = None
        b = settings.batching

        def batcher(name: str, fn: Any) -> Batcher[Any, Any]:
            return Batcher(
                name,
                fn,
                self.worker,
                max_batch_size=b.max_batch_size,
                max_wait_ms=b.max_wait_ms,
                max_queue=b.max_queue,
                max_batch_tokens=b.max_batch_tokens,
            )

        self.embed_batchers: dict[str, Batcher[str, np.ndarray]] = {
            kind: batcher(f"embed-{kind}", partial(self._embed_batch, kind)) for kind in KINDS
        }
        self.pairs_batcher: Batcher[tuple[str, str], PairPrediction] | None = (
            batcher("pairs", self._predict_batch) if self.cross_encoder is not None else None
        )

    # -- model calls (worker thread) ---------------------------------------------------------
    def _embed_batch(self, kind: Kind, texts: list[str]) -> list[np.ndarray]:
        return list(self.embedder.encode(texts, kind=kind, batch_size=self.settings.batching.max_batch_size))

    def _predict_batch(self, pairs: list[tuple[str, str]]) -> list[PairPrediction]:
        if self.cross_encoder is None:
            raise RuntimeError("pairs batcher without a cross-encoder")
        return self.cross_encoder.predict(pairs, batch_size=self.settings.batching.max_batch_size)

    # -- token counts (before anything is queued) --------------------------------------------
    async def _off_loop(self, fn: Any, chars: int, *args: Any, **kwargs: Any) -> list[int]:
        if chars <= _TOKENIZE_INLINE_CHARS:
            return fn(*args, **kwargs)  # type: ignore[no-any-return]
        return await asyncio.to_thread(fn, *args, **kwargs)  # type: ignore[no-any-return]

    async def text_tokens(self, texts: list[str], kind: Kind) -> list[int]:
        """``Embedder.count_tokens``: what each text costs the model (windows included)."""
        return await self._off_loop(self.embedder.count_tokens, _chars(texts), texts, kind=kind)

    async def pair_tokens(self, pairs: list[tuple[str, str]]) -> list[int]:
        """``PairClassifier.count_tokens``: what each pair costs the cross-encoder (capped at its
        ``max_length``: longer pairs are truncated)."""
        clf = self.cross_encoder
        if clf is None:
            raise RuntimeError("pair tokens without a cross-encoder")

        return await self._off_loop(clf.count_tokens, sum(_chars(p) for p in pairs), pairs)

    def _admit(self, *counts: list[int]) -> None:
        if self._stopping is not None:
            raise self._stopping
        total = sum(sum(c) for c in counts)
        limit = self.settings.limits.max_tokens_per_request
        if total > limit:
            raise RequestTooLargeError(total, limit)

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def batchers(self) -> list[Batcher[Any, Any]]:
        pairs = [self.pairs_batcher] if self.pairs_batcher is not None else []
        return [*self.embed_batchers.values(), *pairs]

    def start(self) -> None:
        for b in self.batchers:
            b.start()

    def begin_shutdown(self) -> None:
        """The process was asked to stop (SIGTERM, Ctrl+C). New requests get 503 at once; queued
        work is served while it fits in ``shutdown_grace_s`` (less a margin for answering and
        exiting). When the estimated drain time is longer, every queued request gets 503 now;
        whatever still waits when the time is up (the model call under way included) gets 503
        then."""
        if self._stopping is not None:
            return
        grace = self.settings.shutdown_grace_s
        budget = grace - min(1.0, 0.2 * grace)
        self._stopping = ServiceStoppingError()
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + budget
        drain = self.worker.drain_seconds()
        logger.info("shutting down: %.1f s of queued work, %.1f s to finish it", drain, budget)
        for b in self.batchers:
            b.close(self._stopping)
            if drain > budget:
                b.fail_queued(self._stopping)
        self._give_up = loop.call_later(budget, self._answer_everyone)

    def _answer_everyone(self) -> None:
        stopping = self._stopping or ServiceStoppingError()
        for b in self.batchers:
            b.fail_queued(stopping)
        self.worker.fail_pending(stopping)

    async def stop(self) -> None:
        if self._give_up is not None:
            self._give_up.cancel()
        for b in self.batchers:
            await b.stop()
        self.worker.fail_pending(self._stopping or ServiceStoppingError())
        timeout = None
        if self._deadline is not None:  # a signal started the shut-down: keep to its deadline
            timeout = max(0.1, self._deadline - asyncio.get_running_loop().time())
        if await asyncio.to_thread(self.worker.shutdown, timeout):
            self.models.close()
        else:  # the process is exiting; the daemon thread does not hold it up
            logger.warning("a model call was still running at shut-down; not waiting for it")

    def serves_embedder(self, name: str) -> bool:
        """Whether ``name`` names the loaded embedding model (its id, name or configured path)."""
        return name in self._embedder_names

    def drain_seconds(self) -> float:
        """Estimated seconds until the queued work is done."""
        return self.worker.drain_seconds()

    # -- the async API -----------------------------------------------------------------------
    async def embed(self, texts: list[str], kind: Kind = "query") -> Embeddings:
        """``Embedder.encode(texts, kind=kind)``, and the tokens the texts cost."""
        counts = await self.text_tokens(texts, kind)
        self._admit(counts)
        return await self._embed(texts, kind, counts)

    async def _embed(self, texts: list[str], kind: Kind, counts: list[int]) -> Embeddings:
        vectors = await self.embed_batchers[kind].submit(texts, counts)
        return Embeddings(np.stack(vectors), sum(counts))

    async def _predict(self, pairs: list[tuple[str, str]]) -> list[PairPrediction]:
        if self.pairs_batcher is None:
            raise RuntimeError("pair predictions without a cross-encoder")
        counts = await self.pair_tokens(pairs)
        self._admit(counts)
        return await self.pairs_batcher.submit(pairs, counts)

    async def similarity(self, pairs: list[tuple[str, str]]) -> PairScores:
        """``PairClassifier.predict(pairs)`` with a cross-encoder; else
        ``Embedder.similarity_pairwise`` (both sides as queries)."""
        if self.pairs_batcher is not None and self.cross_encoder is not None:
            predictions = await self._predict(pairs)
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
        compare_kind = compare_kind or kind
        src_n, cand_n = (
            await self.text_tokens([source], kind),
            await self.text_tokens(candidates, compare_kind),
        )
        self._admit(src_n, cand_n)
        src, cand = await asyncio.gather(
            self._embed([source], kind, src_n), self._embed(candidates, compare_kind, cand_n)
        )
        return compare_result(src.vectors[0], cand.vectors)

    async def rerank(self, query: str, documents: list[str], top_n: int | None = None) -> Ranking:
        """``PairClassifier.rank(query, documents, top_n)`` with a cross-encoder; else
        ``Embedder.rank`` (query prompt for the query, passage prompt for the documents)."""
        if self.pairs_batcher is not None:
            predictions = await self._predict([(query, d) for d in documents])
            scores = np.array([p.score for p in predictions], dtype=np.float32)
            return Ranking(
                self.cross_encoder_id or "", "cross-encoder", rank_by_scores(scores, documents, top_n)
            )
        q_n, d_n = await self.text_tokens([query], "query"), await self.text_tokens(documents, "passage")
        self._admit(q_n, d_n)
        q, d = await asyncio.gather(
            self._embed([query], "query", q_n), self._embed(documents, "passage", d_n)
        )
        return Ranking(self.embedder_id, "cosine", rank_by_scores(d.vectors @ q.vectors[0], documents, top_n))

    async def search(self, query: str, *, rerank: bool = False, **options: Any) -> list[Any]:
        """``Index.search(query, **options)``, reranked by the loaded cross-encoder when ``rerank``."""
        if self.index is None:
            raise RuntimeError("search without an index")
        if self._stopping is not None:
            raise self._stopping
        reranker = self.cross_encoder if rerank else None
        return await self.worker.run(self.index.search, query, rerank=reranker, **options)  # type: ignore[no-any-return]

    async def count_documents(self) -> int | None:
        """Documents in the served index; None without one."""
        return None if self.index is None else await self.worker.run(len, self.index)


def _chars(texts: Sequence[str]) -> int:
    return sum(len(t) for t in texts)
