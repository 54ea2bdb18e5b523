"""A pruned mean-head model and an ensemble work through every door: the CLI, the service (same
answers as the library) and index rerank by directory."""

from __future__ import annotations

import json

import pytest

from tests.cli.test_cli import run_cli
from tests.index.conftest import CORPUS, FakeEncoder

PAIRS = [("吃完海鲜可以喝牛奶吗?", "吃海鲜不能同时喝牛奶吃水果"), ("你好", "你好"), ("cat", "dog")]
DOCS = ["吃海鲜不能同时喝牛奶吃水果", "你好", "cat", "milk 牛奶"]


@pytest.fixture(scope="module")
def models(tmp_path_factory, tiny_cross3_dir):
    """{"pruned": a 1-layer mean-head model dir, "ensemble": tiny cross3 + the pruned model, averaged}."""
    from simmatch.ensemble import fit_ensemble
    from simmatch.training.cross_encoder import _build_cross_encoder

    root = tmp_path_factory.mktemp("doors")
    model, _ = _build_cross_encoder(
        tiny_cross3_dir, ["0", "1", "2"], device="cpu", init_pairs=PAIRS, head="mean", layers=1
    )
    model.save(str(root / "pruned"))
    fit_ensemble([str(tiny_cross3_dir), str(root / "pruned")], None, combiner="mean").save(root / "ensemble")
    return {"pruned": str(root / "pruned"), "ensemble": str(root / "ensemble")}


@pytest.mark.parametrize("kind", ["pruned", "ensemble"])
def test_cli_similarity_and_rank(capsys, models, kind, tmp_path):
    from simmatch.models import PairClassifier

    clf = PairClassifier(models[kind])
    code, out, _ = run_cli(capsys, "similarity", *PAIRS[0], "-c", models[kind])
    row = json.loads(out)
    want = clf.predict([PAIRS[0]])[0]
    assert code == 0 and row["label"] == want.label
    assert row["probabilities"] == {k: round(v, 6) for k, v in want.probabilities.items()}
    cand = tmp_path / "c.txt"
    cand.write_text("\n".join(DOCS) + "\n", encoding="utf-8")
    code, out, _ = run_cli(capsys, "rank", "喝牛奶 海鲜", "--candidates-file", str(cand), "-c", models[kind])
    assert code == 0 and [json.loads(x)["index"] for x in out.splitlines()] == [
        d.index for d in clf.rank("喝牛奶 海鲜", DOCS)
    ]


@pytest.mark.parametrize("kind", ["pruned", "ensemble"])
def test_service_answers_equal_the_library(models, kind, tiny_embedder):
    pytest.importorskip("fastapi")
    from simmatch.models import PairClassifier
    from simmatch.service import LoadedModels
    from tests.service.conftest import running

    clf = PairClassifier(models[kind], device="cpu")
    with running(LoadedModels(tiny_embedder, clf), auth=False) as client:
        body = client.post("/similarity", json={"pairs": [list(p) for p in PAIRS]}).json()
        ranked = client.post("/rerank", json={"query": "喝牛奶 海鲜", "documents": DOCS}).json()
    want = clf.predict(PAIRS)
    assert body["method"] == "cross-encoder" and body["labels"] == ["0", "1", "2"]
    for got, exp in zip(body["data"], want, strict=True):
        assert got["label"] == exp.label
        assert got["probabilities"] == pytest.approx(exp.probabilities, abs=1e-6)
    assert [r["index"] for r in ranked["results"]] == [d.index for d in clf.rank("喝牛奶 海鲜", DOCS)]


@pytest.mark.parametrize("kind", ["pruned", "ensemble"])
def test_index_rerank_with_the_model_directory(models, kind, tmp_path):
    from simmatch.index import Index
    from simmatch.models import PairClassifier

    index = Index.create(tmp_path / "idx", FakeEncoder())
    try:
        index.add([dict(doc, metadata=dict(doc["metadata"])) for doc in CORPUS], show_progress=False)
        hits = index.search(
            "Beijing weather today", top_k=3, rerank=models[kind], rerank_top_k=5, rerank_fusion="replace"
        )
        first = index.search("Beijing weather today", top_k=5)
    finally:
        index.close()
    texts = [h.text for h in first]
    scores = PairClassifier(models[kind]).scores([("Beijing weather today", t) for t in texts])
    assert [h.scores["rerank"] for h in hits] == pytest.approx(
        sorted(scores.tolist(), reverse=True)[:3], abs=1e-6
    )


@pytest.mark.parametrize("kind", ["pruned", "ensemble"])
def test_onnx_backends_match_torch(models, kind, tmp_path):
    """A mean-head (pooled) model and an ensemble of cross-encoders run on the ONNX backends with
    torch's labels and probabilities (int8 within its quantization noise)."""
    import shutil

    import numpy as np

    pytest.importorskip("onnxruntime")
    from simmatch.models import PairClassifier

    path = shutil.copytree(models[kind], tmp_path / kind)  # the export is cached inside the model dir
    ref = PairClassifier(path, device="cpu").predict(PAIRS)
    for backend, tolerance in (("onnx", 1e-4), ("onnx-int8", 2e-2)):
        clf = PairClassifier(path, backend=backend)
        assert clf.backend == backend
        got = clf.predict(PAIRS)
        probs = [[p.probabilities[k] for k in sorted(p.probabilities)] for p in got]
        expected = [[p.probabilities[k] for k in sorted(p.probabilities)] for p in ref]
        np.testing.assert_allclose(probs, expected, atol=tolerance)
        if backend == "onnx":
            assert [p.label for p in got] == [p.label for p in ref]
    if kind == "ensemble":  # every member runs on the backend asked for
        members = PairClassifier(path, backend="onnx").model.members
        assert [m.backend for m in members] == ["onnx", "onnx"]
