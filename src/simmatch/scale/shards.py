"""The output of an embedding job: a directory of Parquet shards ``part-00000.parquet`` … with
columns ``id`` (string) and ``vector`` (fixed-size list of float32), in input order, plus
``manifest.json`` (model, backend, prompt side, ``normalize``, fingerprint embedding, rows, shard
size, whether the job completed).

A shard appears complete or not at all (written to a temp name, then renamed), and shards are
written in order, so a rerun of the same job skips the complete ones and resumes after them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from simmatch._fs import atomic_file
from simmatch.errors import InputError, require
from simmatch.index.precomputed import Embeddings

MANIFEST = "manifest.json"
# Settings that must be equal for a rerun to continue a job's shards.
JOB_KEYS = ("model_name", "dim", "backend", "kind", "normalize", "shard_rows", "rows", "sources")


def shard_path(out_dir: Path, number: int) -> Path:
    return out_dir / f"part-{number:05d}.parquet"


def read_manifest(out_dir: Path) -> dict[str, Any] | None:
    path = out_dir / MANIFEST
    if not path.exists():
        return None
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path} is not a readable shard manifest: {exc}") from exc


def write_manifest(out_dir: Path, manifest: dict[str, Any]) -> None:
    with atomic_file(out_dir / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")


def start(out_dir: Path, job: dict[str, Any]) -> int:
    """Prepare ``out_dir`` for ``job`` (a manifest without ``complete``); returns how many
    shards are already written (0 for a new job). Refuses a directory holding another job's
    shards, or other files."""
    previous = read_manifest(out_dir) if out_dir.exists() else None
    if previous is None:
        if out_dir.exists() and any(out_dir.iterdir()):
            raise InputError(f"{out_dir} is not empty and holds no shard manifest; choose a new directory")
        out_dir.mkdir(parents=True, exist_ok=True)
        write_manifest(out_dir, {**job, "complete": False})
        return 0
    changed = [key for key in JOB_KEYS if previous.get(key) != job.get(key)]
    if changed:
        raise InputError(
            f"{out_dir} holds shards of another job (different {', '.join(changed)}); "
            "choose a new directory or remove it"
        )
    done = 0
    while shard_path(out_dir, done).exists():
        done += 1
    return done


def write_shard(out_dir: Path, number: int, ids: list[str], vectors: np.ndarray) -> None:
    pa = require("pyarrow", "ray")
    pq = require("pyarrow.parquet", "ray")
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1))
    table = pa.table(
        {
            "id": pa.array(ids, pa.string()),
            "vector": pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1]),
        }
    )
    with atomic_file(shard_path(out_dir, number)) as tmp:
        pq.write_table(table, tmp)


def load_shards(out_dir: str | Path) -> tuple[list[str], Embeddings]:
    """The ids and vectors of a completed job's shards, in input order, as ``Embeddings`` for
    ``Index.add(documents, vectors=...)``."""
    pq = require("pyarrow.parquet", "ray")
    out_dir = Path(out_dir)
    manifest = read_manifest(out_dir)
    if manifest is None:
        raise InputError(f"{out_dir} holds no shard manifest ({MANIFEST}); run the embedding job first")
    if not manifest.get("complete"):
        raise InputError(f"the job writing {out_dir} did not complete; rerun it to resume")
    ids: list[str] = []
    parts: list[np.ndarray] = []
    dim = int(manifest["dim"])
    for number in range(int(manifest["shards"])):
        table = pq.read_table(shard_path(out_dir, number))
        ids.extend(table.column("id").to_pylist())
        flat = table.column("vector").combine_chunks().flatten().to_numpy()
        parts.append(np.asarray(flat, dtype=np.float32).reshape(-1, dim))
    vectors = np.concatenate(parts) if parts else np.zeros((0, dim), np.float32)
    embeddings = Embeddings(
        vectors=vectors,
        model_name=str(manifest["model_name"]),
        fingerprint=np.asarray(manifest["fingerprint"], dtype=np.float32),
        normalize=bool(manifest["normalize"]),
        kind=str(manifest["kind"]),
    )
    return ids, embeddings
