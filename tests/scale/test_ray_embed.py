"""The Ray path (``simmatch.scale``) on a local single-node Ray with the tiny fixture model: the
same vectors as in-process (onnx-int8: within int8 batching noise, cosine >= 0.99), resumable
shards, clear errors, and an index built from the shards gives the same hits as one built
in-process. All Ray work shares one cluster started once for this module."""

from __future__ import annotations

import json

import numpy as np
import pytest

from simmatch.errors import InputError
from simmatch.models import Embedder
from tests.scale.conftest import sentences

pytest.importorskip("ray")
pytest.importorskip("onnxruntime")

from simmatch.scale import RayOptions, embed_corpus, load_shards
from simmatch.scale import shards as shard_files

OPTIONS = RayOptions(actors=2, threads=1, batch_size=32, shard_rows=100)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def job(ray_local, corpus_file, tiny_embedder_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("shards") / "out"
    summary = embed_corpus(corpus_file, out, str(tiny_embedder_dir), options=OPTIONS, show_progress=False)
    return out, summary


def test_ray_vectors_equal_in_process_ones(job, tiny_embedder_dir):
    out, summary = job
    assert summary["rows"] == 300 and summary["shards"] == 3 and summary["skipped_shards"] == 0
    ids, embeddings = load_shards(out)
    assert ids == [f"d{i}" for i in range(300)]  # input order
    texts = sentences(300)
    int8 = Embedder(str(tiny_embedder_dir), backend="onnx-int8").encode(texts, kind="passage")
    assert embeddings.vectors.shape == int8.shape and embeddings.vectors.dtype == np.float32
    assert _cosines(embeddings.vectors, int8).min() >= 0.99  # int8 batching noise only
    fp32 = Embedder(str(tiny_embedder_dir), backend="onnx").encode(texts, kind="passage")
    assert _cosines(embeddings.vectors, fp32).mean() >= 0.99
    manifest = json.loads((out / shard_files.MANIFEST).read_text())
    assert manifest["complete"] and manifest["backend"] == "onnx-int8" and manifest["kind"] == "passage"


def test_rerun_resumes_after_the_complete_shards(job, corpus_file, tiny_embedder_dir):
    out, _ = job
    before = shard_files.shard_path(out, 0).stat().st_mtime_ns
    shard_files.shard_path(out, 2).unlink()  # as if the job died while writing the last shard
    summary = embed_corpus(corpus_file, out, str(tiny_embedder_dir), options=OPTIONS, show_progress=False)
    assert summary["skipped_shards"] == 2
    assert shard_files.shard_path(out, 0).stat().st_mtime_ns == before  # not rewritten
    ids, embeddings = load_shards(out)
    assert ids == [f"d{i}" for i in range(300)] and len(embeddings) == 300


def test_a_directory_of_another_job_is_refused(job, corpus_file, tiny_embedder_dir):
    out, _ = job
    other = RayOptions(actors=1, threads=1, batch_size=32, shard_rows=50)
    with pytest.raises(InputError, match="holds shards of another job \\(different shard_rows\\)"):
        embed_corpus(corpus_file, out, str(tiny_embedder_dir), options=other, show_progress=False)


def test_tsv_corpus_and_a_bad_row_named_by_id(ray_local, tiny_embedder_dir, tmp_path):
    tsv = tmp_path / "docs.tsv"
    tsv.write_text("id\ttext\n1\t吃完海鲜\n2\thello world\n", encoding="utf-8")
    summary = embed_corpus(
        tsv, tmp_path / "tsv-out", str(tiny_embedder_dir), options=OPTIONS, show_progress=False
    )
    ids, embeddings = load_shards(tmp_path / "tsv-out")
    assert ids == ["1", "2"] and summary["rows"] == 2 and len(embeddings) == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "你好"}\n{"id": "b", "text": "  "}\n', encoding="utf-8")
    with pytest.raises(InputError, match="document 'b': text is empty or whitespace only"):
        embed_corpus(bad, tmp_path / "bad-out", str(tiny_embedder_dir), options=OPTIONS, show_progress=False)


def test_index_from_shards_gives_the_in_process_hits(ray_local, corpus_file, tiny_embedder_dir, tmp_path):
    """fp32 ONNX on both sides, so the comparison is exact (int8 vectors shift slightly with
    batch composition, which reorders near-ties of the random tiny model)."""
    from simmatch.data import load_documents
    from simmatch.index import Index

    fp32 = RayOptions(actors=2, threads=1, batch_size=32, shard_rows=100, backend="onnx")
    embed_corpus(corpus_file, tmp_path / "shards", str(tiny_embedder_dir), options=fp32, show_progress=False)
    documents = load_documents(corpus_file)
    ids, embeddings = load_shards(tmp_path / "shards")
    assert ids == [d.id for d in documents]
    model = Embedder(str(tiny_embedder_dir), backend="onnx")
    queries = sentences(320)[300:]
    with Index.create(tmp_path / "local", model) as local:
        local.add(documents, show_progress=False)
        expected = local.search_batch(queries, top_k=5, mode="hybrid")
    Index.create(tmp_path / "ray", model).close()
    with Index.open(tmp_path / "ray") as index:  # no encoder needed to add precomputed vectors
        stats = index.add(documents, vectors=embeddings, show_progress=False)
        assert stats.encoded == 300
    with Index.open(tmp_path / "ray", model) as index:
        got = index.search_batch(queries, top_k=5, mode="hybrid")
    assert [[h.id for h in hits] for hits in got] == [[h.id for h in hits] for hits in expected]
    for hits, reference in zip(got, expected):
        dense = [h.scores["dense"] for h in hits]
        np.testing.assert_allclose(dense, [h.scores["dense"] for h in reference], atol=1e-5)


def test_cli_embed_and_index_add_with_ray(ray_local, corpus_file, tiny_embedder_dir, tmp_path, capsys):
    """The doors: ``simmatch embed --ray`` writes the shards; ``simmatch index add --ray`` gives
    the index that ``simmatch index add`` gives (same counts, same stored vectors within noise)."""
    from simmatch.cli.main import main
    from simmatch.index import Index

    model = str(tiny_embedder_dir)
    out = tmp_path / "shards"
    argv = ["--file", str(corpus_file), "--out", str(out), "--shard-rows", "120"]
    assert main(["embed", "--ray", "--model", model, "--kind", "passage", *argv]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["rows"], summary["shards"], summary["model"]) == (300, 3, model)
    assert load_shards(out)[0] == [f"d{i}" for i in range(300)]

    for name in ("plain", "ray"):
        assert main(["index", "create", str(tmp_path / name), "--model", model]) == 0
    extra = ["--ray", "--actors", "2", "--backend", "onnx", "--shards", str(tmp_path / "s2")]
    assert main(["index", "add", str(tmp_path / "ray"), str(corpus_file), *extra]) == 0
    assert main(["index", "add", str(tmp_path / "plain"), str(corpus_file)]) == 0
    printed = capsys.readouterr().out
    assert printed.count('"added": 300') == 2 and '"ray": {' in printed
    with Index.open(tmp_path / "ray", model) as a, Index.open(tmp_path / "plain", model) as b:
        queries = sentences(305)[300:]
        assert [[h.id for h in hits] for hits in a.search_batch(queries, mode="dense")] == [
            [h.id for h in hits] for hits in b.search_batch(queries, mode="dense")
        ]


def test_cli_embed_ray_needs_a_corpus_and_an_out_directory(capsys):
    from simmatch.cli.main import main

    assert main(["embed", "--ray", "some text"]) == 2
    assert "--ray embeds a corpus: give --file" in capsys.readouterr().err


def test_ray_batch_rows_default_and_check():
    """Ray batches of many rows, model calls of ``batch_size`` inside the actor: the actor sorts
    its batch by length, so a model call pads to its own longest text, not to the longest of a
    file-order slice."""
    assert RayOptions().ray_batch_rows >= 8 * RayOptions().batch_size
    with pytest.raises(InputError, match="ray_batch_rows must be a positive integer"):
        RayOptions(ray_batch_rows=0)
