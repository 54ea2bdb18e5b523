"""``Index`` on Milvus through ``MilvusClient``: Milvus Lite embedded (a ``*.db`` file) or a Milvus
server or cluster (an ``http://host:19530`` URI, ``MILVUS_TOKEN`` or ``token=``), chosen by
``Index.create`` / ``Index.open`` from the location (``simmatch.index.location``).

One collection per index: ``id`` (primary key), ``text`` (jieba analyzer), ``metadata`` (JSON),
``dense`` (HNSW), ``sparse`` (BM25 function of ``text``) and one VARCHAR field ``m_<key>`` per
``filter_fields`` key (fast filters: the value's JSON text). Settings (model, dim, fingerprint, …)
live in a second collection ``<name>_settings``. Search returns the same ``SearchHit``s; the
encoder checks, prompts and reranking stay in simmatch. Measured with milvus-lite 3.2.2 and
designed around (docs/scale.md): each write ends with ``flush`` (search before it costs ~1 s per
query); the analyzer is ``{"tokenizer": "jieba"}`` (Lite refuses ``"chinese"``); ``filter`` on a
key not in ``filter_fields`` runs on the JSON field (correct, slower); Lite returns BM25 scores
negated (reported here as positive); BM25 statistics are per segment in Lite; hybrid is
Milvus's ``RRFRanker(60)``; filter templates are refused by Lite, so literals are JSON-escaped.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping, Sequence, Sized
from pathlib import Path
from typing import Any

import numpy as np

from simmatch.errors import InputError, SimmatchError, require
from simmatch.index import encoders
from simmatch.index.base import IndexBase
from simmatch.index.fusion import RRF_K
from simmatch.index.location import MilvusLocation, parse
from simmatch.index.options import (
    DEFAULT_MODE,
    DEFAULT_RERANK_FUSION,
    DEFAULT_RERANK_TOP_K,
    DEFAULT_TOP_K,
    FUSION_CANDIDATES,
    INDEX_DEFAULTS,
    IndexConfig,
    positive_int,
)
from simmatch.index.precomputed import Embeddings
from simmatch.index.search import SearchRequest
from simmatch.index.types import AddStats, Document, SearchHit, metadata_json
from simmatch.index.writes import batches, latest_by_id

MAX_TEXT = 65_535
MAX_ID = 512
HNSW = {"M": 16, "efConstruction": 200}
OUTPUT = ["id", "text", "metadata"]


def _literal(value: Any) -> str:
    if value is None:
        raise AssertionError  # handled by the caller (is null)
    return json.dumps(value, ensure_ascii=False)


def _count(docs: Iterable[Any]) -> int | None:
    return len(docs) if isinstance(docs, Sized) else None


class MilvusIndex(IndexBase):
    """An ``Index`` whose documents, vectors and BM25 live in a Milvus collection: the same
    public methods (``add``, ``delete``, ``get``, ``ids``, ``info``, ``search``, ``search_batch``,
    ``close``, ``len``, ``in``, context manager)."""

    def __init__(self, where: MilvusLocation, client: Any, settings: dict[str, Any], encoder: Any):
        # A server index is named by its URI and collection (never a local path).
        self.path: Path | str = Path(where.uri) if where.is_lite else where.label
        self._where, self._client, self._name = where, client, where.collection
        self._settings, self._encoder = settings, encoder
        self._dim, self._metric = int(settings["dim"]), str(settings["metric"])
        self._filter_fields = tuple(settings["filter_fields"])
        self._lock = threading.RLock()
        self._write_lock = threading.Lock()
        self._read_only, self._closed = False, False

    @staticmethod
    def _connect(where: MilvusLocation, token: str | None) -> Any:
        pymilvus = require("pymilvus", "milvus")
        from simmatch.settings import milvus_token

        token = token if token is not None else milvus_token()
        try:
            return pymilvus.MilvusClient(where.uri, **({"token": token} if token else {}))
        except pymilvus.MilvusException as exc:
            what = "open Milvus Lite database" if where.is_lite else "connect to Milvus server"
            raise SimmatchError(f"cannot {what} at {where.uri}: {exc.message}") from exc

    @classmethod
    def create(
        cls,
        path: str | Path,
        encoder: Any,
        *,
        metric: str = INDEX_DEFAULTS.metric,
        passage_kind: str = INDEX_DEFAULTS.passage_kind,
        query_kind: str = INDEX_DEFAULTS.query_kind,
        filter_fields: Sequence[str] = (),
        token: str | None = None,
    ) -> MilvusIndex:
        """A new collection at ``path`` (``file.db[#name]`` or ``http://host:19530[#name]``).
        metric: ``cosine`` or ``ip`` (Milvus's IP on stored vectors). filter_fields: metadata keys
        stored as their own fields, so filters on them are fast."""
        from pymilvus import DataType, Function, FunctionType

        if metric not in ("cosine", "ip"):
            raise InputError(f"a Milvus index supports metric 'cosine' or 'ip', not {metric!r}")
        for key in filter_fields:
            if not (isinstance(key, str) and key.isidentifier()):
                raise InputError(f"filter field {key!r} must be an identifier (letters, digits, _)")
        where = parse(path)
        config = IndexConfig(metric=metric, passage_kind=passage_kind, query_kind=query_kind)
        encoder = encoders.as_encoder(encoder)
        model_name, dim = encoders.encoder_identity(encoder)
        fingerprint = encoders.fingerprint(encoder, config.normalize, config.passage_kind, dim)
        settings = {**config.record(model_name, dim, fingerprint), "store": "milvus"}
        settings["filter_fields"] = list(filter_fields)
        client = cls._connect(where, token)
        if client.has_collection(where.collection):
            client.close()
            raise InputError(f"{path}: collection {where.collection!r} already exists; use Index.open")
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=MAX_ID)
        schema.add_field(
            "text",
            DataType.VARCHAR,
            max_length=MAX_TEXT,
            enable_analyzer=True,
            analyzer_params={"tokenizer": "jieba"},
        )
        schema.add_field("metadata", DataType.JSON)
        for key in filter_fields:
            schema.add_field(f"m_{key}", DataType.VARCHAR, max_length=MAX_TEXT, nullable=True)
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(Function("bm25", FunctionType.BM25, ["text"], ["sparse"]))
        index_params = client.prepare_index_params()
        index_params.add_index("dense", index_type="HNSW", metric_type="IP", params=HNSW)
        index_params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        client.create_collection(
            where.collection, schema=schema, index_params=index_params, consistency_level="Strong"
        )
        _save_settings(client, where.collection, settings)
        return cls(where, client, settings, encoder)

    @classmethod
    def open(
        cls,
        path: str | Path,
        encoder: Any | None = None,
        *,
        load_encoder: bool = False,
        read_only: bool = False,
        write: bool = False,
        normalize: bool | None = None,
        passage_kind: str | None = None,
        query_kind: str | None = None,
        token: str | None = None,
    ) -> MilvusIndex:
        """An existing collection, with ``Index.open``'s options: the encoder is checked as for
        the local store; ``normalize`` / ``passage_kind`` / ``query_kind``, when given, must equal
        the recorded settings; ``read_only`` refuses ``add`` and ``delete``. ``write`` is
        accepted and needs no lock: a Milvus server orders concurrent writes itself, and Milvus
        Lite opens its file for one process only (a second process fails at open)."""
        if write and read_only:
            raise InputError("Index.open: write=True and read_only=True exclude each other")
        where = parse(path)
        client = cls._connect(where, token)
        try:
            settings = _load_settings(client, where.collection, path)
            expected = {"normalize": normalize, "passage_kind": passage_kind, "query_kind": query_kind}
            for key, value in expected.items():
                if value is not None and value != settings[key]:
                    raise InputError(f"index at {path} was built with {key}={settings[key]!r}, not {value!r}")
            if encoder is None and load_encoder:
                encoder = settings["model_name"]
            if encoder is not None:
                encoder = encoders.as_encoder(encoder)
                encoders.check_encoder(str(path), settings, encoder)
        except BaseException:
            client.close()
            raise
        index = cls(where, client, settings, encoder)
        index._read_only = read_only
        return index

    def _check_writable(self) -> None:
        if self._read_only:
            raise InputError(f"index at {self.path} was opened read_only=True; it cannot be changed")

    def search(self, query: str, top_k: int = DEFAULT_TOP_K, **options: Any) -> list[SearchHit]:
        """``search_batch`` for one query (the options of ``Index.search``)."""
        if not isinstance(query, str):
            raise InputError(
                f"query must be a string, got {type(query).__name__}; use search_batch for lists"
            )
        return self.search_batch([query], top_k=top_k, **options)[0]

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._client.close()

    # -- reading -------------------------------------------------------------------------------

    def __len__(self) -> int:
        with self._lock:
            self._check_open()
            rows = self._client.query(self._name, filter="", output_fields=["count(*)"])
            return int(rows[0]["count(*)"])

    def ids(self) -> list[str]:
        with self._lock:
            self._check_open()
            return sorted(
                row["id"] for row in self._client.query(self._name, filter='id != ""', output_fields=["id"])
            )

    def _rows(self, ids: list[str], fields: list[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        expr = f"id in {json.dumps(ids, ensure_ascii=False)}"
        return {row["id"]: row for row in self._client.query(self._name, filter=expr, output_fields=fields)}

    def get(self, doc_id: str) -> Document | None:
        if not isinstance(doc_id, str):
            raise InputError(f"document id must be a string, got {doc_id!r}")
        with self._lock:
            self._check_open()
            row = self._rows([doc_id], OUTPUT).get(doc_id)
        return None if row is None else Document(row["id"], row["text"], dict(row["metadata"]))

    @property
    def settings(self) -> dict[str, Any]:
        return {k: v for k, v in self._settings.items() if k != "fingerprint"}

    def info(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "uri": self._where.uri,
            "collection": self._name,
            "documents": len(self),
            "read_only": self._read_only,
            **self.settings,
            "rrf_k": RRF_K,
        }

    # -- writing -------------------------------------------------------------------------------

    def add(
        self,
        docs: Iterable[Document | Mapping[str, Any]],
        batch_size: int = 256,
        show_progress: bool = True,
        vectors: Embeddings | None = None,
    ) -> AddStats:
        """As ``Index.add``: a changed text is re-embedded, an unchanged one keeps its vector;
        the collection is flushed at the end (Milvus searches unflushed data by brute force)."""
        positive_int("batch_size", batch_size)
        self._check_writable()
        if isinstance(docs, (str, bytes, Mapping, Document)):
            raise InputError("add() takes an iterable of documents; wrap a single document in a list")
        given = (
            None
            if vectors is None
            else vectors.checked(
                str(self.path), self._settings, len(docs) if isinstance(docs, Sized) else None
            )
        )
        if given is None:
            self._require_encoder("add")
        stats, done = AddStats(), 0
        with self._write_lock:
            for batch in batches(docs, batch_size):
                own = None if given is None else given[done : done + len(batch)]
                stats, done = stats + self._add_batch_milvus(batch, batch_size, own), done + len(batch)
            with self._lock:
                self._client.flush(self._name)
        return stats

    def _add_batch_milvus(self, batch: list[Document], batch_size: int, given: np.ndarray | None) -> AddStats:
        docs = latest_by_id(batch)
        for doc in docs:
            if len(doc.id.encode()) > MAX_ID or len(doc.text.encode()) > MAX_TEXT:
                raise InputError(
                    f"document {doc.id!r}: a Milvus index takes ids up to {MAX_ID} and texts "
                    f"up to {MAX_TEXT} bytes"
                )
        with self._lock:
            self._check_open()
            stored = self._rows([d.id for d in docs], ["id", "text", "metadata", "dense"])
        to_embed = [d for d in docs if d.id not in stored or stored[d.id]["text"] != d.text]
        kept = [d for d in docs if d.id in stored and stored[d.id]["text"] == d.text]
        changed_meta = [
            d for d in kept if metadata_json(stored[d.id]["metadata"]) != metadata_json(d.metadata)
        ]
        vectors: dict[str, Any] = {d.id: stored[d.id]["dense"] for d in changed_meta}
        if to_embed and given is None:
            encoded = self._encode([d.text for d in to_embed], self._settings["passage_kind"], batch_size)
            vectors.update(zip((d.id for d in to_embed), encoded.tolist()))
        elif to_embed and given is not None:
            position = {doc.id: i for i, doc in enumerate(batch)}
            vectors.update((d.id, given[position[d.id]].tolist()) for d in to_embed)
        rows = [self._row(d, vectors[d.id]) for d in [*to_embed, *changed_meta]]
        if rows:
            with self._lock:
                self._client.upsert(self._name, rows)
        replaced = sum(d.id in stored for d in to_embed)
        return AddStats(
            added=len(to_embed) - replaced,
            updated=replaced + len(changed_meta),
            unchanged=len(kept) - len(changed_meta),
            encoded=len(to_embed),
        )

    def _row(self, doc: Document, vector: Any) -> dict[str, Any]:
        row = {"id": doc.id, "text": doc.text, "metadata": doc.metadata, "dense": vector}
        for key in self._filter_fields:
            value = doc.metadata.get(key)
            row[f"m_{key}"] = None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)
        return row

    def delete(self, ids: str | Iterable[str]) -> int:
        self._check_writable()
        id_list = [ids] if isinstance(ids, str) else list(ids)
        for position, doc_id in enumerate(id_list):
            if not isinstance(doc_id, str):
                raise InputError(f"id {position}: document ids are strings, got {doc_id!r}")
        with self._write_lock, self._lock:
            self._check_open()
            existing = list(self._rows(list(dict.fromkeys(id_list)), ["id"]))
            if existing:
                self._client.delete(self._name, ids=existing)
                self._client.flush(self._name)
        return len(existing)

    # -- search --------------------------------------------------------------------------------

    def search_batch(
        self,
        queries: Sequence[str],
        top_k: int = DEFAULT_TOP_K,
        mode: str = DEFAULT_MODE,
        rerank: Any | None = None,
        rerank_top_k: int = DEFAULT_RERANK_TOP_K,
        filter: Mapping[str, Any] | None = None,
        batch_size: int = 32,
        rerank_fusion: str = DEFAULT_RERANK_FUSION,
    ) -> list[list[SearchHit]]:
        """As ``Index.search_batch``. Scores: dense = inner product of the stored vectors;
        bm25 = Milvus's BM25; hybrid = Milvus's RRF (k=60) of the top ``max(100, depth)`` of each."""
        request, query_vectors = self._search_request(
            queries,
            top_k=top_k,
            mode=mode,
            rerank=rerank,
            rerank_top_k=rerank_top_k,
            filter=filter,
            batch_size=batch_size,
            rerank_fusion=rerank_fusion,
        )
        if not request.queries:
            return []
        vectors = None if query_vectors is None else query_vectors.tolist()
        expr = self._filter(request.conditions)
        with self._lock:
            self._check_open()
            results = self._milvus_hits(request, vectors, expr)
        return request.finish(results)

    def _filter(self, conditions: dict[str, Any]) -> str:
        parts = []
        for key, value in conditions.items():
            if key in self._filter_fields:
                field = f"m_{key}"
                encoded = None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)
                parts.append(f"{field} is null" if encoded is None else f"{field} == {_literal(encoded)}")
            else:
                field = f"metadata[{json.dumps(key, ensure_ascii=False)}]"
                parts.append(f"{field} is null" if value is None else f"{field} == {_literal(value)}")
        return " and ".join(parts)

    def _milvus_hits(self, request: SearchRequest, vectors: list | None, expr: str) -> list[list[SearchHit]]:
        from pymilvus import AnnSearchRequest, RRFRanker

        depth = request.depth
        dense_params = {"metric_type": "IP", "params": {"ef": max(64, depth)}}
        bm25_params = {"metric_type": "BM25"}
        if request.mode == "dense":
            raw = self._client.search(
                self._name,
                data=vectors,
                anns_field="dense",
                limit=depth,
                filter=expr,
                output_fields=OUTPUT,
                search_params=dense_params,
            )
            key = "dense"
        elif request.mode == "bm25":
            raw = self._client.search(
                self._name,
                data=request.queries,
                anns_field="sparse",
                limit=depth,
                filter=expr,
                output_fields=OUTPUT,
                search_params=bm25_params,
            )
            key = "bm25"
        else:
            candidates = max(FUSION_CANDIDATES, depth)
            raw = []
            for query, vector in zip(request.queries, vectors or []):
                reqs = [
                    AnnSearchRequest([vector], "dense", dense_params, candidates, expr=expr),
                    AnnSearchRequest([query], "sparse", bm25_params, candidates, expr=expr),
                ]
                raw.extend(
                    self._client.hybrid_search(
                        self._name, reqs, RRFRanker(RRF_K), limit=depth, output_fields=OUTPUT
                    )
                )
            key = "rrf"
        rank_key = {"dense": "dense_rank", "bm25": "bm25_rank", "rrf": "fusion_rank"}[key]
        out = []
        for hits in raw:
            converted = []
            for rank, hit in enumerate(hits, 1):
                entity = hit["entity"]
                # Lite returns BM25 scores negated (ascending); a server returns them positive.
                score = abs(float(hit["distance"])) if key == "bm25" else float(hit["distance"])
                scores = {key: score, rank_key: rank}
                converted.append(
                    SearchHit(entity["id"], entity["text"], dict(entity["metadata"]), score, scores)
                )
            out.append(converted)
        return out


SETTINGS_SUFFIX = "_settings"


def _save_settings(client: Any, name: str, settings: dict[str, Any]) -> None:
    from pymilvus import DataType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=64)
    schema.add_field("value", DataType.VARCHAR, max_length=MAX_TEXT)
    schema.add_field("unused", DataType.FLOAT_VECTOR, dim=2)  # Milvus requires a vector field
    index_params = client.prepare_index_params()
    index_params.add_index("unused", index_type="FLAT", metric_type="L2")
    client.create_collection(
        name + SETTINGS_SUFFIX, schema=schema, index_params=index_params, consistency_level="Strong"
    )
    value = json.dumps({**settings, "fingerprint": np.asarray(settings["fingerprint"]).tolist()})
    client.insert(name + SETTINGS_SUFFIX, [{"key": "settings", "value": value, "unused": [0.0, 0.0]}])
    client.flush(name + SETTINGS_SUFFIX)


def _load_settings(client: Any, name: str, path: str | Path) -> dict[str, Any]:
    if not (client.has_collection(name) and client.has_collection(name + SETTINGS_SUFFIX)):
        raise InputError(f"{path}: no simmatch index (collection {name!r}); create it with Index.create")
    for collection in (name, name + SETTINGS_SUFFIX):
        # A collection starts released in a new Milvus (Lite) process or after a server restart, and
        # Milvus refuses queries on it until it is loaded (loading builds or reads its indexes).
        if "Loaded" not in str(client.get_load_state(collection).get("state")):
            client.load_collection(collection)
    rows = client.query(name + SETTINGS_SUFFIX, filter='key == "settings"', output_fields=["value"])
    if not rows:
        raise InputError(f"{path}: collection {name!r} has no simmatch settings")
    return dict(json.loads(rows[0]["value"]))
