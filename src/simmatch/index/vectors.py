"""FAISS vector index: derived state rebuilt or repaired from the embeddings stored in SQLite.

Every index is a ``faiss.IndexIDMap2`` whose ids are the SQLite row ids, over one of

* ``flat`` — exact search (``IndexFlatIP`` / ``IndexFlatL2``), the default below ``ann_threshold``;
* ``hnsw`` — ``IndexHNSWFlat`` (graph ANN, no training, incremental adds);
* ``ivf`` — ``IndexIVFFlat`` (k-means buckets, trained on a sample of the stored vectors).

FAISS cannot remove vectors from an HNSW graph, so an HNSW index keeps removed ids as tombstones
that searches exclude with an ``IDSelector``; the index is rebuilt once tombstones pass a quarter of
its size. Flat and IVF indexes remove ids in place.
"""

from __future__ import annotations

import logging
import math
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simmatch._fs import atomic_file
from simmatch.errors import InputError

logger = logging.getLogger(__name__)

METRICS = ("cosine", "ip", "l2")
ANN_CHOICES = ("auto", "flat", "hnsw", "ivf")
KINDS = ("flat", "hnsw", "ivf")
TOMBSTONE_REBUILD_FRACTION = 0.25


@dataclass(frozen=True)
class AnnParams:
    """Approximate-search settings, recorded in the index at creation.

    hnsw_m: graph degree (``M``) of HNSW; more = better recall, more memory, slower build.
    hnsw_ef_construction: candidate list size while building the HNSW graph.
    hnsw_ef_search: candidate list size while searching (raised to ``top_k`` when smaller).
    ivf_nlist: number of IVF buckets; ``None`` = ``4 * sqrt(n)`` at (re)build time.
    ivf_nprobe: IVF buckets visited per query.
    exact_filter_limit: with an ANN index, a metadata filter that leaves at most this many
        documents is answered by exact scoring of those documents' stored vectors (an ANN walk
        restricted to a small subset misses results; IVF would visit buckets holding none).
    """

    hnsw_m: int = 32
    hnsw_ef_construction: int = 100
    hnsw_ef_search: int = 128
    ivf_nlist: int | None = None
    ivf_nprobe: int = 32
    exact_filter_limit: int = 20_000

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value is None and name == "ivf_nlist":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"ann parameter {name} must be a positive integer, got {value!r}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> AnnParams:
        known = set(cls.__dataclass_fields__)
        unknown = set(values) - known
        if unknown:
            raise InputError(f"unknown ann parameter(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(**values)


def _faiss() -> Any:
    """The faiss module, imported lazily and typed ``Any`` (its bundled stubs lag the API)."""
    import faiss

    return faiss


def faiss_metric(metric: str) -> int:
    faiss = _faiss()
    if metric not in METRICS:
        raise InputError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    return faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT


def ivf_nlist(n: int, params: AnnParams) -> int:
    """IVF bucket count for ``n`` vectors: ``params.ivf_nlist`` or ``4 * sqrt(n)``, at most
    ``n // 39`` so k-means has the 39 training points per centroid FAISS asks for."""
    wanted = params.ivf_nlist or int(4 * math.sqrt(max(n, 1)))
    return max(1, min(wanted, n // 39))


def make_faiss_index(kind: str, dim: int, metric: str, params: AnnParams, nlist: int = 1) -> Any:
    """The bare FAISS index (not yet wrapped in an id map) for a kind; IVF comes untrained."""
    faiss = _faiss()

    faiss_m = faiss_metric(metric)
    if kind == "flat":
        return faiss.IndexFlatL2(dim) if metric == "l2" else faiss.IndexFlatIP(dim)
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, params.hnsw_m, faiss_m)
        index.hnsw.efConstruction = params.hnsw_ef_construction
        index.hnsw.efSearch = params.hnsw_ef_search
        return index
    if kind == "ivf":
        quantizer = faiss.IndexFlatL2(dim) if metric == "l2" else faiss.IndexFlatIP(dim)
        # FAISS's Python layer keeps the quantizer alive as long as the IVF index.
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss_m)
        index.nprobe = params.ivf_nprobe
        return index
    raise InputError(f"unknown index kind {kind!r}; choose one of {', '.join(KINDS)}")


def search_parameters(kind: str, params: AnnParams, k: int, selector: Any = None) -> Any:
    """Per-call FAISS search parameters (thread-safe, unlike setting ``efSearch`` on the index)."""
    faiss = _faiss()

    if kind == "hnsw":
        return faiss.SearchParametersHNSW(efSearch=max(params.hnsw_ef_search, k), sel=selector)
    if kind == "ivf":
        return faiss.SearchParametersIVF(nprobe=params.ivf_nprobe, sel=selector)
    return faiss.SearchParameters(sel=selector) if selector is not None else None


def exact_scores(queries: np.ndarray, vectors: np.ndarray, metric: str) -> np.ndarray:
    """(n_queries, n_vectors) scores, higher = better: inner product, or minus squared L2."""
    if metric == "l2":
        sq = (queries**2).sum(1)[:, None] - 2 * queries @ vectors.T + (vectors**2).sum(1)[None, :]
        return -sq
    return queries @ vectors.T


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` highest ``scores`` (1-D), best first; ties: lower position first."""
    k = min(k, len(scores))
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    if k < len(scores):
        cutoff = np.partition(scores, len(scores) - k)[len(scores) - k]
        candidates = np.flatnonzero(scores >= cutoff)
    else:
        candidates = np.arange(len(scores))
    order = candidates[np.lexsort((candidates, -scores[candidates]))]
    return order[:k].astype(np.int64)


_EXACT_CHUNK = 1 << 24  # score-matrix entries per block (64 MiB of float32)


def exact_search(
    queries: np.ndarray, vectors: np.ndarray, k: int, metric: str = "ip"
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` search of every query among ``vectors``: ``(scores, positions)``, each
    ``(n_queries, min(k, n_vectors))``, best first (ties: lower position first). Scores as in
    ``exact_scores``; with ``metric="cosine"`` both sides are L2-normalized first. Queries are
    scored in blocks, so memory stays bounded for large corpora.

    The one exact dense search of simmatch: the index (filtered search over an ANN index),
    hard-negative mining and the retrieval evaluator use it."""
    queries = np.asarray(queries, dtype=np.float32)
    vectors = np.asarray(vectors, dtype=np.float32)
    if metric not in METRICS:
        raise InputError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    if metric == "cosine":
        queries, vectors = _unit(queries), _unit(vectors)
    k = min(k, len(vectors))
    scores_out = np.zeros((len(queries), k), dtype=np.float32)
    ids_out = np.zeros((len(queries), k), dtype=np.int64)
    block = max(1, _EXACT_CHUNK // max(len(vectors), 1))
    for start in range(0, len(queries), block):
        scores = exact_scores(queries[start : start + block], vectors, metric)
        for row, query_scores in enumerate(scores, start):
            best = top_k(query_scores, k)
            ids_out[row], scores_out[row] = best, query_scores[best]
    return scores_out, ids_out


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


class VectorIndex:
    """A FAISS ``IndexIDMap2`` plus the bookkeeping the index needs around it."""

    def __init__(self, index: Any, kind: str, metric: str, params: AnnParams):
        self.index = index
        self.kind = kind
        self.metric = metric
        self.params = params
        self.dead = np.empty(0, dtype=np.int64)  # HNSW tombstones (ids no longer in SQLite)
        self.file_record: dict[str, int] | None = None  # crc32/bytes/ntotal of the file read or written

    @classmethod
    def empty(
        cls,
        kind: str,
        dim: int,
        metric: str,
        params: AnnParams,
        training: np.ndarray | None = None,
        nlist: int | None = None,
    ) -> VectorIndex:
        """A new empty index; an IVF index (``nlist`` buckets, default from the training size)
        is trained on ``training``, which it requires."""
        faiss = _faiss()

        if kind == "ivf":
            if training is None or not len(training):
                raise InputError("an IVF index needs training vectors")
            nlist = nlist or ivf_nlist(len(training), params)
        inner = make_faiss_index(kind, dim, metric, params, nlist=nlist or 1)
        if kind == "ivf":
            inner.train(np.ascontiguousarray(training, dtype=np.float32))
        return cls(faiss.IndexIDMap2(inner), kind, metric, params)

    @classmethod
    def load(cls, path: Path, dim: int, metric: str, params: AnnParams) -> VectorIndex:
        """Read a saved index; ``ValueError`` if it is not one this index could have written.
        ``file_record`` of the result holds the file's crc32, size and vector count, computed
        while reading, for comparison with the record made when it was saved."""
        faiss = _faiss()

        state = {"crc32": 0, "bytes": 0}
        with open(path, "rb") as handle:

            def read(size: int) -> bytes:
                chunk = handle.read(size)
                state["crc32"] = zlib.crc32(chunk, state["crc32"])
                state["bytes"] += len(chunk)
                return chunk

            try:
                index = faiss.read_index(faiss.PyCallbackIOReader(read))
            except RuntimeError as exc:  # FAISS reports unreadable files as RuntimeError
                raise ValueError(f"unreadable FAISS file {path.name}: {exc}") from exc
            trailing = handle.read()
        state["crc32"] = zlib.crc32(trailing, state["crc32"])
        state["bytes"] += len(trailing)
        if not isinstance(index, faiss.IndexIDMap2):
            raise ValueError(f"{path.name} is a {type(index).__name__}, not an IndexIDMap2")
        inner = faiss.downcast_index(index.index)
        if isinstance(inner, faiss.IndexHNSW):
            kind = "hnsw"
        elif isinstance(inner, faiss.IndexIVF):
            kind = "ivf"
        elif isinstance(inner, faiss.IndexFlat):
            kind = "flat"
        else:
            raise ValueError(f"{path.name} wraps an unsupported {type(inner).__name__}")
        if index.d != dim or index.metric_type != faiss_metric(metric):
            raise ValueError(f"{path.name} has dim {index.d} / metric {index.metric_type}, expected {dim}")
        loaded = cls(index, kind, metric, params)
        loaded.file_record = {**state, "ntotal": loaded.ntotal}
        return loaded

    # -- contents ------------------------------------------------------------------------------

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def n_live(self) -> int:
        return self.ntotal - len(self.dead)

    @property
    def nlist(self) -> int | None:
        if self.kind != "ivf":
            return None
        faiss = _faiss()

        return int(faiss.downcast_index(self.index.index).nlist)

    def ids(self) -> np.ndarray:
        """Every id held by the FAISS index (tombstoned ones included), ascending."""
        faiss = _faiss()

        return np.sort(faiss.vector_to_array(self.index.id_map).astype(np.int64))

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32), np.ascontiguousarray(ids, dtype=np.int64)
            )

    def set_dead(self, extra: np.ndarray) -> None:
        """Make the index hold exactly the live ids: ``extra`` are ids present but no longer live."""
        extra = np.asarray(extra, dtype=np.int64)
        if self.kind == "hnsw":
            self.dead = np.sort(extra)
        elif len(extra):
            self.index.remove_ids(extra)

    def needs_rebuild(self, n_live: int) -> bool:
        """Too many HNSW tombstones, or an IVF index that grew well past its bucket count."""
        if self.kind == "hnsw":
            return len(self.dead) > TOMBSTONE_REBUILD_FRACTION * max(self.ntotal, 1)
        if self.kind == "ivf":
            return ivf_nlist(n_live, self.params) >= 4 * (self.nlist or 1)
        return False

    # -- search --------------------------------------------------------------------------------

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ``(scores, ids)`` per query, higher score = better; id -1 pads missing slots.
        ``allowed`` restricts the search to those ids (they must be live)."""
        faiss = _faiss()

        keep: list[Any] = []  # selectors must outlive the search call
        selector: Any = None
        if allowed is not None:
            selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
            keep.append(selector)
        elif len(self.dead):
            batch = faiss.IDSelectorBatch(self.dead)
            selector = faiss.IDSelectorNot(batch)
            keep.extend([batch, selector])
        params = search_parameters(self.kind, self.params, k, selector)
        distances, ids = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k, params=params)
        del keep
        scores = -distances if self.metric == "l2" else distances
        return scores, ids

    # -- persistence ---------------------------------------------------------------------------

    def save(self, path: Path, record: Callable[[dict[str, int]], None] | None = None) -> None:
        """Write atomically (``simmatch._fs.atomic_file``), computing the file's crc32 on the
        way; ``record`` gets ``{"crc32", "bytes", "ntotal"}`` after the data is on disk and before
        the file is renamed into place. Disk errors propagate as ``OSError``."""
        faiss = _faiss()

        state = {"crc32": 0, "bytes": 0}

        def before_replace() -> None:
            self.file_record = {**state, "ntotal": self.ntotal}
            if record is not None:
                record(self.file_record)

        with atomic_file(path, before_replace) as tmp, open(tmp, "wb") as handle:

            def write(chunk: bytes) -> None:
                state["crc32"] = zlib.crc32(chunk, state["crc32"])
                state["bytes"] += len(chunk)
                handle.write(chunk)

            faiss.write_index(self.index, faiss.PyCallbackIOWriter(write))
            handle.flush()
