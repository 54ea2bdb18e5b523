"""Validation of texts and pairs shared by every model entry point, so the library, the CLI and the
HTTP service reject the same bad input with the same message."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

from simmatch.errors import InputError

# Characters that show nothing and are not whitespace to ``str.strip``: zero-width space, (non-)
# joiner, word joiner, byte-order mark. A text of only these (and whitespace) counts as empty.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))


def check_text(value: Any, where: str = "text") -> str:
    """A non-empty string of valid Unicode. Refused, with ``where`` named: ``None``, non-strings,
    empty text (whitespace and zero-width characters only) and unpaired surrogates (JSON
    ``"\\ud800"``, or a byte that is not UTF-8 on the command line), which tokenizers cannot encode."""
    if value is None:
        raise InputError(f"{where} is None; expected a non-empty string")
    if not isinstance(value, str):
        raise InputError(f"{where} must be a string, got {type(value).__name__}")
    if not value.strip() or not value.translate(_INVISIBLE).strip():
        raise InputError(f"{where} is empty or whitespace only")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            code = ord(value[exc.start])
            raise InputError(
                f"{where} contains an unpaired surrogate (U+{code:04X}): not valid Unicode text"
            ) from None
    return value


def check_texts(texts: Any, name: str = "texts") -> list[str]:
    """A non-empty list of non-empty strings. A bare string is the caller's job to wrap."""
    if texts is None:
        raise InputError(f"{name} is None; expected a list of strings")
    if isinstance(texts, (str, bytes)) or not isinstance(texts, Sequence):
        if hasattr(texts, "__iter__") and not isinstance(texts, (str, bytes, dict)):
            texts = list(texts)
        else:
            raise InputError(f"{name} must be a list of strings, got {type(texts).__name__}")
    if len(texts) == 0:
        raise InputError(f"{name} is empty; pass at least one text")
    return [check_text(t, f"{name}[{i}]") for i, t in enumerate(texts)]


def check_pairs(pairs: Any, name: str = "pairs") -> list[tuple[str, str]]:
    if pairs is None:
        raise InputError(f"{name} is None; expected a list of (text_a, text_b) pairs")
    if isinstance(pairs, (str, bytes, dict)) or not hasattr(pairs, "__iter__"):
        raise InputError(f"{name} must be a list of (text_a, text_b) pairs, got {type(pairs).__name__}")
    pairs = list(pairs)
    if not pairs:
        raise InputError(f"{name} is empty; pass at least one pair")
    out = []
    for i, pair in enumerate(pairs):
        if isinstance(pair, (str, bytes, dict)) or not isinstance(pair, Sequence) or len(pair) != 2:
            got = (
                f"{len(pair)} items"
                if isinstance(pair, Sequence) and not isinstance(pair, str)
                else repr(pair)
            )
            raise InputError(f"{name}[{i}] is not a pair of two texts (got {got})")
        out.append((check_text(pair[0], f"{name}[{i}][0]"), check_text(pair[1], f"{name}[{i}][1]")))
    return out


def check_top_k(top_k: Any, name: str = "top_k") -> int | None:
    """``None`` (keep all) or a positive int."""
    if top_k is None:
        return None
    if isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral):
        raise InputError(f"{name} must be a positive integer, got {top_k!r}")
    if top_k < 1:
        raise InputError(f"{name} must be >= 1, got {top_k}")
    return int(top_k)
