"""Typed, frozen settings of the HTTP service. ``simmatch serve`` generates its flags from these
fields (in this order; nested groups become top-level flags) and maps them back; nothing here reads
the environment (``simmatch.settings`` does that, at start-up)."""

from __future__ import annotations

from pathlib import Path

from simmatch.errors import require
from simmatch.models.registry import DEFAULT_EMBEDDER

require("pydantic", "serve")

from pydantic import BaseModel, ConfigDict, Field, SecretStr  # noqa: E402


class LimitSettings(BaseModel):
    """Request limits. Violations are answered with 422 (413 for the body size) naming the limit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_items_per_request: int = Field(
        default=256, ge=1, description="most texts (or pairs, or documents) one request may carry"
    )
    max_chars_per_text: int = Field(default=8192, ge=1, description="most characters in one text")
    max_tokens_per_request: int = Field(
        default=8192,
        ge=1,
        description="most model tokens one request may queue (all its texts or pairs, as the model's "
        "tokenizer counts them, special tokens and windows included; about 4-8 s of "
        "multilingual-e5-small on two CPU cores)",
    )
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024, description="largest request body in bytes")


class BatchingSettings(BaseModel):
    """Dynamic batching: concurrent requests are merged into model batches of up to
    ``max_batch_size`` items, waiting at most ``max_wait_ms`` for a batch to fill. More than
    ``max_queue`` waiting items and new requests get 429 (a request is always accepted into an
    empty queue, so one larger than ``max_queue`` is slow, never refused forever)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_batch_size: int = Field(default=64, ge=1, description="most items in one model call")
    max_batch_tokens: int = Field(
        default=1024,
        ge=1,
        description="most tokens in one model call (a longer single item runs alone); long requests "
        "are split into calls that interleave with other requests' items",
    )
    max_wait_ms: float = Field(
        default=5.0, ge=0, description="longest wait for a batch to fill, in milliseconds"
    )
    max_queue: int = Field(default=1024, ge=1, description="most items waiting for the model before 429")


class ServiceSettings(BaseModel):
    """Everything ``create_app`` needs: which models to load and how to guard them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(
        default=DEFAULT_EMBEDDER, description="embedding model: built-in name, local directory or hub id"
    )
    cross_encoder: str | None = Field(
        default=None,
        description="cross-encoder for /similarity and /rerank: built-in name or PairClassifier directory",
    )
    index: Path | None = Field(default=None, description="index directory served by /search")
    host: str = Field(default="127.0.0.1", description="interface to bind")
    port: int = Field(default=8000, ge=0, le=65535, description="TCP port")
    api_key: SecretStr | None = Field(
        default=None, description="Bearer token required on every path but /health"
    )
    device: str | None = Field(
        default=None, description="torch device (default: cuda if available, else cpu)"
    )
    backend: str = Field(
        default="torch", description="backend of the embedder and the cross-encoder: torch, onnx or onnx-int8"
    )
    access_log: bool = Field(default=True, description="log one line per request")
    malloc_trim_interval_s: float = Field(
        default=1.0,
        ge=0,
        description="return freed heap memory to the OS at most this often, in seconds (glibc; 0: never)",
    )
    ui: bool = Field(
        default=True,
        description="serve the playground page at / (--no-ui: the JSON API and /docs only)",
    )
    shutdown_grace_s: float = Field(
        default=10.0,
        gt=0,
        description="on SIGTERM or Ctrl+C: seconds to finish queued work; what cannot finish in time "
        "is answered 503 with Retry-After and the process exits within this time",
    )
    limits: LimitSettings = Field(default_factory=LimitSettings)
    batching: BatchingSettings = Field(default_factory=BatchingSettings)
