"""Embedding a corpus on a Ray cluster: Ray Data reads the corpus (JSONL / TSV / Parquet, a file
or a directory), an actor pool of ``Embedder``s encodes it (``map_batches`` with a callable class:
one model per actor, ``threads`` CPUs each), and the driver writes the vectors in input order as
Parquet shards (``simmatch.scale.shards``), so the job resumes after its last complete shard.

Ray retries a task whose worker died (Ray Data restarts actors); an error in the data (an empty
text) fails the job with the ``InputError`` naming the document id. Measured pitfalls designed
around (docs/scale.md): the read is materialized before it is split (a lazy repartition before
``map_batches`` deadlocked with every CPU held by actors); order is preserved so shards are
deterministic; the driver writes the shards, so workers need no shared file system.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from simmatch.errors import InputError, SimmatchError, require
from simmatch.index import encoders
from simmatch.scale import shards
from simmatch.scale.options import RayOptions

if TYPE_CHECKING:
    from simmatch.models.embedder import Kind

FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".tsv": "tsv", ".parquet": "parquet"}
COLUMNS = ("id", "text")
TSV_HEADER = "id\ttext"


def corpus_files(source: str | Path) -> tuple[list[Path], str]:
    """The corpus files of ``source`` (a file, or every known file of a directory, sorted) and
    their one format."""
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in FORMATS)
        if not files:
            raise InputError(f"{path} holds no corpus files ({', '.join(FORMATS)})")
    elif path.is_file():
        files = [path]
    else:
        raise InputError(f"corpus {path} does not exist")
    formats = set()
    for file in files:
        if file.suffix.lower() not in FORMATS:
            raise InputError(f"{file}: unknown corpus format; use one of {', '.join(FORMATS)}")
        formats.add(FORMATS[file.suffix.lower()])
    if len(formats) > 1:
        raise InputError(f"{path} mixes corpus formats ({', '.join(sorted(formats))}); use one")
    return [f.resolve() for f in files], formats.pop()


def _tsv_header(files: list[Path]) -> bool:
    headers = set()
    for file in files:
        with open(file, encoding="utf-8") as fh:
            headers.add(fh.readline().rstrip("\r\n") == TSV_HEADER)
    if len(headers) > 1:
        raise InputError(f"some TSV files start with the header {TSV_HEADER!r} and some do not")
    return headers.pop()


def read_corpus(ray: Any, files: list[Path], format: str) -> Any:
    """A Ray ``Dataset`` of ``(id, text)`` rows (ids as strings)."""
    paths = [str(f) for f in files]
    if format == "parquet":
        ds = ray.data.read_parquet(paths, columns=list(COLUMNS))
    elif format == "tsv":
        pa = require("pyarrow", "ray")
        csv = require("pyarrow.csv", "ray")
        ds = ray.data.read_csv(
            paths,
            parse_options=csv.ParseOptions(delimiter="\t", quote_char=False),
            read_options=csv.ReadOptions(column_names=list(COLUMNS), skip_rows=int(_tsv_header(files))),
            convert_options=csv.ConvertOptions(column_types={"id": pa.string(), "text": pa.string()}),
        )
    else:
        ds = ray.data.read_json(paths, lines=True)
    return ds


class EmbedBatch:
    """The callable class of the actor pool: one ``Embedder`` per actor, a batch of ``(id, text)``
    in, ``(id, vector)`` out. Also usable in-process (tests compare the two)."""

    def __init__(
        self, model: str, backend: str, threads: int, kind: str, normalize: bool, batch_size: int
    ) -> None:
        from simmatch.models import Embedder

        self.embedder = Embedder(model, backend=backend, threads=threads)
        self.kind: Kind = "query" if kind == "query" else "passage"
        self.normalize, self.batch_size = normalize, batch_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """A bad row does not raise here (Ray would wrap the error and retry the task): its batch
        comes back with the message in ``error``, and the driver raises it as ``InputError``."""
        from simmatch.models._inputs import check_text

        ids = [str(value) for value in batch["id"]]
        try:
            texts = [check_text(t, f"document {i!r}: text") for i, t in zip(ids, batch["text"])]
            vectors = self.embedder.encode(
                texts,
                batch_size=self.batch_size,
                normalize=self.normalize,
                kind=self.kind,
                show_progress=False,
            )
            error = ""
        except SimmatchError as exc:
            vectors, error = np.zeros((len(ids), self.embedder.dim), np.float32), str(exc)
        return {
            "id": np.array(ids, dtype=object),
            "vector": np.asarray(vectors, dtype=np.float32),
            "error": np.array([error] * len(ids), dtype=object),
        }


@contextlib.contextmanager
def connected(ray: Any, options: RayOptions) -> Iterator[None]:
    """Ray initialized for the job: an existing session is used as it is; otherwise one is
    started (or joined) here and shut down afterwards."""
    if ray.is_initialized():
        yield
        return
    address = None if options.address in (None, "auto") else options.address
    ray.init(address=address, include_dashboard=False, **options.init_kwargs)
    try:
        yield
    finally:
        ray.shutdown()


@contextlib.contextmanager
def _ordered(ray: Any, show_progress: bool) -> Iterator[None]:
    """Ray Data keeps block order (deterministic shards); its own progress bars off (ours shows)."""
    context = ray.data.DataContext.get_current()
    before = (context.execution_options.preserve_order, context.enable_progress_bars)
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    try:
        yield
    finally:
        context.execution_options.preserve_order, context.enable_progress_bars = before


def embed_corpus(
    source: str | Path,
    out_dir: str | Path,
    model: str,
    *,
    kind: str = "passage",
    normalize: bool = True,
    options: RayOptions | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Embed the ``(id, text)`` rows of ``source`` on Ray into Parquet shards in ``out_dir``.

    ``model`` must resolve on every node (a built-in name, a hub id in the nodes' caches, or a
    directory at the same path everywhere). A rerun with the same arguments skips the shards
    already written. Returns ``{"rows", "shards", "skipped_shards", "out", "model", "dim"}``.
    """
    options = options or RayOptions()
    from simmatch.models.embedder import KINDS

    if kind not in KINDS:
        raise InputError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    files, format = corpus_files(source)
    out = Path(out_dir)
    ray = require("ray", "ray")
    from simmatch.models import Embedder

    # Loaded here first: checks the model, makes the ONNX export once, gives the fingerprint.
    probe = Embedder(model, backend=options.backend, threads=options.threads)
    job = {
        "model_name": probe.model_name,
        "dim": probe.dim,
        "backend": options.backend,
        "kind": kind,
        "normalize": normalize,
        "shard_rows": options.shard_rows,
        "sources": [str(f) for f in files],
        "fingerprint": encoders.fingerprint(probe, normalize, kind, probe.dim).tolist(),
    }
    del probe
    with connected(ray, options), _ordered(ray, show_progress):
        corpus = read_corpus(ray, files, format).materialize()
        missing = [c for c in COLUMNS if c not in corpus.schema().names]
        if missing:
            raise InputError(f"corpus {source} has no {' or '.join(missing)} column (it needs id and text)")
        rows = corpus.count()
        if rows == 0:
            raise InputError(f"corpus {source} has no rows")
        job["rows"] = rows
        done = shards.start(out, job)
        total = math.ceil(rows / options.shard_rows)
        first = min(done * options.shard_rows, rows)
        if first < rows:
            rest = corpus.select_columns(list(COLUMNS))
            if first:
                rest = rest.split_at_indices([first])[1]
            embedded = rest.map_batches(
                EmbedBatch,
                fn_constructor_kwargs={
                    "model": str(Path(model).resolve()) if Path(str(model)).exists() else str(model),
                    "backend": options.backend,
                    "threads": options.threads,
                    "kind": kind,
                    "normalize": normalize,
                    "batch_size": options.batch_size,
                },
                compute=ray.data.ActorPoolStrategy(size=options.actors),
                num_cpus=options.threads,
                batch_size=max(options.ray_batch_rows, options.batch_size),
                batch_format="numpy",
            )
            _write(embedded, out, done, rows, first, options.shard_rows, show_progress)
    shards.write_manifest(out, {**job, "complete": True, "shards": total})
    return {
        "rows": rows,
        "shards": total,
        "skipped_shards": min(done, total),
        "out": str(out),
        "model": job["model_name"],
        "dim": job["dim"],
    }


def _write(
    embedded: Any, out: Path, number: int, rows: int, first: int, shard_rows: int, show_progress: bool
) -> None:
    """Write the embedded rows (in input order) as shards ``number``, ``number + 1``, …"""
    from tqdm.auto import tqdm

    ids: list[str] = []
    parts: list[np.ndarray] = []
    with tqdm(total=rows, initial=first, disable=not show_progress, desc="embedding", unit="doc") as bar:
        for batch in embedded.iter_batches(batch_format="numpy", batch_size=None):
            errors = [message for message in batch["error"] if message]
            if errors:
                raise InputError(errors[0])
            ids.extend(str(i) for i in batch["id"])
            parts.append(np.asarray(batch["vector"], dtype=np.float32))
            bar.update(len(batch["id"]))
            while len(ids) >= shard_rows:
                vectors = np.concatenate(parts)
                shards.write_shard(out, number, ids[:shard_rows], vectors[:shard_rows])
                number += 1
                ids, parts = ids[shard_rows:], [vectors[shard_rows:]]
        if ids:
            shards.write_shard(out, number, ids, np.concatenate(parts))
