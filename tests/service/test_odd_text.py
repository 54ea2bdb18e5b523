"""Odd text over HTTP: a lone surrogate (JSON ``"\\ud800"``) is a 422 with the library validator's
message on every text-taking endpoint, zero-width-only text is empty, and the service keeps
answering. Before, the tokenizer's TypeError was a 500."""

from __future__ import annotations

import pytest

from simmatch.errors import InputError
from simmatch.models._inputs import check_pairs, check_text, check_texts

SURROGATE = "\ud800"

S = SURROGATE

# endpoint, raw JSON body (the escapes are JSON's: the body itself is ASCII), the library call that
# refuses the same input, the param the envelope names
CASES = [
    ("/v1/embeddings", r'{"input": ["ok", "\ud800"]}', lambda: check_texts(["ok", S], "input"), "input"),
    ("/v1/embeddings", r'{"input": "\udcff"}', lambda: check_texts(["\udcff"], "input"), "input"),
    (
        "/v1/embeddings",
        r'{"input": ["\u200b\ufeff"]}',
        lambda: check_texts(["\u200b\ufeff"], "input"),
        "input",
    ),
    (
        "/similarity",
        r'{"pairs": [["a", "b"], ["a", "\ud800"]]}',
        lambda: check_pairs([("a", "b"), ("a", S)]),
        "pairs[1][1]",
    ),
    (
        "/compare",
        r'{"source_sentence": "\ud800", "sentences_to_compare": ["a"]}',
        lambda: check_text(S, "source_sentence"),
        "source_sentence",
    ),
    (
        "/compare",
        r'{"source_sentence": "a", "sentences_to_compare": ["\ud800"]}',
        lambda: check_texts([S], "sentences_to_compare"),
        "sentences_to_compare",
    ),
    ("/rerank", r'{"query": "\ud800", "documents": ["a"]}', lambda: check_text(S, "query"), "query"),
    (
        "/rerank",
        r'{"query": "q", "documents": ["a", "\ud800"]}',
        lambda: check_texts(["a", S], "documents"),
        "documents",
    ),
]


def _library_message(call) -> str:
    with pytest.raises(InputError) as exc:
        call()
    return str(exc.value)


@pytest.mark.parametrize(("path", "body", "library", "param"), CASES)
def test_odd_text_is_422_with_the_library_message(client, path, body, library, param):
    r = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["error"] == {"type": "input_error", "message": _library_message(library), "param": param}
    ok = client.post("/v1/embeddings", json={"input": ["ok"]})  # the service keeps answering
    assert ok.status_code == 200 and len(ok.json()["data"]) == 1


def test_the_messages_name_the_item():
    assert (
        _library_message(CASES[0][2])
        == "input[1] contains an unpaired surrogate (U+D800): not valid Unicode text"
    )
    assert _library_message(CASES[2][2]) == "input[0] is empty or whitespace only"
