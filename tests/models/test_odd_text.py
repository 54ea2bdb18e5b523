"""Odd text never crashes: a lone surrogate (JSON ``"\\ud800"``, or a byte that is not UTF-8 on the
command line, which Python keeps as ``"\\udcff"``) is an ``InputError`` naming the item, raised by the
one validator every door shares; text of only zero-width characters counts as empty. Before, the
tokenizer raised TypeError."""

from __future__ import annotations

import pytest

from simmatch.errors import InputError
from simmatch.models import PairClassifier
from simmatch.models._inputs import check_pairs, check_text, check_texts

ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\ufeff", "\u2060", "\u200b\u200d\ufeff", " \u200b\t\u2060 "]


def surrogate(where: str, code: str = "D800") -> str:
    return rf"^{where} contains an unpaired surrogate \(U\+{code}\): not valid Unicode text$"


@pytest.mark.parametrize("text", ["\ud800", "a\udfffb", "ok \udcff"])
def test_validator_names_the_item_with_a_lone_surrogate(text):
    code = f"{ord(next(c for c in text if 0xD800 <= ord(c) <= 0xDFFF)):04X}"
    with pytest.raises(InputError, match=surrogate(r"texts\[3\]", code)):
        check_texts(["a", "b", "c", text])
    with pytest.raises(InputError, match=surrogate("query", code)):
        check_text(text, "query")
    with pytest.raises(InputError, match=surrogate(r"pairs\[1\]\[0\]", code)):
        check_pairs([("a", "b"), (text, "c")])


@pytest.mark.parametrize("text", ZERO_WIDTH)
def test_zero_width_only_text_is_empty(text):
    with pytest.raises(InputError, match=r"^texts\[1\] is empty or whitespace only$"):
        check_texts(["a", text])


def test_text_with_zero_width_characters_and_content_is_kept():
    text = "牛\u200b奶\ufeff"
    assert check_texts([text]) == [text]
    assert check_text("\U0001f600 emoji (a surrogate pair in UTF-16, valid here)").startswith("\U0001f600")


def test_embedder_refuses_instead_of_crashing(tiny_embedder):
    with pytest.raises(InputError, match=surrogate(r"texts\[1\]")):
        tiny_embedder.encode(["ok", "\ud800"])
    with pytest.raises(InputError, match=surrogate("text")):
        tiny_embedder.encode("\ud800")
    with pytest.raises(InputError, match=surrogate("text")):
        tiny_embedder.count_tokens("\ud800")
    with pytest.raises(InputError, match=surrogate(r"documents\[0\]", "DCFF")):
        tiny_embedder.rank("q", ["\udcff"])
    with pytest.raises(InputError, match=surrogate(r"sentences_to_compare\[0\]")):
        tiny_embedder.compare("a", ["\ud800"])
    with pytest.raises(InputError, match=r"^texts\[0\] is empty or whitespace only$"):
        tiny_embedder.encode(["\u200b\u200d\ufeff"])
    assert tiny_embedder.encode(["ok"]).shape == (1, tiny_embedder.dim)  # still usable


def test_pair_classifier_refuses_instead_of_crashing(tiny_cross3_dir):
    clf = PairClassifier(tiny_cross3_dir, device="cpu")
    with pytest.raises(InputError, match=surrogate(r"pairs\[0\]\[1\]")):
        clf.predict([("a", "\ud800")])
    with pytest.raises(InputError, match=surrogate("query")):
        clf.rank("\ud800", ["a"])
    with pytest.raises(InputError, match=r"^pairs\[0\]\[0\] is empty or whitespace only$"):
        clf.predict([("\ufeff", "a")])
