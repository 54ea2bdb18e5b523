"""Request and response bodies. Requests reject unknown fields (a typo is an error, not a silently
ignored option). Limits that depend on the service settings (items per request, characters per
text) are checked in the endpoints, so the messages can name the setting."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from simmatch.index.options import (
    DEFAULT_MODE,
    DEFAULT_RERANK_FUSION,
    DEFAULT_RERANK_TOP_K,
    DEFAULT_TOP_K,
    Mode,
    RerankFusion,
)
from simmatch.models.embedder import Kind
from simmatch.service.engine import Method

# The library's vocabulary, declared there once: prompt kinds, search modes and their defaults.
InputType = Kind


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _str_or_str_list(value: Any) -> Any:
    """One clear message for a ``str | list[str]`` field, instead of one error per union member."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise ValueError(f"expected a string or a list of strings, got {type(value).__name__}")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise ValueError(f"item {i} must be a string, got {type(item).__name__}")
    return value


# ---------------------------------------------------------------------------- /v1/embeddings
class EmbeddingRequest(_Request):
    """OpenAI's embeddings request, plus the optional ``input_type``."""

    input: str | list[str] = Field(description="a text or a list of texts (token-id lists are not accepted)")
    model: str | None = Field(default=None, description="must name the loaded embedding model when given")
    encoding_format: Literal["float", "base64"] = Field(
        default="float", description="'base64': little-endian float32 bytes, base64-encoded"
    )
    dimensions: int | None = Field(
        default=None, description="accepted only when equal to the model's dimension"
    )
    user: str | None = Field(default=None, description="ignored")
    input_type: InputType = Field(
        default="query",
        description="non-standard: which prompt the model uses ('query: ' / 'passage: ' for e5)",
    )

    @field_validator("input", mode="before")
    @classmethod
    def _text_or_texts(cls, value: Any) -> Any:
        if isinstance(value, list) and value:
            first = value[0]
            if isinstance(first, int) or (isinstance(first, list) and first and isinstance(first[0], int)):
                raise ValueError(
                    "token-id input (lists of integers) is not supported: send the text itself, "
                    "as a string or a list of strings"
                )
        return _str_or_str_list(value)


class EmbeddingData(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str = Field(description="floats, or base64 of little-endian float32")


class Usage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[EmbeddingData]
    model: str
    usage: Usage


# ---------------------------------------------------------------------------- /similarity
class SimilarityRequest(_Request):
    pairs: list[tuple[str, str]] = Field(description="text pairs, each [text_a, text_b]")


class PairScore(BaseModel):
    label: str | None = Field(description="predicted label (cross-encoder), null for cosine")
    probabilities: dict[str, float] | None = Field(
        description="one per label for a classification head, {} for regression, null for cosine"
    )
    score: float = Field(description="relevance: P(positive), expected grade, regression score or cosine")


class SimilarityResponse(BaseModel):
    model: str
    method: Method = Field(description="'cross-encoder' when one is loaded, else 'cosine' between embeddings")
    labels: list[str] | None = Field(description="the cross-encoder's labels; null for cosine")
    data: list[PairScore]


# ---------------------------------------------------------------------------- /compare
class CompareRequest(_Request):
    """ModelScope's sentence-embedding input."""

    source_sentence: str | list[str] = Field(description="one text, or a list holding one text")
    sentences_to_compare: list[str]
    return_embeddings: bool = Field(default=False, description="include text_embedding (source first)")

    @field_validator("source_sentence", mode="before")
    @classmethod
    def _text_or_texts(cls, value: Any) -> Any:
        return _str_or_str_list(value)


class CompareResponse(BaseModel):
    model: str
    scores: list[float] = Field(description="cosine of each candidate with the source, in input order")
    text_embedding: list[list[float]] | None = Field(
        default=None, description="source then candidates; only when return_embeddings is true"
    )


# ---------------------------------------------------------------------------- /rerank
class RerankRequest(_Request):
    """TEI's and Cohere's rerank request: ``documents`` (Cohere) or ``texts`` (TEI)."""

    query: str
    documents: list[str] | None = None
    texts: list[str] | None = Field(default=None, description="TEI's name for documents")
    top_n: int | None = Field(default=None, ge=1, description="keep the best n (default all)")
    return_documents: bool = False
    model: str | None = Field(default=None, description="ignored when it names a loaded model")

    @model_validator(mode="after")
    def _one_document_list(self) -> RerankRequest:
        if (self.documents is None) == (self.texts is None):
            raise ValueError("give the candidates as exactly one of 'documents' or 'texts'")
        return self

    @property
    def candidates(self) -> list[str]:
        return self.documents if self.documents is not None else list(self.texts or [])


class RerankDocument(BaseModel):
    text: str


class RerankResult(BaseModel):
    index: int
    relevance_score: float
    document: RerankDocument | None = None


class RerankResponse(BaseModel):
    model: str
    method: Method
    results: list[RerankResult]


# ---------------------------------------------------------------------------- /search
class SearchRequest(_Request):
    query: str
    top_k: int = Field(default=DEFAULT_TOP_K, ge=1)
    mode: Mode = Field(
        default=DEFAULT_MODE, description="dense vectors, BM25, or their reciprocal-rank fusion"
    )
    rerank: bool = Field(default=False, description="rerank the candidates with the loaded cross-encoder")
    rerank_top_k: int = Field(
        default=DEFAULT_RERANK_TOP_K, ge=1, description="first-stage candidates the reranker rescores"
    )
    rerank_fusion: RerankFusion = Field(
        default=DEFAULT_RERANK_FUSION,
        description="order the reranked head by RRF of first-stage and reranker ranks, or by the "
        "reranker's score alone (replace)",
    )
    filter: dict[str, Any] | None = Field(
        default=None,
        description="metadata equality filter: {key: string, number, boolean or null} on top-level keys",
    )


class SearchHitOut(BaseModel):
    id: str
    text: str
    metadata: dict[str, Any]
    score: float
    scores: dict[str, float]


class SearchResponse(BaseModel):
    mode: str
    hits: list[SearchHitOut]


# ---------------------------------------------------------------------------- /health, /models
class BatcherStats(BaseModel):
    batches: int
    items: int
    mean_batch_size: float
    largest_batch: int
    rejected_requests: int
    queued: int = Field(description="items waiting for the model")
    queued_tokens: int = Field(description="their tokens")
    running_requests: int = Field(description="requests with items in the model call under way")


class HealthResponse(BaseModel):
    status: Literal["ok"] = "ok"
    batching: dict[str, BatcherStats]
    drain_estimate_s: float = Field(
        description="estimated seconds to finish the queued work (queued tokens × measured seconds per token)"
    )
    worker_busy_s: float = Field(
        description="seconds the model worker has spent in calls since start-up (its utilization over a "
        "window: the change in this over the window's length)"
    )
    worker_calls: int = Field(description="calls the model worker has run since start-up")


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "simmatch"
    role: Literal["embedder", "cross-encoder"]
    backend: str
    dim: int | None = None
    max_seq_length: int | None = None
    prompts: dict[str, str] | None = None
    labels: list[str] | None = None
    regression: bool | None = None


class ModelsResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
    index: dict[str, Any] | None = Field(default=None, description="the served index, when one is loaded")
