"""Texts and the fidelity verdict shared by ``bench/speed/run.py`` and ``bench/speed/recipes.py``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MIN_MEAN_COS = 0.99
MIN_MIN_COS = 0.98


def short_sentences(data_root: Path, n: int) -> list[str]:
    from simmatch.errors import DataFormatError

    path = data_root / "lcqmc" / "test.tsv"
    seen: dict[str, None] = {}
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 3 or not fields[0].strip():
                raise DataFormatError(path, line_no, "expected sentence1<TAB>sentence2<TAB>label")
            seen.setdefault(fields[0], None)
            if len(seen) == n:
                return list(seen)
    raise DataFormatError(path, None, f"only {len(seen)} distinct sentence1, {n} requested")


def long_texts(data_root: Path, n: int, tokens: int, tokenizer: Any) -> list[str]:
    """QBQTC titles (test_public, then dev, in file order) joined by "。" until each text has
    ``tokens`` content tokens."""
    from simmatch.errors import DataFormatError

    out: list[str] = []
    current = ""
    for path in (data_root / "qbqtc" / "test_public.json", data_root / "qbqtc" / "dev.json"):
        with path.open(encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                try:
                    title = json.loads(line)["title"]
                except (json.JSONDecodeError, KeyError) as exc:
                    raise DataFormatError(path, line_no, f"bad JSON line ({exc})", field="title") from exc
                current = f"{current}。{title}" if current else title
                if len(tokenizer(current, add_special_tokens=False)["input_ids"]) >= tokens:
                    out.append(current)
                    current = ""
                    if len(out) == n:
                        return out
    raise DataFormatError(path, None, f"only {len(out)} long texts of {tokens} tokens, {n} requested")


def fidelity(row: dict[str, Any]) -> str:
    """ "ok" when both text sets keep mean and min cosine to the fp32 reference above the bounds."""
    ok = (
        min(row["short_cos_mean"], row["long_cos_mean"]) >= MIN_MEAN_COS
        and min(row["short_cos_min"], row["long_cos_min"]) >= MIN_MIN_COS
    )
    return "ok" if ok else "FAIL"
