"""evaluate_dataset: data named as the doors name it, one record out, everything checked before the
model runs. A fake encoder stands in for the model (passed loaded)."""

from __future__ import annotations

import re

import pytest
from sklearn.metrics import average_precision_score

from simmatch.data import load_pairs
from simmatch.errors import DataFormatError, InputError
from simmatch.evaluation import EmbeddingSimilarityEvaluator, evaluate_dataset, pair_cosines
from simmatch.settings import data_root

from .conftest import HashEncoder, ScriptedClassifier

NLI_ROWS = [
    ("如何办理信用卡", "信用卡怎么办理", "entailment"),
    ("今天天气怎么样", "今天天气如何", "entailment"),
    ("花呗怎么还款", "借呗额度提升", "contradiction"),
    ("苹果手机多少钱", "香蕉怎么种植", "neutral"),
    ("怎么修改密码", "密码如何修改", "entailment"),
    ("北京有什么好玩的", "上海的美食推荐", "contradiction"),
]
BINARY_ROWS = [(a, b, "1" if y == "entailment" else "0") for a, b, y in NLI_ROWS]
NLI_MAP = {"entailment": "1", "contradiction": "0", "neutral": None}


def _tsv(path, rows):
    path.write_text("".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_record_names_the_data_as_given_and_matches_the_evaluator(tmp_path, hash_encoder, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    data = _tsv(tmp_path / "sub" / "test.tsv", BINARY_ROWS)
    dev = _tsv(tmp_path / "sub" / "dev.tsv", BINARY_ROWS[::-1][:4])
    got = evaluate_dataset(hash_encoder, "sub/test.tsv", threshold_from=str(dev))
    expected = EmbeddingSimilarityEvaluator(load_pairs(data), threshold_from=load_pairs(dev))(hash_encoder)
    assert got == {
        "data": "sub/test.tsv",
        "threshold_from": str(dev),
        "pairs": 6,
        "primary_metric": "spearman",
        **expected,
    }
    positives = [y == "1" for *_, y in BINARY_ROWS]
    cosines = pair_cosines(HashEncoder(), load_pairs(data))
    assert got["ap"] == average_precision_score(positives, cosines)


def test_label_map_maps_and_drops(tmp_path, hash_encoder):
    data = _tsv(tmp_path / "nli.tsv", NLI_ROWS)
    got = evaluate_dataset(hash_encoder, data, label_map=NLI_MAP)
    binary = _tsv(tmp_path / "binary.tsv", [r for r, (*_, y) in zip(BINARY_ROWS, NLI_ROWS) if y != "neutral"])
    expected = EmbeddingSimilarityEvaluator(load_pairs(binary))(hash_encoder)
    assert got == {"data": str(data), "pairs": 5, "primary_metric": "spearman", **expected}
    with pytest.raises(InputError, match="labels contradiction, entailment, neutral are not numbers"):
        evaluate_dataset(hash_encoder, data)
    with pytest.raises(
        DataFormatError, match=r"nli.tsv:4: field 'label': label 'neutral' is not in label_map"
    ):
        evaluate_dataset(hash_encoder, data, label_map={"entailment": "1", "contradiction": "0"})
    assert hash_encoder.calls == [(10, "query"), (10, "query")]  # the two successful runs only


def test_limit_bounds_threshold_from(tmp_path, hash_encoder):
    data = _tsv(tmp_path / "test.tsv", BINARY_ROWS)
    # The dev file turns bad after its 3rd row: with --limit 3 it is never read that far.
    dev = tmp_path / "dev.tsv"
    dev_rows = BINARY_ROWS[::-1][:3]
    dev.write_text("".join("\t".join(r) + "\n" for r in dev_rows) + "x\ty\n", encoding="utf-8")
    got = evaluate_dataset(hash_encoder, data, threshold_from=dev, limit=3)
    assert got["pairs"] == 3
    expected = EmbeddingSimilarityEvaluator(
        load_pairs(data, limit=3), threshold_from=load_pairs(dev, limit=3)
    )(hash_encoder)
    assert {k: got[k] for k in expected} == expected
    with pytest.raises(DataFormatError, match=r"dev.tsv:4: expected 3 columns like line 1, found 2"):
        evaluate_dataset(hash_encoder, data, threshold_from=dev)


def test_threshold_from_the_evaluated_data_is_refused(tmp_path, hash_encoder, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data_dir = data_root().resolve()
    monkeypatch.setenv("SIMMATCH_DATA", str(data_dir))
    data = _tsv(tmp_path / "test.tsv", BINARY_ROWS)
    tail = "choosing the threshold on the evaluated split overstates accuracy; pass a dev split"
    for given, other in [
        (data, data),
        ("test.tsv", str(data)),  # the same file spelled two ways
        ("lcqmc:test", "lcqmc:test"),
        ("lcqmc:test", str(data_dir / "lcqmc" / "test.tsv")),  # a benchmark split is its file
        ("stsb-en:test", "stsb-en:test"),
    ]:
        with pytest.raises(InputError, match=f"threshold_from '{other}' is the evaluated data .*: {tail}"):
            evaluate_dataset(hash_encoder, given, threshold_from=other)
    assert hash_encoder.calls == []


def test_unlabeled_data_says_no_label_column(tmp_path, hash_encoder):
    headerless = _tsv(tmp_path / "u.tsv", [("a", "b"), ("c", "d")])
    with pytest.raises(
        DataFormatError,
        match="^"
        + re.escape(
            f"{headerless}: no label column (found 2 columns without a header; looked for label, score)"
        )
        + "$",
    ):
        evaluate_dataset(hash_encoder, headerless)
    header = _tsv(tmp_path / "h.tsv", [("text_a", "text_b"), ("a", "b")])
    with pytest.raises(DataFormatError, match=r"h.tsv: no label column \(found columns text_a, text_b;"):
        evaluate_dataset(hash_encoder, header)
    jsonl = tmp_path / "u.jsonl"
    jsonl.write_text('{"sentence1": "a", "sentence2": "b"}\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"u.jsonl: no label column \(found keys sentence1, sentence2;"):
        evaluate_dataset(hash_encoder, jsonl)


def test_cross_encoder_record_and_argument_errors(tmp_path, hash_encoder):
    data = _tsv(tmp_path / "test.tsv", BINARY_ROWS)
    scores = [0.9, 0.8, 0.3, 0.1, 0.6, 0.7]
    clf = ScriptedClassifier(labels=["1" if x >= 0.5 else "0" for x in scores], scores=scores)
    got = evaluate_dataset(clf, data, family="cross-encoder")
    assert got["primary_metric"] == "accuracy" and got["data"] == str(data) and "ap" in got
    with pytest.raises(InputError, match="family must be one of embedder, cross-encoder, not 'reranker'"):
        evaluate_dataset(clf, data, family="reranker")
    with pytest.raises(InputError, match="unknown backend 'tensorrt'; choose one of torch, onnx, onnx-int8"):
        evaluate_dataset("some-model", data, backend="tensorrt")
    with pytest.raises(InputError, match="threshold_from applies to embedders"):
        evaluate_dataset("some-model", data, family="cross-encoder", threshold_from=data)
    with pytest.raises(InputError, match="backend and device apply when model is a name"):
        evaluate_dataset(hash_encoder, data, backend="onnx")
