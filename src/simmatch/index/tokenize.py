"""BM25 tokenizers.

``"jieba"`` cuts Chinese with jieba's search mode (``cut_for_search``: the accurate cut plus the
shorter words inside long ones, so a query "手机" still matches a title token "智能手机"); ``"word"``
splits on ``\\w+`` runs, which suits English and other space-delimited text but leaves a Chinese
sentence as one token; ``"auto"`` picks jieba for a text containing CJK characters and the word
tokenizer otherwise, per text (queries and documents alike), so English-only corpora never pay for
jieba. Every tokenizer first applies NFKC (full-width → half-width) and lower-casing and drops
tokens with no letter or digit (punctuation, spaces). Tokens never contain whitespace, which lets the
index store a document's tokens space-joined.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from simmatch.errors import InputError

TOKENIZERS = ("auto", "jieba", "word")

_WORD = re.compile(r"\w+")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")


def _normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def word_tokens(text: str) -> list[str]:
    """``\\w+`` runs of the NFKC-normalized, lower-cased text."""
    return _WORD.findall(_normalize(text))


@functools.cache
def _jieba() -> Any:
    """jieba, with its dictionary loaded once and quietly. jieba's logger has its own stderr
    handler and also propagates to the root logger, so its DEBUG start-up lines ("Building prefix
    dict…", "Loading model cost…") printed twice under a configured root logger. They are
    silenced for the load only; jieba's logger is left as found afterwards."""
    import jieba  # imported lazily: loading its dictionary takes about a second

    jieba_logger = logging.getLogger("jieba")
    level = jieba_logger.level
    jieba_logger.setLevel(logging.WARNING)
    try:
        jieba.initialize()
    finally:
        jieba_logger.setLevel(level)
    return jieba


def jieba_tokens(text: str) -> list[str]:
    """jieba search-mode tokens, minus pure punctuation/whitespace tokens."""
    tokens: list[str] = []
    for token in _jieba().lcut_for_search(_normalize(text)):
        # jieba never emits whitespace inside a token, but splitting keeps the stored form safe.
        tokens.extend(part for part in token.split() if _WORD.search(part))
    return tokens


def auto_tokens(text: str) -> list[str]:
    """jieba for text with CJK characters, the word tokenizer otherwise."""
    return jieba_tokens(text) if _CJK.search(text) else word_tokens(text)


def get_tokenizer(name: str) -> Callable[[str], list[str]]:
    """The tokenizer function for a name in ``TOKENIZERS``."""
    table = {"auto": auto_tokens, "jieba": jieba_tokens, "word": word_tokens}
    if name not in table:
        raise InputError(f"unknown tokenizer {name!r}; choose one of {', '.join(TOKENIZERS)}")
    return table[name]
