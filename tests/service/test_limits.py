"""Limits, the API key and the error envelope: every refusal has its status and a message that names
what to change; nothing bad input can do gives a 500 or a stack trace."""

from __future__ import annotations

import pytest

from simmatch.errors import InputError
from simmatch.service import LoadedModels

from .conftest import API_KEY, running


@pytest.fixture(scope="module")
def small(tiny_embedder, cross3):
    """Tight limits: 3 items per request, 10 characters per text, 1 KiB bodies."""
    with running(
        LoadedModels(tiny_embedder, cross3),
        limits={"max_items_per_request": 3, "max_chars_per_text": 10, "max_body_bytes": 1024},
    ) as c:
        yield c


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) <= {"type", "message", "param"}
    return body["error"]


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/embeddings", {"input": ["a", "b", "c", "d"]}, "input"),
        ("/similarity", {"pairs": [["a", "b"]] * 4}, "pairs"),
        ("/compare", {"source_sentence": "a", "sentences_to_compare": ["b"] * 4}, "sentences_to_compare"),
        ("/rerank", {"query": "a", "documents": ["b"] * 4}, "documents"),
    ],
)
def test_too_many_items(small, path, body, param):
    err = _error(small.post(path, json=body), 422)
    assert err == {
        "type": "limit_exceeded",
        "message": f"{param} has 4 items; the limit is max_items_per_request=3",
        "param": param,
    }


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/embeddings", {"input": ["short", "x" * 11]}, "input[1]"),
        ("/v1/embeddings", {"input": "x" * 11}, "input[0]"),
        ("/similarity", {"pairs": [["a", "x" * 11]]}, "pairs[0][1]"),
        ("/compare", {"source_sentence": "x" * 11, "sentences_to_compare": ["b"]}, "source_sentence"),
        ("/rerank", {"query": "a", "texts": ["b", "x" * 11]}, "texts[1]"),
    ],
)
def test_text_too_long(small, path, body, param):
    err = _error(small.post(path, json=body), 422)
    assert err == {
        "type": "limit_exceeded",
        "message": f"{param} has 11 characters; the limit is max_chars_per_text=10",
        "param": param,
    }


def test_body_too_large(small):
    err = _error(small.post("/v1/embeddings", json={"input": ["x" * 2000]}), 413)
    assert err["type"] == "payload_too_large"
    assert err["message"].endswith("the limit is max_body_bytes=1024")
    # Chunked upload (no Content-Length): counted while reading.
    chunks = (b'{"input": "' + b"x" * 600, b"x" * 600 + b'"}')
    r = small.post("/v1/embeddings", content=iter(chunks), headers={"Content-Type": "application/json"})
    assert _error(r, 413)["message"] == "request body too large: the limit is max_body_bytes=1024"
    # A small chunked body goes through.
    ok = small.post(
        "/v1/embeddings",
        content=iter((b'{"input":', b' "abc"}')),
        headers={"Content-Type": "application/json"},
    )
    assert ok.status_code == 200, ok.text


def test_malformed_json_is_400(client):
    r = client.post(
        "/v1/embeddings", content=b'{"input": ["a",', headers={"Content-Type": "application/json"}
    )
    err = _error(r, 400)
    assert err["type"] == "invalid_json"
    assert err["message"].startswith("request body is not valid JSON")


def test_non_json_body_is_415(client):
    r = client.post(
        "/v1/embeddings", content=b"input=a", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert _error(r, 415)["message"] == (
        "send the request body as JSON with the header 'Content-Type: application/json'"
    )


def test_wrong_types_are_422_naming_the_field(client):
    err = _error(client.post("/similarity", json={"pairs": [["a", "b", "c"]]}), 422)
    assert err["param"] == "pairs[0]"
    assert err["message"].startswith("pairs[0]: Tuple should have at most 2 items")
    err = _error(client.post("/rerank", json={"query": "q", "documents": ["a"], "top_n": 0}), 422)
    assert err["param"] == "top_n"
    err = _error(client.post("/v1/embeddings", json={"input": "a", "encoding_format": "int8"}), 422)
    assert err["param"] == "encoding_format"
    err = _error(client.post("/v1/embeddings", json={}), 422)
    assert err["message"] == "input: Field required"
    # A union field gives one message, not one per member type.
    err = _error(client.post("/v1/embeddings", json={"input": 5}), 422)
    assert err == {
        "type": "invalid_request",
        "message": "input: expected a string or a list of strings, got int",
        "param": "input",
    }
    err = _error(
        client.post("/compare", json={"source_sentence": ["a", None], "sentences_to_compare": ["b"]}), 422
    )
    assert err["message"] == "source_sentence: item 1 must be a string, got NoneType"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "missing API key: send the header 'Authorization: Bearer <key>'"),
        ("Bearer wrong", "invalid API key"),
        (f"Basic {API_KEY}", "malformed Authorization header: expected 'Bearer <key>'"),
        ("Bearer", "malformed Authorization header: expected 'Bearer <key>'"),
    ],
)
def test_api_key_required(client, header, message):
    # The key is checked before the body is parsed: a bad body still gets 401, not 400.
    bad_json = {"content": b"{not json", "headers": {"Content-Type": "application/json"}}
    for method, path, kwargs in [
        ("POST", "/v1/embeddings", bad_json),
        ("POST", "/search", bad_json),
        ("GET", "/models", {}),
        ("GET", "/nope", {}),
    ]:
        r = _send(client, method, path, header, **kwargs)
        assert _error(r, 401) == {"type": "unauthorized", "message": message}
        assert r.headers["www-authenticate"] == "Bearer"


def _send(client, method, path, authorization, **kwargs):
    """A request with ``authorization`` (None: no header) instead of the client's default key."""
    saved = client.headers.pop("Authorization")
    headers = dict(kwargs.pop("headers", {}))
    if authorization is not None:
        headers["Authorization"] = authorization
    try:
        return client.request(method, path, headers=headers, **kwargs)
    finally:
        client.headers["Authorization"] = saved


def test_health_is_open(client):
    assert _send(client, "GET", "/health", None).status_code == 200


def test_unknown_path_and_method(client):
    assert _error(client.get("/v2/embeddings"), 404)["message"] == "no such endpoint: GET /v2/embeddings"
    assert _error(client.get("/similarity"), 405)["message"] == "method GET not allowed on /similarity"


def test_search_without_index(client):
    err = _error(client.post("/search", json={"query": "q"}), 400)
    assert err == {
        "type": "not_configured",
        "message": "no index is loaded: start the service with --index PATH",
    }


class _Broken:
    """An embedder whose model call fails: one raising a library input error, one a bug."""

    def __init__(self, inner, exc):
        self._inner, self._exc = inner, exc

    def encode(self, texts, **kwargs):
        raise self._exc

    def __getattr__(self, name):
        return getattr(self._inner, name)


def test_library_error_in_model_call_is_422(tiny_embedder):
    broken = _Broken(tiny_embedder, InputError("texts[0] is too odd"))
    with running(LoadedModels(broken)) as c:
        err = _error(c.post("/v1/embeddings", json={"input": "a"}), 422)
    assert err == {"type": "input_error", "message": "texts[0] is too odd"}


def test_unexpected_error_is_500_without_details(tiny_embedder):
    broken = _Broken(tiny_embedder, RuntimeError("secret internal detail"))
    with running(LoadedModels(broken), raise_errors=False) as c:
        r = c.post("/v1/embeddings", json={"input": "a"})
    err = _error(r, 500)
    assert err == {
        "type": "internal_error",
        "message": "internal server error; the server log has the details",
    }
    assert "secret" not in r.text and "Traceback" not in r.text


# ------------------------------------------------------------------------------ token budget
TOKEN_LIMIT = 40
LONG = "今天天气怎么样" * 3  # 21 characters, a few tokens short of half the budget


@pytest.fixture(scope="module")
def budget(tiny_embedder, cross3):
    """A 40-token budget per request; the cross-encoder scores /similarity and /rerank."""
    with running(LoadedModels(tiny_embedder, cross3), limits={"max_tokens_per_request": TOKEN_LIMIT}) as c:
        yield c


@pytest.fixture(scope="module")
def cosine_budget(tiny_embedder):
    with running(LoadedModels(tiny_embedder), limits={"max_tokens_per_request": TOKEN_LIMIT}) as c:
        yield c


def _pair_tokens(clf, pairs) -> int:
    ids = clf.tokenizer([a for a, _ in pairs], [b for _, b in pairs])["input_ids"]
    return sum(min(len(x), clf.config.max_length) for x in ids)


def _over_budget(response, tokens: int) -> None:
    assert tokens > TOKEN_LIMIT
    assert _error(response, 422) == {
        "type": "limit_exceeded",
        "message": f"the request comes to {tokens} tokens for the model; the limit is "
        f"max_tokens_per_request={TOKEN_LIMIT}: send fewer or shorter texts per request",
    }


def test_token_budget_counts_with_the_library(budget, cosine_budget, tiny_embedder, cross3):
    """Every model-backed endpoint counts the whole request with the model's tokenizer
    (``Embedder.count_tokens`` per prompt kind; the cross-encoder's pair length) and refuses it
    above max_tokens_per_request, before queueing anything."""
    texts = [LONG, LONG, "a"]
    tokens = sum(tiny_embedder.count_tokens(texts, kind="passage"))
    _over_budget(budget.post("/v1/embeddings", json={"input": texts, "input_type": "passage"}), tokens)
    # compare: the source and the candidates together
    tokens = sum(tiny_embedder.count_tokens([LONG, LONG, "a"]))
    body = {"source_sentence": LONG, "sentences_to_compare": [LONG, "a"]}
    _over_budget(budget.post("/compare", json=body), tokens)
    # cross-encoder: pairs as the cross-encoder sees them
    pairs = [(LONG, LONG), ("a", "b")]
    _over_budget(budget.post("/similarity", json={"pairs": pairs}), _pair_tokens(cross3, pairs))
    _over_budget(
        budget.post("/rerank", json={"query": LONG, "documents": [LONG, "b"]}),
        _pair_tokens(cross3, [(LONG, LONG), (LONG, "b")]),
    )
    # cosine fallbacks: both sides of the pairs; the query (query prompt) and documents (passage)
    tokens = sum(tiny_embedder.count_tokens([LONG, "a", LONG, "b"]))
    _over_budget(cosine_budget.post("/similarity", json={"pairs": [[LONG, LONG], ["a", "b"]]}), tokens)
    tokens = sum(tiny_embedder.count_tokens([LONG])) + sum(
        tiny_embedder.count_tokens([LONG, "b"], kind="passage")
    )
    _over_budget(cosine_budget.post("/rerank", json={"query": LONG, "texts": [LONG, "b"]}), tokens)


def test_token_budget_admits_up_to_the_limit(budget, tiny_embedder):
    texts = ["a"] * (TOKEN_LIMIT // tiny_embedder.count_tokens("a")[0])
    tokens = sum(tiny_embedder.count_tokens(texts))
    assert tokens <= TOKEN_LIMIT < tokens + tiny_embedder.count_tokens("a")[0]
    r = budget.post("/v1/embeddings", json={"input": texts})
    assert r.status_code == 200, r.text
    assert r.json()["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}
    _over_budget(budget.post("/v1/embeddings", json={"input": [*texts, "a"]}), tokens + 5)


def test_default_token_budget_refuses_the_stall_request(client, tiny_embedder):
    """Issue 16: a request inside the default item, character and body limits (here 240 texts of
    7,992 characters, 1.9 MB) kept the model busy for minutes. It is refused now, by the token
    budget."""
    texts = ["hello world " * 666] * 240
    r = client.post("/v1/embeddings", json={"input": texts})
    err = _error(r, 422)
    assert err["type"] == "limit_exceeded"
    assert "the limit is max_tokens_per_request=8192" in err["message"]
