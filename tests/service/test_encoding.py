"""``/v1/embeddings`` answers are encoded in one pass in the route (issue 16: JSON encoding off the
busy path); the bytes equal what FastAPI writes for the response model, in both formats."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from simmatch.service import LoadedModels
from simmatch.service.routes import embeddings_body
from simmatch.service.schemas import EmbeddingResponse

from .conftest import running


def _fastapi_bytes(answer: dict) -> bytes:
    model = EmbeddingResponse.model_validate(answer)
    return bytes(JSONResponse(jsonable_encoder(model.model_dump(mode="json"))).body)


@pytest.mark.parametrize("fmt", ["float", "base64"])
def test_body_equals_fastapi_encoding_of_the_response_model(fmt):
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((3, 8)).astype(np.float32)
    vectors[0, 0] = 1e-8  # exponent notation
    values = [
        base64.b64encode(v.astype("<f4").tobytes()).decode("ascii") if fmt == "base64" else v.tolist()
        for v in vectors
    ]
    answer = {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(values)],
        "model": "模型-e5",
        "usage": {"prompt_tokens": 7, "total_tokens": 7},
    }
    assert embeddings_body(vectors, fmt, "模型-e5", 7) == _fastapi_bytes(answer)


def test_http_answer_decodes_to_the_library_vectors(tiny_embedder):
    texts = ["今天天气怎么样", "cat"]
    with running(LoadedModels(tiny_embedder)) as c:
        floats = c.post("/v1/embeddings", json={"input": texts})
        packed = c.post("/v1/embeddings", json={"input": texts, "encoding_format": "base64"})
    assert floats.headers["content-type"] == "application/json"
    expected = tiny_embedder.encode(texts)
    got = np.array([d["embedding"] for d in floats.json()["data"]], dtype=np.float32)
    np.testing.assert_array_equal(got, expected)
    unpacked = [np.frombuffer(base64.b64decode(d["embedding"]), "<f4") for d in packed.json()["data"]]
    np.testing.assert_array_equal(np.stack(unpacked), expected)
    assert floats.json()["usage"] == packed.json()["usage"]
    assert EmbeddingResponse.model_validate(floats.json()).model == floats.json()["model"]
