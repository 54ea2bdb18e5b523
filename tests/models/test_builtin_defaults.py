"""The built-in cross-encoders as defaults and by name: ``PairClassifier(name)``, ``pipeline``,
``simmatch similarity`` (paraphrase by default, cosine by flag), ``simmatch rank`` and index rerank
by name, ensembles and pruned models included. A fixture model stands in for the built-ins."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from tests.cli.test_cli import run_cli


@pytest.fixture
def builtin_tiny(monkeypatch, tiny_cross3_dir):
    """Register the tiny 3-label model as a built-in cross-encoder called 'tiny-builtin'."""
    from simmatch.models import registry

    entry = replace(
        registry.BUILTIN_MODELS["relevance-zh"], name="tiny-builtin", locate=lambda: tiny_cross3_dir
    )
    monkeypatch.setitem(registry.BUILTIN_MODELS, "tiny-builtin", entry)
    return "tiny-builtin"


def _probs(clf, pairs):
    return [[p.probabilities[k] for k in clf.labels] for p in clf.predict(pairs)]


def test_pair_classifier_and_pipeline_by_name(monkeypatch, builtin_tiny, tiny_cross3_dir):
    from simmatch.models import PairClassifier, pipeline, registry

    pairs = [("你好", "牛奶"), ("吃完海鲜可以喝牛奶吗", "吃海鲜不能喝牛奶")]
    by_name = PairClassifier(builtin_tiny, device="cpu")
    assert by_name.model_name == "tiny-builtin"
    np.testing.assert_allclose(
        _probs(by_name, pairs), _probs(PairClassifier(tiny_cross3_dir), pairs), atol=1e-6
    )
    monkeypatch.setattr(registry, "DEFAULT_PARAPHRASE_MODEL", builtin_tiny)
    monkeypatch.setattr(registry, "DEFAULT_RELEVANCE_MODEL", builtin_tiny)
    out = pipeline("sentence-similarity")(("你好", "牛奶"))
    assert sorted(out["labels"]) == ["0", "1", "2"] and abs(sum(out["scores"]) - 1) < 1e-5
    ranking = pipeline("text-ranking")(
        {"source_sentence": ["你好"], "sentences_to_compare": ["牛奶", "你好吗"]}
    )
    assert ranking["scores"] == pytest.approx(by_name.scores([("你好", "牛奶"), ("你好", "你好吗")]).tolist())


def test_similarity_cli_defaults_to_the_paraphrase_model(
    monkeypatch, capsys, builtin_tiny, tiny_embedder_dir
):
    from simmatch.cli import similarity
    from simmatch.models import Embedder, PairClassifier

    monkeypatch.setattr(similarity, "DEFAULT_PARAPHRASE_MODEL", builtin_tiny)
    code, out, _ = run_cli(capsys, "similarity", "花呗怎么还款", "花呗如何还钱")
    row = json.loads(out)
    pred = PairClassifier(builtin_tiny).predict([("花呗怎么还款", "花呗如何还钱")])[0]
    assert code == 0 and row["label"] == pred.label
    assert row["probabilities"] == {k: round(v, 6) for k, v in pred.probabilities.items()}
    code, out, _ = run_cli(
        capsys, "similarity", "你好", "牛奶", "--cosine", "--model", str(tiny_embedder_dir)
    )
    row = json.loads(out)
    assert code == 0 and "label" not in row and "probabilities" not in row
    assert row["score"] == pytest.approx(
        Embedder(str(tiny_embedder_dir)).similarity("你好", "牛奶"), abs=1e-6
    )
    code, _, err = run_cli(capsys, "similarity", "a", "b", "--cosine", "--cross-encoder", builtin_tiny)
    assert code == 2 and "cannot be combined with --cosine/--model" in err


def test_rank_cli_and_index_rerank_by_name(capsys, builtin_tiny, tmp_path):
    from simmatch.index.encoders import as_reranker
    from simmatch.models import PairClassifier

    docs = ["吃海鲜不能喝牛奶", "你好吗", "今天天气好"]
    cand = tmp_path / "c.txt"
    cand.write_text("\n".join(docs) + "\n", encoding="utf-8")
    code, out, _ = run_cli(
        capsys, "rank", "吃完海鲜可以喝牛奶吗", "--candidates-file", str(cand), "-c", builtin_tiny
    )
    expected = PairClassifier(builtin_tiny).rank("吃完海鲜可以喝牛奶吗", docs)
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["text"] for r in rows] == [d.text for d in expected]
    reranker = as_reranker(builtin_tiny)
    assert isinstance(reranker, PairClassifier) and reranker.model_name == builtin_tiny
