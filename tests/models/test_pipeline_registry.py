from __future__ import annotations

import numpy as np
import pytest

from simmatch.errors import InputError, ModelNotFoundError
from simmatch.models import Embedder, PairClassifier, pipeline, resolve_model


def test_sentence_embedding_pipeline_matches_compare(tiny_embedder):
    pipe = pipeline("sentence-embedding", model=tiny_embedder)
    out = pipe({"source_sentence": ["你好"], "sentences_to_compare": ["你好", "牛奶"]})
    direct = tiny_embedder.compare("你好", ["你好", "牛奶"])
    np.testing.assert_allclose(out["scores"], direct["scores"], atol=1e-6)
    only = pipe({"source_sentence": ["你好"]})
    assert only["text_embedding"].shape == (1, tiny_embedder.dim)
    with pytest.raises(InputError, match="unknown input field"):
        pipe({"source_sentence": ["a"], "sentence_to_compare": ["b"]})


def test_similarity_and_ranking_pipelines(tiny_cross3_dir):
    clf = PairClassifier(tiny_cross3_dir, device="cpu")
    sim = pipeline("sentence-similarity", model=clf)
    one = sim(("你好", "牛奶"))
    assert sorted(one["labels"]) == ["0", "1", "2"] and one["scores"] == sorted(one["scores"], reverse=True)
    rank = pipeline("text-ranking", model=clf)
    out = rank({"source_sentence": ["你好"], "sentences_to_compare": ["牛奶", "你好"]})
    np.testing.assert_allclose(out["scores"], clf.scores([("你好", "牛奶"), ("你好", "你好")]), atol=1e-6)
    with pytest.raises(InputError, match="unknown task"):
        pipeline("translation", model=clf)


def test_resolve_model_errors(tmp_path, monkeypatch):
    with pytest.raises(ModelNotFoundError, match="unknown model 'no-such-model'"):
        resolve_model("no-such-model")
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve_model(str(tmp_path / "missing" / "dir"))
    with pytest.raises(ModelNotFoundError, match="not a model directory"):
        resolve_model(str(tmp_path))
    # A hub id resolves from the local Hugging Face cache (tests/models/test_registry_resolve.py);
    # one missing there is an error at once rather than a network retry loop.
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("SIMMATCH_ALLOW_DOWNLOAD", raising=False)
    with pytest.raises(ModelNotFoundError, match="'someone/some-model' is not a built-in"):
        resolve_model("someone/some-model")


def test_local_directory_loads(tiny_embedder_dir):
    emb = Embedder(str(tiny_embedder_dir), device="cpu")
    assert emb.model_name == str(tiny_embedder_dir) and emb.dim == 32


def test_builtin_minilm_loads_offline():
    emb = Embedder("all-MiniLM-L6-v2", device="cpu")
    assert emb.dim == 384
    assert emb.similarity("A man is eating food.", "A man is eating a meal.") > emb.similarity(
        "A man is eating food.", "The stock market fell sharply."
    )
