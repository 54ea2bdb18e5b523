"""``simmatch train`` / ``simmatch eval``: plain flags reach the library, results are JSON, errors exit 2."""

from __future__ import annotations

import json

from simmatch.cli.main import main
from simmatch.data import load_pairs
from simmatch.evaluation import EmbeddingSimilarityEvaluator, PairClassificationEvaluator
from simmatch.models import Embedder, PairClassifier

ROWS = [
    ("今天天气怎么样", "今天天气怎么样", "2"),
    ("今天天气怎么样", "今天天气好", "1"),
    ("今天天气怎么样", "小猫喝水", "0"),
    ("吃完海鲜可以喝牛奶吗", "吃完海鲜可以喝牛奶吗", "2"),
    ("吃完海鲜可以喝牛奶吗", "吃海鲜不能喝牛奶", "1"),
    ("吃完海鲜可以喝牛奶吗", "他在学中文", "0"),
]


def _tsv(path, rows):
    path.write_text("".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _json_out(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_train_then_eval_cross_encoder(tmp_path, tiny_cross3_dir, capsys):
    data = _tsv(tmp_path / "pairs.tsv", ROWS)
    out = tmp_path / "model"
    code = main(
        [
            "train", "cross-encoder", "--base", str(tiny_cross3_dir), "--train", str(data),
            "--dev", str(data),
            "--labels", "0,1,2", "--loss", "balanced-ce", "--loss-option", "tau=0.5", "--out", str(out),
            "--max-steps", "2", "--eval-every", "1", "--no-progress", "--device", "cpu",
        ]
    )  # fmt: skip
    assert code == 0
    report = _json_out(capsys)
    assert report["output_dir"] == str(out) and report["steps"] == 2
    assert report["metric"] == "eval_dev_macro_f1"
    record = json.loads((out / "training.json").read_text(encoding="utf-8"))
    assert record["loss_options"]["tau"] == 0.5 and record["config"]["max_steps"] == 2

    assert main(["eval", "cross-encoder", "--model", str(out), "--data", str(data), "--device", "cpu"]) == 0
    evaluator = PairClassificationEvaluator(load_pairs(data), batch_size=64)
    expected = evaluator(PairClassifier(str(out), device="cpu"))
    assert set(expected) == {"accuracy", "macro_f1", "f1_0", "f1_1", "f1_2"}
    assert _json_out(capsys) == {"data": str(data), "pairs": 6, "primary_metric": "macro_f1", **expected}


def test_train_then_eval_embedder(tmp_path, tiny_embedder_dir, capsys):
    rows = [(a, b, "1" if lab != "0" else "0") for a, b, lab in ROWS]
    data = _tsv(tmp_path / "pairs.tsv", rows)
    dev = _tsv(tmp_path / "dev.tsv", [("你好", "你好", "1"), ("你好", "牛奶", "0"), ("天气", "喝水", "0")])
    out = tmp_path / "emb"
    code = main(
        [
            "train", "embedder", "--base", str(tiny_embedder_dir), "--train", str(data), "--loss", "mnrl",
            "--hard-negatives", "bm25", "--out", str(out), "--max-steps", "2", "--batch-size", "2",
            "--no-progress", "--device", "cpu",
        ]
    )  # fmt: skip
    assert code == 0
    assert _json_out(capsys)["steps"] == 2
    code = main(
        [
            "eval",
            "embedder",
            "--model",
            str(out),
            "--data",
            str(data),
            "--threshold-from",
            str(dev),
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    pairs = load_pairs(data)
    evaluator = EmbeddingSimilarityEvaluator(
        pairs, kind="query", threshold_from=load_pairs(dev), batch_size=64
    )
    expected = evaluator(Embedder(str(out), device="cpu"))
    assert {"spearman", "pearson", "ap", "accuracy", "threshold", "f1", "dev_accuracy"} == set(expected)
    metrics = _json_out(capsys)
    record = {"data": str(data), "threshold_from": str(dev), "pairs": 6, "primary_metric": "spearman"}
    assert metrics == {**record, **expected}
    png = tmp_path / "plots" / "scores.png"
    args = ["eval", "embedder", "--model", str(out), "--data", str(data), "--threshold-from", str(dev)]
    assert main([*args, "--device", "cpu", "--plot", str(png)]) == 0
    assert _json_out(capsys)["plot"] == str(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_score_range_trains_and_evaluates_regression_from_a_file(tmp_path, tiny_cross3_dir, capsys):
    # Whole-number STS-B-style scores would be read as six classes without --score-range.
    rows = [(a, b, str(int(lab) * 2 + (i % 2))) for i, (a, b, lab) in enumerate(ROWS)]
    data = _tsv(tmp_path / "sts.tsv", rows)
    out = tmp_path / "reg"
    # The base is a 3-class cross-encoder: the regression head replaces its classifier.
    train = ["train", "cross-encoder", "--base", str(tiny_cross3_dir), "--train", str(data)]
    train += ["--out", str(out)]
    common = ["--max-steps", "2", "--no-progress", "--device", "cpu"]
    assert main([*train, "--loss", "mse", *common]) == 2
    assert "needs score data" in capsys.readouterr().err
    assert main([*train, "--loss", "mse", "--score-range", "0,5", *common]) == 0
    capsys.readouterr()
    png = tmp_path / "reg.png"
    args = ["eval", "cross-encoder", "--model", str(out), "--data", str(data), "--score-range", "0,5"]
    assert main([*args, "--device", "cpu", "--plot", str(png)]) == 0
    metrics = _json_out(capsys)
    scored = load_pairs(data, score_range=(0, 5))
    expected = PairClassificationEvaluator(scored, batch_size=64)(PairClassifier(str(out), device="cpu"))
    assert set(expected) == {"spearman", "pearson"}
    plot = {"plot": str(png)}
    assert metrics == {"data": str(data), "pairs": 6, "primary_metric": "spearman", **expected, **plot}
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert main([*args, "--score-range", "5,0"]) == 2
    assert "LOW must be below HIGH" in capsys.readouterr().err
    assert main([*args[:-2], "--score-range", "0,4"]) == 2
    assert "sts.tsv" in capsys.readouterr().err  # a score of 5 is outside 0..4: file and line


def test_train_errors_exit_2(tmp_path, tiny_cross3_dir, capsys):
    data = _tsv(tmp_path / "pairs.tsv", ROWS)
    base = [
        "train",
        "cross-encoder",
        "--base",
        str(tiny_cross3_dir),
        "--train",
        str(data),
        "--out",
        str(tmp_path / "m"),
    ]
    assert main([*base, "--loss", "cosent"]) == 2
    assert "unknown cross-encoder loss 'cosent'" in capsys.readouterr().err
    assert main([*base, "--loss-option", "tau"]) == 2
    assert "expected KEY=VALUE, got 'tau'" in capsys.readouterr().err
    assert main([*base, "--labels", "0,1"]) == 2
    assert "which is not in labels ['0', '1']" in capsys.readouterr().err
    assert main(["eval", "cross-encoder", "--model", str(tmp_path), "--data", "qbqtc:nope"]) == 2
    assert "benchmark 'qbqtc' has no split 'nope'; splits: dev, test_public" in capsys.readouterr().err
    assert main(["eval", "embedder", "--model", str(tmp_path), "--data", "lcqcm:test"]) == 2
    assert "unknown benchmark 'lcqcm' and no such file 'lcqcm:test'; benchmarks are NAME:SPLIT" in (
        capsys.readouterr().err
    )
    assert main([*base, "--dev", "qbqtc"]) == 2  # before any training
    assert "benchmark 'qbqtc' needs a split: qbqtc:dev or qbqtc:test_public" in capsys.readouterr().err


def test_train_label_map(tmp_path, tiny_cross3_dir, capsys):
    names = {"0": "contradiction", "1": "neutral", "2": "entailment"}
    data = _tsv(tmp_path / "nli.tsv", [(a, b, names[lab]) for a, b, lab in ROWS])
    out = tmp_path / "nli-model"
    train = [
        "train",
        "cross-encoder",
        "--base",
        str(tiny_cross3_dir),
        "--train",
        str(data),
        "--dev",
        str(data),
    ]
    common = ["--out", str(out), "--max-steps", "1", "--no-progress", "--device", "cpu"]
    label_map = ["--label-map", "entailment=1,contradiction=0,neutral=drop"]
    assert main([*train, *label_map, *common]) == 0
    assert _json_out(capsys)["metric"] == "eval_dev_accuracy"  # binary after the map
    assert PairClassifier(str(out), device="cpu").labels == ["0", "1"]
    assert main([*train, "--label-map", "entailment=1", *common]) == 2
    assert (
        f"{data}:2: field 'label': label 'neutral' is not in label_map (entailment)"
        in capsys.readouterr().err
    )
