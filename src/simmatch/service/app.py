"""The FastAPI app: every endpoint is a thin door onto a library call (``Embedder.encode``,
``PairClassifier.predict``, ``Index.search``), with the same numbers the library gives for the
same input. Model calls go through the batchers (``batching.py``), so they run in one worker thread
and concurrent requests share model batches."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from simmatch.errors import InputError, require

require("fastapi", "serve")

from fastapi import FastAPI, Request  # noqa: E402
from fastapi.openapi.utils import get_openapi  # noqa: E402

from simmatch.models._inputs import check_text, check_texts  # noqa: E402
from simmatch.models.registry import builtin_name  # noqa: E402
from simmatch.service import schemas as s  # noqa: E402
from simmatch.service.batching import Batcher, ModelWorker  # noqa: E402
from simmatch.service.errors import ERROR_RESPONSES, ApiError, install_error_handlers  # noqa: E402
from simmatch.service.guard import OPEN_PATHS, GuardMiddleware  # noqa: E402
from simmatch.service.settings import LimitSettings, ServiceSettings  # noqa: E402

if TYPE_CHECKING:
    from simmatch.models import Embedder, PairClassifier, PairPrediction
    from simmatch.models.embedder import Kind

logger = logging.getLogger(__name__)

KINDS: tuple[Kind, ...] = ("query", "passage")


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
            cross = PairClassifier(settings.cross_encoder, device=settings.device)
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


class Runtime:
    """Models, the worker thread and the batchers, alive from start-up to shut-down."""

    def __init__(self, settings: ServiceSettings, models: LoadedModels) -> None:
        self.settings = settings
        self.limits: LimitSettings = settings.limits
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

        self.embed: dict[str, Batcher[str, tuple[np.ndarray, int]]] = {
            kind: batcher(f"embed-{kind}", partial(self._embed_batch, kind)) for kind in KINDS
        }
        self.pairs: Batcher[tuple[str, str], PairPrediction] | None = (
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
        return [*self.embed.values(), *([self.pairs] if self.pairs is not None else [])]

    def start(self) -> None:
        for b in self.batchers:
            b.start()

    async def stop(self) -> None:
        for b in self.batchers:
            await b.stop()
        self.worker.shutdown()
        self.models.close()

    # -- request checks ----------------------------------------------------------------------
    def check_texts(self, texts: Sequence[str], param: str) -> list[str]:
        limit = self.limits.max_items_per_request
        if len(texts) > limit:
            raise ApiError(
                422,
                f"{param} has {len(texts)} items; the limit is max_items_per_request={limit}",
                type="limit_exceeded",
                param=param,
            )
        try:
            checked = check_texts(texts, param)
        except InputError as exc:
            raise ApiError(422, str(exc), type="input_error", param=param) from exc
        for i, text in enumerate(checked):
            self._check_length(text, f"{param}[{i}]")
        return checked

    def check_text(self, text: str, param: str) -> str:
        try:
            checked = check_text(text, param)
        except InputError as exc:
            raise ApiError(422, str(exc), type="input_error", param=param) from exc
        self._check_length(checked, param)
        return checked

    def _check_length(self, text: str, param: str) -> None:
        limit = self.limits.max_chars_per_text
        if len(text) > limit:
            raise ApiError(
                422,
                f"{param} has {len(text)} characters; the limit is max_chars_per_text={limit}",
                type="limit_exceeded",
                param=param,
            )

    def check_embedder_name(self, name: str | None) -> None:
        if name is not None and name not in self._embedder_names:
            raise ApiError(
                422,
                f"model {name!r} is not loaded; this service embeds with {self.embedder_id!r}",
                type="model_not_found",
                param="model",
            )

    # -- shared computations -----------------------------------------------------------------
    async def vectors(self, texts: list[str], kind: Kind = "query") -> np.ndarray:
        rows = await self.embed[kind].submit(texts)
        return np.stack([vec for vec, _ in rows])


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------------- app
def create_app(settings: ServiceSettings, *, models: LoadedModels | None = None) -> FastAPI:
    """The service as an ASGI app. Models load once, at start-up (``lifespan``), unless ``models``
    is given; the worker thread and batchers stop at shut-down."""
    from simmatch import __version__

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loaded = models if models is not None else LoadedModels.load(settings)
        runtime = Runtime(settings, loaded)
        runtime.start()
        app.state.runtime = runtime
        logger.info("serving %s (cross-encoder: %s)", runtime.embedder_id, runtime.cross_encoder_id)
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="simmatch",
        version=__version__,
        description=(
            "Semantic text matching: embeddings (OpenAI-compatible), pair similarity, ModelScope "
            "compare, TEI/Cohere rerank and index search. Every path but /health needs "
            "'Authorization: Bearer <key>' when the service has an API key."
        ),
        lifespan=lifespan,
    )
    api_key = settings.api_key.get_secret_value() if settings.api_key is not None else None
    app.add_middleware(GuardMiddleware, api_key=api_key, max_body_bytes=settings.limits.max_body_bytes)
    install_error_handlers(app)
    _add_routes(app)
    app.openapi = partial(_openapi, app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    schema.setdefault("components", {})["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "the service's API key"}
    }
    schema["security"] = [{"bearer": []}]
    for path in OPEN_PATHS:
        for operation in schema["paths"].get(path, {}).values():
            operation["security"] = []
    app.openapi_schema = schema
    return schema


def _add_routes(app: FastAPI) -> None:
    errors = ERROR_RESPONSES
    get_errors: dict[int | str, dict[str, Any]] = {401: errors[401]}

    @app.post("/v1/embeddings", response_model=s.EmbeddingResponse, responses=errors, tags=["embeddings"])
    async def embeddings(body: s.EmbeddingRequest, request: Request) -> dict[str, Any]:
        """OpenAI-compatible embeddings (``Embedder.encode``, L2-normalized)."""
        rt = _runtime(request)
        rt.check_embedder_name(body.model)
        texts = rt.check_texts([body.input] if isinstance(body.input, str) else body.input, "input")
        dim = rt.embedder.dim
        if body.dimensions is not None and body.dimensions != dim:
            raise ApiError(
                422,
                f"dimensions={body.dimensions} is not supported: {rt.embedder_id} gives {dim}-dimensional "
                f"embeddings (omit dimensions or pass {dim})",
                param="dimensions",
            )
        rows = await rt.embed[body.input_type].submit(texts)
        data = []
        for i, (vec, _) in enumerate(rows):
            if body.encoding_format == "base64":
                value: Any = base64.b64encode(vec.astype("<f4", copy=False).tobytes()).decode("ascii")
            else:
                value = vec.tolist()
            data.append({"object": "embedding", "index": i, "embedding": value})
        tokens = sum(n for _, n in rows)
        return {
            "object": "list",
            "data": data,
            "model": rt.embedder_id,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    @app.post("/similarity", response_model=s.SimilarityResponse, responses=errors, tags=["matching"])
    async def similarity(body: s.SimilarityRequest, request: Request) -> dict[str, Any]:
        """Per pair: the cross-encoder's label, probabilities and score (``PairClassifier.predict``);
        without a cross-encoder, the cosine of the two embeddings (``Embedder.similarity``)."""
        rt = _runtime(request)
        _check_pairs(rt, body.pairs)
        if rt.pairs is not None and rt.cross_encoder is not None:
            predictions = await rt.pairs.submit(body.pairs)
            return {
                "model": rt.cross_encoder_id,
                "method": "cross-encoder",
                "labels": rt.cross_encoder.labels,
                "data": [
                    {"label": p.label, "probabilities": p.probabilities, "score": p.score}
                    for p in predictions
                ],
            }
        n = len(body.pairs)
        vecs = await rt.vectors([a for a, _ in body.pairs] + [b for _, b in body.pairs])
        scores = np.einsum("ij,ij->i", vecs[:n], vecs[n:])
        return {
            "model": rt.embedder_id,
            "method": "cosine",
            "labels": None,
            "data": [{"label": None, "probabilities": None, "score": float(x)} for x in scores],
        }

    @app.post(
        "/compare",
        response_model=s.CompareResponse,
        response_model_exclude_none=True,
        responses=errors,
        tags=["matching"],
    )
    async def compare(body: s.CompareRequest, request: Request) -> dict[str, Any]:
        """ModelScope's sentence-embedding contract (``Embedder.compare``): cosine scores of each
        candidate with the source; embeddings (source first) when asked for."""
        rt = _runtime(request)
        source = body.source_sentence
        if isinstance(source, list):
            if len(source) != 1:
                raise ApiError(
                    422, f"source_sentence must hold one text, got {len(source)}", param="source_sentence"
                )
            source = source[0]
        source = rt.check_text(source, "source_sentence")
        candidates = rt.check_texts(body.sentences_to_compare, "sentences_to_compare")
        vecs = await rt.vectors([source, *candidates])
        out: dict[str, Any] = {"model": rt.embedder_id, "scores": (vecs[1:] @ vecs[0]).astype(float).tolist()}
        if body.return_embeddings:
            out["text_embedding"] = vecs.tolist()
        return out

    @app.post(
        "/rerank",
        response_model=s.RerankResponse,
        response_model_exclude_none=True,
        responses=errors,
        tags=["matching"],
    )
    async def rerank(body: s.RerankRequest, request: Request) -> dict[str, Any]:
        """TEI/Cohere rerank: documents by relevance to the query, best first
        (``PairClassifier.rank``; without a cross-encoder, ``Embedder.rank``)."""
        rt = _runtime(request)
        param = "documents" if body.documents is not None else "texts"
        query = rt.check_text(body.query, "query")
        docs = rt.check_texts(body.candidates, param)
        if rt.pairs is not None:
            predictions = await rt.pairs.submit([(query, d) for d in docs])
            scores = np.array([p.score for p in predictions], dtype=np.float32)
            method, model = "cross-encoder", rt.cross_encoder_id
        else:
            q, d = await asyncio.gather(rt.vectors([query], "query"), rt.vectors(docs, "passage"))
            scores = d @ q[0]
            method, model = "cosine", rt.embedder_id
        order = np.argsort(-scores, kind="stable")[: body.top_n or len(docs)]
        results = []
        for i in order:
            item: dict[str, Any] = {"index": int(i), "relevance_score": float(scores[i])}
            if body.return_documents:
                item["document"] = {"text": docs[i]}
            results.append(item)
        return {"model": model, "method": method, "results": results}

    @app.post("/search", response_model=s.SearchResponse, responses=errors, tags=["search"])
    async def search(body: s.SearchRequest, request: Request) -> dict[str, Any]:
        """Search the loaded index (``Index.search``): dense, BM25 or hybrid, optionally reranked
        with the cross-encoder."""
        rt = _runtime(request)
        if rt.index is None:
            message = "no index is loaded: start the service with --index PATH"
            raise ApiError(400, message, type="not_configured")
        if body.rerank and rt.cross_encoder is None:
            raise ApiError(
                400,
                "rerank needs a cross-encoder: start the service with --cross-encoder PATH",
                type="not_configured",
                param="rerank",
            )
        query = rt.check_text(body.query, "query")
        try:
            from simmatch.index.types import check_filter

            check_filter(body.filter)
        except InputError as exc:
            raise ApiError(422, str(exc), type="input_error", param="filter") from exc
        limit = rt.limits.max_items_per_request
        for name in ("top_k", "rerank_top_k") if body.rerank else ("top_k",):
            value = getattr(body, name)
            if value > limit:
                message = f"{name}={value} exceeds max_items_per_request={limit}"
                raise ApiError(422, message, type="limit_exceeded", param=name)
        hits = await rt.worker.run(
            rt.index.search,
            query,
            top_k=body.top_k,
            mode=body.mode,
            rerank=rt.cross_encoder if body.rerank else None,
            rerank_top_k=body.rerank_top_k,
            filter=body.filter,
        )
        return {"mode": body.mode, "hits": [h.to_dict() for h in hits]}

    @app.get("/health", response_model=s.HealthResponse, tags=["service"])
    async def health(request: Request) -> dict[str, Any]:
        """Liveness, and batching counters. Needs no API key."""
        rt = _runtime(request)
        return {
            "status": "ok",
            "batching": {b.name: {**b.stats.to_dict(), "queued": b.queued} for b in rt.batchers},
        }

    @app.get(
        "/models",
        response_model=s.ModelsResponse,
        response_model_exclude_none=True,
        responses=get_errors,
        tags=["service"],
    )
    @app.get(
        "/v1/models",
        response_model=s.ModelsResponse,
        response_model_exclude_none=True,
        responses=get_errors,
        tags=["service"],
    )
    async def list_models(request: Request) -> dict[str, Any]:
        """The loaded models (OpenAI's model list shape, with dims, labels and backend)."""
        rt = _runtime(request)
        emb = rt.embedder
        cards: list[dict[str, Any]] = [
            {
                "id": rt.embedder_id,
                "role": "embedder",
                "backend": emb.config.backend,
                "dim": emb.dim,
                "max_seq_length": emb.max_seq_length,
                "prompts": dict(emb.prompts),
            }
        ]
        if rt.cross_encoder is not None:
            cards.append(
                {
                    "id": rt.cross_encoder_id,
                    "role": "cross-encoder",
                    "backend": "torch",
                    "labels": rt.cross_encoder.labels,
                    "regression": rt.cross_encoder.is_regression,
                }
            )
        index = None
        if rt.index is not None:
            index = {"name": Path(rt.index.path).name, "documents": await rt.worker.run(len, rt.index)}
        return {"object": "list", "data": cards, "index": index}


def _check_pairs(rt: Runtime, pairs: list[tuple[str, str]]) -> None:
    limit = rt.limits.max_items_per_request
    if len(pairs) > limit:
        raise ApiError(
            422,
            f"pairs has {len(pairs)} items; the limit is max_items_per_request={limit}",
            type="limit_exceeded",
            param="pairs",
        )
    if not pairs:
        raise ApiError(422, "pairs is empty; pass at least one pair", type="input_error", param="pairs")
    for i, (a, b) in enumerate(pairs):
        rt.check_text(a, f"pairs[{i}][0]")
        rt.check_text(b, f"pairs[{i}][1]")
