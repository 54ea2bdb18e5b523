"""What every store behind the ``Index`` API does the same way (the local SQLite + FAISS + BM25
``Index`` and ``MilvusIndex``): context management, the open check, the encoder the index was
opened with, and the first half of ``search_batch`` — checking the request and encoding the
queries — so the stores differ only in where they look the queries up.

A subclass sets ``path``, ``_closed``, ``_encoder``, ``_settings`` and ``_dim`` and defines
``close`` and ``get``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from simmatch.errors import InputError
from simmatch.index import encoders
from simmatch.index.search import SearchRequest


class IndexBase:
    path: Any
    _closed: bool
    _encoder: Any
    _settings: dict[str, Any]
    _dim: int

    def close(self) -> None:
        raise NotImplementedError

    def get(self, doc_id: str) -> Any:
        raise NotImplementedError

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise InputError(f"index at {self.path} is closed")

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, str) and self.get(doc_id) is not None

    def _require_encoder(self, what: str) -> Any:
        if self._encoder is None:
            raise InputError(
                f"{what} needs an encoder: this index was opened without one; pass "
                f"encoder=Embedder({self._settings['model_name']!r}) (or load_encoder=True) to Index.open"
            )
        return self._encoder

    def _encode(self, texts: list[str], kind: str, batch_size: int) -> np.ndarray:
        encoder = self._require_encoder("embedding texts")
        normalize = self._settings["normalize"]
        return encoders.encode(
            encoder, texts, kind=kind, normalize=normalize, dim=self._dim, batch_size=batch_size
        )

    def _search_request(
        self,
        queries: Sequence[str],
        *,
        top_k: int,
        mode: str,
        rerank: Any | None,
        rerank_top_k: int,
        filter: Mapping[str, Any] | None,
        batch_size: int,
        rerank_fusion: str,
    ) -> tuple[SearchRequest, np.ndarray | None]:
        """The checked request and, when its mode needs them, the encoded queries."""
        request = SearchRequest.check(
            queries,
            top_k=top_k,
            mode=mode,
            rerank=rerank,
            rerank_top_k=rerank_top_k,
            filter=filter,
            batch_size=batch_size,
            rerank_fusion=rerank_fusion,
        )
        vectors = None
        if request.queries and request.needs_vectors:
            self._require_encoder(f"mode={mode!r}")
            vectors = self._encode(request.queries, self._settings["query_kind"], batch_size)
        return request, vectors
