"""The HTTP routes: each parses its request, checks it against the limits, makes one engine call
(``engine.py``) and formats the answer. No scores are computed here. An engine call is abandoned
when the client disconnects, so the model never works for a client that has gone."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import Awaitable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from fastapi import FastAPI, Request, Response

from simmatch.errors import InputError
from simmatch.models._inputs import check_text, check_texts
from simmatch.service import schemas as s
from simmatch.service.engine import Engine
from simmatch.service.errors import ERROR_RESPONSES, ApiError
from simmatch.service.settings import LimitSettings

logger = logging.getLogger(__name__)

T = TypeVar("T")


def _engine(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


async def _served(request: Request, call: Awaitable[T]) -> T:
    """``await call``, unless the client disconnects first: then the call is cancelled (its
    requests' items leave the batch queues unrun) and the answer, which nobody reads, is 499."""
    work = asyncio.ensure_future(call)
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait((work, gone), return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not work.done():
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
    if work.cancelled():
        logger.info(
            "%s %s: the client disconnected; its queued work was dropped", request.method, request.url.path
        )
        raise ApiError(499, "the client closed the request", type="client_closed")
    return work.result()


async def _disconnected(request: Request) -> None:
    """Returns when the client disconnects. The body has been read, so the next ASGI message is
    the disconnect (the server sends it when the connection closes or the response is done)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


# ------------------------------------------------------------------------------ request checks
class Checks:
    """The library's input validation plus the service's limits, as 422 errors naming the
    parameter and the setting."""

    def __init__(self, limits: LimitSettings) -> None:
        self.limits = limits

    def count(self, n: int, param: str) -> None:
        limit = self.limits.max_items_per_request
        if n > limit:
            raise ApiError(
                422,
                f"{param} has {n} items; the limit is max_items_per_request={limit}",
                type="limit_exceeded",
                param=param,
            )

    def texts(self, texts: Sequence[str], param: str) -> list[str]:
        self.count(len(texts), param)
        try:
            checked = check_texts(texts, param)
        except InputError as exc:
            raise ApiError(422, str(exc), type="input_error", param=param) from exc
        for i, text in enumerate(checked):
            self._length(text, f"{param}[{i}]")
        return checked

    def text(self, text: str, param: str) -> str:
        try:
            checked = check_text(text, param)
        except InputError as exc:
            raise ApiError(422, str(exc), type="input_error", param=param) from exc
        self._length(checked, param)
        return checked

    def pairs(self, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        self.count(len(pairs), "pairs")
        if not pairs:
            raise ApiError(422, "pairs is empty; pass at least one pair", type="input_error", param="pairs")
        return [
            (self.text(a, f"pairs[{i}][0]"), self.text(b, f"pairs[{i}][1]")) for i, (a, b) in enumerate(pairs)
        ]

    def depth(self, name: str, value: int) -> None:
        limit = self.limits.max_items_per_request
        if value > limit:
            message = f"{name}={value} exceeds max_items_per_request={limit}"
            raise ApiError(422, message, type="limit_exceeded", param=name)

    def _length(self, text: str, param: str) -> None:
        limit = self.limits.max_chars_per_text
        if len(text) > limit:
            raise ApiError(
                422,
                f"{param} has {len(text)} characters; the limit is max_chars_per_text={limit}",
                type="limit_exceeded",
                param=param,
            )


def embeddings_body(vectors: np.ndarray, encoding_format: str, model: str, tokens: int) -> bytes:
    """The ``/v1/embeddings`` answer (``schemas.EmbeddingResponse``) as JSON bytes, encoded here
    in one pass: the same bytes FastAPI writes for the equivalent dict, without validating the
    dict against the response model and converting it again first (for many vectors, that took
    longer than encoding)."""
    rows = np.ascontiguousarray(vectors, dtype="<f4")
    if encoding_format == "base64":
        values: list[Any] = [base64.b64encode(row.tobytes()).decode("ascii") for row in rows]
    else:
        values = rows.tolist()
    data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(values)]
    answer = {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    # Starlette's JSONResponse settings, so the bytes equal FastAPI's own encoding.
    return json.dumps(answer, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def _checks(request: Request) -> Checks:
    return Checks(_engine(request).settings.limits)


# ------------------------------------------------------------------------------------ routes
def add_routes(app: FastAPI) -> None:
    errors = ERROR_RESPONSES
    get_errors: dict[int | str, dict[str, Any]] = {401: errors[401]}
    # Optional fields (documents, embeddings) are left out of the answer unless asked for.
    matching = partial(app.post, response_model_exclude_none=True, responses=errors, tags=["matching"])

    @app.post("/v1/embeddings", response_model=s.EmbeddingResponse, responses=errors, tags=["embeddings"])
    async def embeddings(body: s.EmbeddingRequest, request: Request) -> Response:
        """OpenAI-compatible embeddings (``Embedder.encode``, L2-normalized)."""
        engine = _engine(request)
        if body.model is not None and not engine.serves_embedder(body.model):
            raise ApiError(
                422,
                f"model {body.model!r} is not loaded; this service embeds with {engine.embedder_id!r}",
                type="model_not_found",
                param="model",
            )
        texts = _checks(request).texts([body.input] if isinstance(body.input, str) else body.input, "input")
        dim = engine.embedder.dim
        if body.dimensions is not None and body.dimensions != dim:
            raise ApiError(
                422,
                f"dimensions={body.dimensions} is not supported: {engine.embedder_id} gives "
                f"{dim}-dimensional embeddings (omit dimensions or pass {dim})",
                param="dimensions",
            )
        out = await _served(request, engine.embed(texts, body.input_type))
        return Response(
            embeddings_body(out.vectors, body.encoding_format, engine.embedder_id, out.tokens),
            media_type="application/json",
        )

    @app.post("/similarity", response_model=s.SimilarityResponse, responses=errors, tags=["matching"])
    async def similarity(body: s.SimilarityRequest, request: Request) -> dict[str, Any]:
        """Per pair: the cross-encoder's label, probabilities and score (``PairClassifier.predict``);
        without a cross-encoder, the cosine of the two embeddings (``Embedder.similarity_pairwise``)."""
        out = await _served(request, _engine(request).similarity(_checks(request).pairs(body.pairs)))
        if out.predictions is not None:
            data = [
                {"label": p.label, "probabilities": p.probabilities, "score": p.score}
                for p in out.predictions
            ]
        else:
            data = [{"label": None, "probabilities": None, "score": x} for x in out.scores]
        return {"model": out.model, "method": out.method, "labels": out.labels, "data": data}

    @matching("/compare", response_model=s.CompareResponse)
    async def compare(body: s.CompareRequest, request: Request) -> dict[str, Any]:
        """ModelScope's sentence-embedding contract (``Embedder.compare``): cosine scores of each
        candidate with the source; embeddings (source first) when asked for."""
        checks = _checks(request)
        source = body.source_sentence
        if isinstance(source, list):
            if len(source) != 1:
                message = f"source_sentence must hold one text, got {len(source)}"
                raise ApiError(422, message, param="source_sentence")
            source = source[0]
        source = checks.text(source, "source_sentence")
        candidates = checks.texts(body.sentences_to_compare, "sentences_to_compare")
        engine = _engine(request)
        out = await _served(request, engine.compare(source, candidates))
        answer: dict[str, Any] = {"model": engine.embedder_id, "scores": out["scores"]}
        if body.return_embeddings:
            answer["text_embedding"] = out["text_embedding"].tolist()
        return answer

    @matching("/rerank", response_model=s.RerankResponse)
    async def rerank(body: s.RerankRequest, request: Request) -> dict[str, Any]:
        """TEI/Cohere rerank: documents by relevance to the query, best first
        (``PairClassifier.rank``; without a cross-encoder, ``Embedder.rank``)."""
        checks = _checks(request)
        query = checks.text(body.query, "query")
        docs = checks.texts(body.candidates, "documents" if body.documents is not None else "texts")
        out = await _served(request, _engine(request).rerank(query, docs, body.top_n))
        results = []
        for d in out.results:
            item: dict[str, Any] = {"index": d.index, "relevance_score": d.score}
            if body.return_documents:
                item["document"] = {"text": d.text}
            results.append(item)
        return {"model": out.model, "method": out.method, "results": results}

    @app.post("/search", response_model=s.SearchResponse, responses=errors, tags=["search"])
    async def search(body: s.SearchRequest, request: Request) -> dict[str, Any]:
        """Search the loaded index (``Index.search``): dense, BM25 or hybrid, optionally reranked
        with the cross-encoder."""
        engine = _engine(request)
        if engine.index is None:
            raise ApiError(
                400, "no index is loaded: start the service with --index PATH", type="not_configured"
            )
        if body.rerank and engine.cross_encoder is None:
            raise ApiError(
                400,
                "rerank needs a cross-encoder: start the service with --cross-encoder PATH",
                type="not_configured",
                param="rerank",
            )
        checks = _checks(request)
        query = checks.text(body.query, "query")
        try:
            from simmatch.index.types import check_filter

            check_filter(body.filter)
        except InputError as exc:
            raise ApiError(422, str(exc), type="input_error", param="filter") from exc
        for name in ("top_k", "rerank_top_k") if body.rerank else ("top_k",):
            checks.depth(name, getattr(body, name))
        hits = await _served(
            request,
            engine.search(
                query,
                top_k=body.top_k,
                mode=body.mode,
                rerank=body.rerank,
                rerank_top_k=body.rerank_top_k,
                rerank_fusion=body.rerank_fusion,
                filter=body.filter,
            ),
        )
        return {"mode": body.mode, "hits": [h.to_dict() for h in hits]}

    @app.get("/health", response_model=s.HealthResponse, tags=["service"])
    async def health(request: Request) -> dict[str, Any]:
        """Liveness, and batching counters. Needs no API key."""
        engine = _engine(request)
        batching = {
            b.name: {
                **b.stats.to_dict(),
                "queued": b.queued,
                "queued_tokens": b.queued_tokens,
                "running_requests": b.running,
            }
            for b in engine.batchers
        }
        return {
            "status": "ok",
            "batching": batching,
            "drain_estimate_s": round(engine.drain_seconds(), 3),
            "worker_busy_s": round(engine.worker.busy_seconds, 3),
            "worker_calls": engine.worker.calls,
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
        engine = _engine(request)
        emb = engine.embedder
        cards: list[dict[str, Any]] = [
            {
                "id": engine.embedder_id,
                "role": "embedder",
                "backend": emb.config.backend,
                "dim": emb.dim,
                "max_seq_length": emb.max_seq_length,
                "prompts": dict(emb.prompts),
            }
        ]
        if engine.cross_encoder is not None:
            cards.append(
                {
                    "id": engine.cross_encoder_id,
                    "role": "cross-encoder",
                    "backend": engine.cross_encoder.backend,
                    "labels": engine.cross_encoder.labels,
                    "regression": engine.cross_encoder.is_regression,
                }
            )
        index = None
        if engine.index is not None:
            index = {"name": Path(engine.index.path).name, "documents": await engine.count_documents()}
        return {"object": "list", "data": cards, "index": index}
