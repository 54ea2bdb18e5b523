from __future__ import annotations

import json

import numpy as np
import pytest

from simmatch.errors import InputError
from simmatch.models import PairClassifier

PAIRS = [("吃完海鲜可以喝牛奶吗?", "吃海鲜不能同时喝牛奶"), ("hello world", "how are you"), ("你好", "牛奶")]


def test_three_label_head_save_load_predict(tiny_cross3_dir, tmp_path):
    clf = PairClassifier(tiny_cross3_dir, device="cpu")
    assert clf.labels == ["0", "1", "2"] and not clf.is_regression
    preds = clf.predict(PAIRS)
    for p in preds:
        assert set(p.probabilities) == {"0", "1", "2"}
        assert sum(p.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert p.label == max(p.probabilities, key=p.probabilities.get)
        expected = p.probabilities["1"] * 0.5 + p.probabilities["2"]
        assert p.score == pytest.approx(expected, abs=1e-6)
    saved = clf.save(tmp_path / "saved")
    again = PairClassifier(saved, device="cpu")
    for a, b in zip(preds, again.predict(PAIRS)):
        assert a.label == b.label
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-6)
    assert json.loads((saved / "simmatch.json").read_text())["kind"] == "pair-classifier"


def test_regression_head_scores_in_unit_interval_and_threshold(tiny_regression_dir, tmp_path):
    clf = PairClassifier(tiny_regression_dir, device="cpu")
    assert clf.is_regression
    preds = clf.predict(PAIRS)
    for p in preds:
        assert 0.0 <= p.score <= 1.0 and p.probabilities == {}
        assert p.label == ("1" if p.score >= 0.5 else "0")
    cut = float(np.median([p.score for p in preds]))
    strict = PairClassifier(tiny_regression_dir, device="cpu", threshold=cut)
    assert [p.label for p in strict.predict(PAIRS)] == ["1" if p.score >= cut else "0" for p in preds]
    saved = strict.save(tmp_path / "reg")
    assert PairClassifier(saved, device="cpu").config.threshold == pytest.approx(cut)


def test_rank_best_first(tiny_cross3_dir):
    clf = PairClassifier(tiny_cross3_dir, device="cpu")
    docs = ["牛奶", "你好", "海鲜", "hello"]
    ranked = clf.rank("你好", docs, top_k=3)
    assert len(ranked) == 3
    scores = clf.scores([("你好", d) for d in docs])
    assert [r.index for r in ranked] == list(np.argsort(-scores, kind="stable")[:3])


def test_create_fresh_heads(tiny_embedder_dir):
    clf = PairClassifier.create(tiny_embedder_dir, ["0", "1", "2"], device="cpu")
    assert clf.labels == ["0", "1", "2"]
    reg = PairClassifier.create(tiny_embedder_dir, None, device="cpu")
    assert reg.is_regression
    with pytest.raises(InputError, match="at least two distinct"):
        PairClassifier.create(tiny_embedder_dir, ["1", "1"], device="cpu")


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ([], "pairs is empty"),
        ([("a",)], r"pairs\[0\] is not a pair of two texts \(got 1 items\)"),
        (["ab"], r"pairs\[0\] is not a pair"),
        ([("a", "")], r"pairs\[0\]\[1\] is empty"),
        ([("a", None)], r"pairs\[0\]\[1\] is None"),
        (None, "pairs is None"),
    ],
)
def test_bad_pairs(tiny_cross3_dir, bad, match):
    clf = PairClassifier(tiny_cross3_dir, device="cpu")
    with pytest.raises(InputError, match=match):
        clf.predict(bad)


def test_long_pairs_truncate_with_warning(tiny_cross3_dir):
    clf = PairClassifier(tiny_cross3_dir, device="cpu")
    with pytest.warns(UserWarning, match="truncated"):
        clf.predict([("你好" * 40, "牛奶" * 40)])


def test_tune_decision_saves_offsets_that_the_next_load_applies(trained_cross3_dir, tmp_path):
    import shutil

    from simmatch.evaluation import classification_metrics
    from tests.training.test_training import toy_pairs

    model_dir = shutil.copytree(trained_cross3_dir, tmp_path / "m")
    dev = toy_pairs(30, "class3", seed=3)
    gold = [str(e.label) for e in dev]
    clf = PairClassifier(model_dir, device="cpu")
    clf_plain = clf.predict(dev.pairs)
    plain = classification_metrics(gold, [p.label for p in clf_plain], clf.labels)
    tuning = clf.tune_decision(dev.pairs, gold)
    assert tuning["metric"] == "macro_f1" and tuning["before"] == pytest.approx(plain["macro_f1"])
    assert tuning["after"] > tuning["before"] and any(tuning["logit_offsets"])
    clf.save_settings()
    saved = json.loads((model_dir / "simmatch.json").read_text(encoding="utf-8"))
    assert saved["logit_offsets"] == tuning["logit_offsets"] and saved["kind"] == "pair-classifier"

    again = PairClassifier(model_dir, device="cpu")
    assert list(again.config.logit_offsets) == tuning["logit_offsets"]
    predicted = again.predict(dev.pairs)
    tuned = classification_metrics(gold, [p.label for p in predicted], again.labels)
    assert tuned["macro_f1"] == pytest.approx(tuning["after"])
    adjusted = again.logits(dev.pairs) + np.array(tuning["logit_offsets"], dtype=np.float32)
    assert [p.label for p in predicted] == [again.labels[i] for i in adjusted.argmax(1)]
    # logit_offsets=() overrides the saved ones: the plain argmax again.
    argmax = PairClassifier(model_dir, device="cpu", logit_offsets=())
    assert [p.label for p in argmax.predict(dev.pairs)] == [p.label for p in clf_plain]
    with pytest.raises(InputError, match=r"logit_offsets: 2 logit_offsets for the labels"):
        PairClassifier(model_dir, device="cpu", logit_offsets=(0.0, 1.0))


def test_tune_decision_and_saved_offsets_errors(tiny_cross3_dir, tiny_regression_dir, tmp_path):
    import shutil

    clf = PairClassifier(tiny_cross3_dir, device="cpu")
    with pytest.raises(InputError, match=r"dev label '7' is not one of the model's labels \['0', '1', '2'\]"):
        clf.tune_decision([("a", "b")], ["7"])
    with pytest.raises(InputError, match="tune_decision needs a classification head"):
        PairClassifier(tiny_regression_dir, device="cpu").tune_decision([("a", "b")], ["1"])
    bad = shutil.copytree(tiny_cross3_dir, tmp_path / "bad")
    (bad / "simmatch.json").write_text(json.dumps({"logit_offsets": [0.0, 1.0]}), encoding="utf-8")
    with pytest.raises(InputError, match=r"bad/simmatch.json: 2 logit_offsets for the labels"):
        PairClassifier(bad, device="cpu")
    (bad / "simmatch.json").write_text(json.dumps({"logit_offsets": ["x", 0, 0]}), encoding="utf-8")
    with pytest.raises(InputError, match="logit_offsets must be a list of numbers"):
        PairClassifier(bad, device="cpu")
