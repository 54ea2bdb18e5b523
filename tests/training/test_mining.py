"""Hard-negative mining: BM25 and dense candidates never include the query or its positives, and the
dense false-negative guard skips candidates scoring within ``margin`` of the positive."""

from __future__ import annotations

import numpy as np
import pytest

from simmatch.data import PairDataset, PairExample, RetrievalExample
from simmatch.errors import InputError
from simmatch.training import mine_hard_negatives, pairs_to_retrieval_examples

CORPUS = [
    "吃完海鲜可以喝牛奶吗",
    "吃海鲜不能同时喝牛奶吃水果",
    "海鲜和牛奶一起吃会怎样",
    "喝牛奶的好处",
    "今天天气怎么样",
    "明天会下雨吗",
    "柠檬水可以每天喝吗",
    "海鲜过敏怎么办",
]
EXAMPLES = [
    RetrievalExample("吃完海鲜可以喝牛奶吗", ["吃海鲜不能同时喝牛奶吃水果"]),
    RetrievalExample("今天天气怎么样", ["明天会下雨吗"]),
]


def test_bm25_negatives_exclude_query_and_positives():
    mined = mine_hard_negatives(EXAMPLES, CORPUS, method="bm25", num_negatives=3, pick="top")
    assert [m.query for m in mined] == [e.query for e in EXAMPLES]
    for ex, m in zip(EXAMPLES, mined, strict=True):
        assert m.pos == ex.pos
        assert len(m.neg) == 3 and len(set(m.neg)) == 3
        assert ex.query not in m.neg and not set(ex.pos) & set(m.neg)
        assert set(m.neg) <= set(CORPUS)
    # BM25 over jieba tokens (可以/喝/吗, 喝牛奶, 海鲜/牛奶 shared with the query), best first, with
    # the query itself (top score) and its positive (third) left out.
    assert mined[0].neg == ["柠檬水可以每天喝吗", "喝牛奶的好处", "海鲜和牛奶一起吃会怎样"]


def test_positive_with_stray_whitespace_is_still_excluded():
    corpus = [*CORPUS, " 吃海鲜不能同时喝牛奶吃水果 "]
    mined = mine_hard_negatives(EXAMPLES[:1], corpus, method="bm25", num_negatives=5, pick="top")
    assert all(n.strip() != "吃海鲜不能同时喝牛奶吃水果" for n in mined[0].neg)


class FakeEncoder:
    """Fixed unit vectors per text: the geometry, hence every cosine, is chosen by the test."""

    def __init__(self, angles: dict[str, float]):
        self.angles = angles
        self.show_progress: list[bool | None] = []

    def encode(self, texts, *, batch_size=32, normalize=True, kind="query", show_progress=None):
        self.show_progress.append(show_progress)
        a = np.array([self.angles[t] for t in texts])
        return np.stack([np.cos(a), np.sin(a)], axis=1).astype(np.float32)


def test_dense_guard_skips_candidates_scoring_near_or_above_the_positive():
    # cos(query, x) = cos(angle(x)); the positive sits at 0.6 rad (cosine 0.825). The query itself
    # (cosine 1) and its positive are in the pool, as they are in the default pool.
    angles = {"q": 0.0, "pos": 0.6, "above": 0.2, "near": 0.65, "hard": 0.9, "easy": 1.4, "far": 2.5}
    enc = FakeEncoder(angles)
    corpus = ["q", "pos", "above", "near", "hard", "easy", "far"]
    examples = [RetrievalExample("q", ["pos"])]

    mined = mine_hard_negatives(
        examples, corpus, method="dense", model=enc, num_negatives=2, margin=0.05, pick="top"
    )
    # "above" (0.98) beats the positive and "near" (0.80) is within 0.05 of it: both are skipped.
    assert mined[0].neg == ["hard", "easy"]

    loose = mine_hard_negatives(
        examples, corpus, method="dense", model=enc, num_negatives=3, margin=-1.0, pick="top"
    )
    # No guard at all (every candidate is below 0.825 + 1): the best candidates are the query
    # (1.0), "above" (0.98), the positive (0.825), "near" (0.80), "hard" (0.62); the query and the
    # positive are never negatives, whatever their score.
    assert loose[0].neg == ["above", "near", "hard"]

    strict = mine_hard_negatives(
        examples, corpus, method="dense", model=enc, num_negatives=2, margin=0.5, pick="top"
    )
    # Only candidates below 0.825 - 0.5 survive: "easy" (0.17) and "far" (-0.80).
    assert strict[0].neg == ["easy", "far"]


def test_dense_guard_uses_the_weakest_positive_of_a_query_and_bans_all_its_positives():
    # Two examples share the query; its positives score 0.98 ("pos_a") and 0.825 ("pos_b"), so the
    # guard sits at 0.825 - 0.05 for both, and neither positive is a negative of either example.
    angles = {"q": 0.0, "pos_a": 0.2, "pos_b": 0.6, "near": 0.65, "hard": 0.9, "easy": 1.4, "far": 2.5}
    enc = FakeEncoder(angles)
    corpus = ["far", "easy", "hard", "near", "pos_b", "pos_a", "q"]
    examples = [RetrievalExample("q", ["pos_a"]), RetrievalExample("q", ["pos_b"])]
    mined = mine_hard_negatives(
        examples, corpus, method="dense", model=enc, num_negatives=2, margin=0.05, pick="top"
    )
    assert [m.neg for m in mined] == [["hard", "easy"], ["hard", "easy"]]
    loose = mine_hard_negatives(
        examples, corpus, method="dense", model=enc, num_negatives=2, margin=-1.0, pick="top"
    )
    assert [m.neg for m in loose] == [["near", "hard"], ["near", "hard"]]


def test_dense_guard_scores_a_positive_outside_the_pool():
    angles = {"q": 0.0, "pos": 0.6, "above": 0.2, "near": 0.65, "hard": 0.9, "easy": 1.4}
    mined = mine_hard_negatives(
        [RetrievalExample("q", ["pos"])],
        ["above", "near", "hard", "easy"],
        method="dense",
        model=FakeEncoder(angles),
        num_negatives=2,
        margin=0.05,
        pick="top",
    )
    assert mined[0].neg == ["hard", "easy"]


@pytest.mark.parametrize("method", ["bm25", "dense"])
def test_progress_bars_can_be_turned_off_and_do_not_change_the_result(method, capsys):
    angles = {t: 0.3 * i for i, t in enumerate(CORPUS)}
    shown, hidden = FakeEncoder(angles), FakeEncoder(angles)
    kw = {"method": method, "num_negatives": 2, "candidates": 4, "seed": 3}
    with_bars = mine_hard_negatives(EXAMPLES, CORPUS, model=shown, progress=True, **kw)
    err = capsys.readouterr().err
    stages = ["bm25 tokenize", "bm25 search"] if method == "bm25" else ["dense search"]
    for stage in [*stages, "select negatives"]:
        assert stage in err, err
    without = mine_hard_negatives(EXAMPLES, CORPUS, model=hidden, progress=False, **kw)
    assert capsys.readouterr().err == ""
    assert without == with_bars
    if method == "dense":
        # The model's own bar follows the same switch.
        assert shown.show_progress == [True, True] and hidden.show_progress == [False, False]


def test_search_in_blocks_gives_the_result_of_one_block(monkeypatch):
    import simmatch.training.mining as mining

    angles = {t: 0.3 * i for i, t in enumerate(CORPUS)}
    examples = [RetrievalExample(t, [CORPUS[(i + 1) % len(CORPUS)]]) for i, t in enumerate(CORPUS)]
    kw = {"num_negatives": 2, "candidates": 3, "pick": "top", "progress": False}

    def mine(method):
        return mine_hard_negatives(examples, CORPUS, method=method, model=FakeEncoder(angles), **kw)

    one = {m: mine(m) for m in ("bm25", "dense")}
    monkeypatch.setattr(mining, "SEARCH_BLOCK", 3)  # 8 queries and 8 texts: blocks of 3, 3 and 2
    for m in ("bm25", "dense"):
        assert mine(m) == one[m]


def test_train_embedder_passes_its_progress_setting_to_mining(tmp_path, monkeypatch):
    import simmatch.training.mining as mining
    from simmatch.training import TrainingConfig, train_embedder

    seen = []

    class Stop(Exception):
        pass

    def fake_mine(*args, **kwargs):
        seen.append(kwargs)
        raise Stop

    monkeypatch.setattr(mining, "mine_hard_negatives", fake_mine)
    for progress in (False, True):
        config = TrainingConfig(output_dir=str(tmp_path / "run"), progress=progress)
        with pytest.raises(Stop):
            train_embedder("unused", EXAMPLES, loss="mnrl", hard_negatives="bm25", config=config)
    assert [kw["progress"] for kw in seen] == [False, True]
    # mining_options still win over the training setting.
    config = TrainingConfig(output_dir=str(tmp_path / "run"), progress=True)
    with pytest.raises(Stop):
        train_embedder(
            "unused",
            EXAMPLES,
            loss="mnrl",
            hard_negatives="bm25",
            mining_options={"progress": False},
            config=config,
        )
    assert seen[-1]["progress"] is False


def test_random_pick_is_seeded_and_from_the_candidates():
    a = mine_hard_negatives(EXAMPLES, CORPUS, method="bm25", num_negatives=2, candidates=5, seed=7)
    b = mine_hard_negatives(EXAMPLES, CORPUS, method="bm25", num_negatives=2, candidates=5, seed=7)
    assert [x.neg for x in a] == [x.neg for x in b]
    for ex, m in zip(EXAMPLES, a, strict=True):
        assert ex.query not in m.neg and not set(ex.pos) & set(m.neg)


def test_pairs_to_retrieval_examples_groups_positives_and_ignores_negatives():
    data = PairDataset(
        [
            PairExample("a", "b", "1"),
            PairExample("a", "c", "1"),
            PairExample("a", "d", "0"),
            PairExample("e", "f", "1"),
            PairExample("g", "h", "0"),
        ],
        name="toy",
        label_type="class",
        label_set=["0", "1"],
    )
    examples = pairs_to_retrieval_examples(data)
    assert examples == [RetrievalExample("a", ["b", "c"]), RetrievalExample("e", ["f"])]
    mined = mine_hard_negatives(data, method="bm25", num_negatives=1, tokenizer="word", pick="top")
    for m in mined:
        assert m.query not in m.neg and not set(m.pos) & set(m.neg)


def test_mining_argument_errors():
    with pytest.raises(InputError, match="method='dense' needs a model"):
        mine_hard_negatives(EXAMPLES, CORPUS, method="dense")
    with pytest.raises(InputError, match="need 1 <= num_negatives <= candidates"):
        mine_hard_negatives(EXAMPLES, CORPUS, num_negatives=3, candidates=2)
    with pytest.raises(InputError, match="no examples"):
        mine_hard_negatives([], CORPUS)
    with pytest.raises(InputError, match="unknown tokenizer 'x'"):
        mine_hard_negatives(EXAMPLES, CORPUS, tokenizer="x")
