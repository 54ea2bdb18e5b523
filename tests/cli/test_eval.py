"""``simmatch eval``: the flags reach ``evaluate_dataset`` (backends, label maps, limits), the record
names the data as given, and mistakes exit 2 with one line."""

from __future__ import annotations

import json
import shutil

import pytest

from simmatch.cli.main import main
from simmatch.data import load_pairs
from simmatch.evaluation import EmbeddingSimilarityEvaluator, evaluate_dataset
from simmatch.models import Embedder
from simmatch.models.backends import BACKENDS

NLI = [
    ("今天天气怎么样", "今天天气如何", "entailment"),
    ("今天天气怎么样", "小猫喝水", "contradiction"),
    ("吃完海鲜可以喝牛奶吗", "吃完海鲜能喝牛奶吗", "entailment"),
    ("吃完海鲜可以喝牛奶吗", "海鲜很好吃", "neutral"),
    ("他在学中文", "他在学习中文", "entailment"),
    ("他在学中文", "今天天气好", "contradiction"),
]
TEST = [(a, b, "1" if y == "entailment" else "0") for a, b, y in NLI]
DEV = [
    ("你好", "你好啊", "1"),
    ("你好", "牛奶", "0"),
    ("海鲜和牛奶", "牛奶和海鲜", "1"),
    ("天气", "喝水", "0"),
]


def _tsv(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _run(capsys, *argv: str) -> tuple[int, dict | None, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else None), err


@pytest.fixture(scope="module")
def model_dir(tiny_embedder_dir, tmp_path_factory):
    """A copy of the tiny embedder: the ONNX backends export into the model directory."""
    out = tmp_path_factory.mktemp("eval") / "tiny-embedder"
    shutil.copytree(tiny_embedder_dir, out)
    return out


def test_backend_flag_reaches_the_embedder(capsys, tmp_path, model_dir):
    pytest.importorskip("onnxruntime")
    test, dev = _tsv(tmp_path / "data" / "test.tsv", TEST), _tsv(tmp_path / "data" / "dev.tsv", DEV)
    records = {}
    for backend in BACKENDS:
        args = ["eval", "embedder", "-m", str(model_dir), "-d", str(test), "--threshold-from", str(dev)]
        code, record, err = _run(capsys, *args, "--backend", backend)
        assert code == 0, err
        evaluator = EmbeddingSimilarityEvaluator(
            load_pairs(test), threshold_from=load_pairs(dev), batch_size=64
        )
        expected = evaluator(Embedder(str(model_dir), backend=backend, device="cpu"))
        assert record == {
            "data": str(test),
            "threshold_from": str(dev),
            "pairs": 6,
            "primary_metric": "spearman",
            **expected,
        }
        records[backend] = record
    # int8 weights move the cosines: the flag did reach the model
    assert records["onnx-int8"]["pearson"] != records["torch"]["pearson"]
    assert records["onnx"]["pearson"] == pytest.approx(records["torch"]["pearson"], abs=1e-4)
    with pytest.raises(SystemExit) as exit_:
        main(["eval", "embedder", "-d", str(test), "--backend", "tensorrt"])
    assert exit_.value.code == 2 and "invalid choice: 'tensorrt'" in capsys.readouterr().err


def test_label_map_and_unordered_labels(capsys, tmp_path, tiny_embedder_dir):
    nli = _tsv(tmp_path / "nli.tsv", NLI)
    base = ["eval", "embedder", "-m", str(tiny_embedder_dir), "-d", str(nli), "--device", "cpu"]
    code, record, err = _run(capsys, *base, "--label-map", "entailment=1,contradiction=0,neutral=drop")
    assert code == 0, err
    label_map = {"entailment": "1", "contradiction": "0", "neutral": None}
    expected = evaluate_dataset(str(tiny_embedder_dir), str(nli), label_map=label_map, device="cpu")
    assert record == expected and record["pairs"] == 5 and "ap" in record
    code, _, err = _run(capsys, *base)
    assert code == 2
    assert "labels contradiction, entailment, neutral are not numbers" in err
    assert "--label-map contradiction=N,entailment=N,neutral=N" in err
    code, _, err = _run(capsys, *base, "--label-map", "entailment=1,contradiction=0")
    assert code == 2 and f"{nli}:4: field 'label': label 'neutral' is not in label_map" in err
    code, _, err = _run(capsys, *base, "--label-map", "entailment")
    assert code == 2 and "--label-map takes LABEL=NEW,... (NEW a label or drop), got 'entailment'" in err


def test_threshold_from_is_bounded_by_limit_and_must_be_other_data(capsys, tmp_path, tiny_embedder_dir):
    test = _tsv(tmp_path / "test.tsv", TEST)
    dev = tmp_path / "dev.tsv"  # bad after 3 rows: --limit 3 never reads that far
    dev.write_text("".join("\t".join(r) + "\n" for r in DEV[:3]) + "x\ty\n", encoding="utf-8")
    base = ["eval", "embedder", "-m", str(tiny_embedder_dir), "-d", str(test), "--device", "cpu"]
    code, record, err = _run(capsys, *base, "--threshold-from", str(dev), "--limit", "3")
    assert code == 0, err
    assert record["pairs"] == 3 and "threshold" in record
    code, _, err = _run(capsys, *base, "--threshold-from", str(dev))
    assert code == 2 and f"{dev}:4: expected 3 columns like line 1, found 2" in err
    code, _, err = _run(capsys, *base, "--threshold-from", str(test))
    assert code == 2
    assert (
        f"threshold_from '{test}' is the evaluated data '{test}': choosing the threshold on the "
        "evaluated split overstates accuracy; pass a dev split"
    ) in err


def test_unlabeled_data_and_full_data_name(capsys, tmp_path, monkeypatch, tiny_embedder_dir):
    monkeypatch.chdir(tmp_path)
    _tsv(tmp_path / "runs" / "a" / "pairs.tsv", TEST)
    _tsv(tmp_path / "runs" / "b" / "pairs.tsv", [r[:2] for r in TEST])
    base = ["eval", "embedder", "-m", str(tiny_embedder_dir), "--device", "cpu"]
    code, record, err = _run(capsys, *base, "-d", "runs/a/pairs.tsv")
    assert code == 0, err
    assert record["data"] == "runs/a/pairs.tsv"  # as given, not "pairs.tsv"
    code, _, err = _run(capsys, *base, "-d", "runs/b/pairs.tsv")
    assert code == 2
    assert err.strip().endswith(
        "runs/b/pairs.tsv: no label column (found 2 columns without a header; looked for label, score)"
    )
