"""``simmatch index add --ray``: the documents of a file embedded on Ray (``embed_corpus``) and
added to the index from the shards, without encoding them again (``Index.add(vectors=)``)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from simmatch.data import load_documents
from simmatch.errors import InputError
from simmatch.index.index import Index
from simmatch.index.types import coerce_document
from simmatch.scale.options import RayOptions
from simmatch.scale.ray_job import embed_corpus
from simmatch.scale.shards import load_shards


def add_file(
    path: str | Path,
    file: str | Path,
    *,
    options: RayOptions | None = None,
    shards: str | Path | None = None,
    format: str = "auto",
    batch_size: int = 256,
    show_progress: bool = True,
) -> dict[str, Any]:
    """``index.ops.add_file`` with the encoding done by a Ray job: the file is validated and the
    writer lock taken first; the job embeds with the index's recorded model and prompt side into
    ``shards`` (a directory kept for resuming; a temporary one by default), then the vectors are
    added. Returns the counts of ``ops.add_file`` and the job's summary under ``"ray"``."""
    documents = [coerce_document(d, i) for i, d in enumerate(load_documents(file, format=format))]
    with Index.open(path, write=True) as index, tempfile.TemporaryDirectory(prefix="simmatch-shards-") as tmp:
        settings = index.settings
        out = Path(shards) if shards is not None else Path(tmp) / "shards"
        summary = embed_corpus(
            file,
            out,
            settings["model_name"],
            kind=settings["passage_kind"],
            normalize=settings["normalize"],
            options=options,
            show_progress=show_progress,
        )
        ids, embeddings = load_shards(out)
        expected = [d.id for d in documents]
        if ids != expected:
            raise InputError(
                f"the Ray job read {len(ids)} rows of {file} that differ from its {len(expected)} documents"
            )
        stats = index.add(documents, batch_size=batch_size, show_progress=show_progress, vectors=embeddings)
        return {**stats.to_dict(), "documents": len(index), "ray": summary}
