"""Fixtures for index tests: a deterministic fake encoder (the model is beside the point here) and
a small Chinese + English corpus."""

from __future__ import annotations

import unicodedata
import zlib

import numpy as np
import pytest


class FakeEncoder:
    """Hashed character n-gram vectors (n = 1, 2), signed, L2-normalized when asked.

    Deterministic across processes (crc32, not Python's salted ``hash``). ``encoded`` records every
    text it was asked to embed, so tests can check that unchanged texts are not re-encoded."""

    def __init__(self, dim: int = 64, model_name: str = "fake-ngram-64", seed: int = 0):
        self.dim = dim
        self.model_name = model_name
        self.seed = seed
        self.encoded: list[str] = []

    def _vector(self, text: str) -> np.ndarray:
        text = unicodedata.normalize("NFKC", text).lower()
        vector = np.zeros(self.dim, dtype=np.float32)
        for n in (1, 2):
            for i in range(len(text) - n + 1):
                gram = text[i : i + n]
                if gram.isspace():
                    continue
                h = zlib.crc32(f"{self.seed}:{gram}".encode())
                vector[h % self.dim] += 1.0 if (h >> 16) & 1 else -1.0
        return vector

    def encode(self, texts, batch_size: int = 32, normalize: bool = True, kind: str = "passage"):
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        self.encoded.extend(texts)
        vectors = np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)
        if normalize:
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = vectors / np.maximum(norms, 1e-12)
        vectors = vectors.astype(np.float32)
        return vectors[0] if single else vectors


class FakeReranker:
    """Scores a pair by the number of distinct characters the query and text share."""

    def __init__(self) -> None:
        self.calls = 0

    def scores(self, pairs):
        self.calls += 1
        return np.array([len(set(q.lower()) & set(t.lower())) for q, t in pairs], dtype=np.float32)


_EN = "en"
CORPUS = [
    {"id": "zh-1", "text": "苹果手机多少钱", "metadata": {"lang": "zh", "topic": "phone"}},
    {"id": "zh-2", "text": "华为手机电池续航怎么样", "metadata": {"lang": "zh", "topic": "phone"}},
    {"id": "zh-3", "text": "北京今天的天气怎么样", "metadata": {"lang": "zh", "topic": "weather"}},
    {"id": "zh-4", "text": "如何在北京办理护照", "metadata": {"lang": "zh", "topic": "travel"}},
    {"id": "zh-5", "text": "红烧肉的做法步骤", "metadata": {"lang": "zh", "topic": "food"}},
    {"id": "en-1", "text": "How much does an iPhone cost", "metadata": {"lang": _EN, "topic": "phone"}},
    {
        "id": "en-2",
        "text": "Battery life of the new Huawei phone",
        "metadata": {"lang": _EN, "topic": "phone"},
    },
    {
        "id": "en-3",
        "text": "What is the weather like in Beijing today",
        "metadata": {"lang": _EN, "topic": "weather"},
    },
    {
        "id": "en-4",
        "text": "How to apply for a passport in Beijing",
        "metadata": {"lang": _EN, "topic": "travel"},
    },
    {
        "id": "en-5",
        "text": "A simple recipe for braised pork belly",
        "metadata": {"lang": _EN, "topic": "food", "stars": 5},
    },
]


@pytest.fixture
def encoder() -> FakeEncoder:
    return FakeEncoder()


@pytest.fixture
def reranker() -> FakeReranker:
    return FakeReranker()


@pytest.fixture
def corpus() -> list[dict]:
    return [dict(doc, metadata=dict(doc["metadata"])) for doc in CORPUS]


@pytest.fixture
def filled(tmp_path, encoder, corpus):
    """An index over ``CORPUS`` (flat, cosine, auto tokenizer), closed after the test."""
    from simmatch.index import Index

    index = Index.create(tmp_path / "idx", encoder)
    index.add(corpus, show_progress=False)
    yield index
    index.close()
