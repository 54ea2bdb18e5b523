"""``simmatch tune-decision``: the same record as ``simmatch.evaluation.tune_decision``, the offsets
saved (or not) beside the model, and clear refusals."""

from __future__ import annotations

import json
import shutil

import pytest

from simmatch.errors import InputError
from tests.cli.test_cli import run_cli
from tests.training.test_training import toy_pairs


@pytest.fixture()
def dev_file(tmp_path):
    path = tmp_path / "dev.tsv"
    rows = [f"{e.sentence1}\t{e.sentence2}\t{e.label}" for e in toy_pairs(30, "class3", seed=3)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_cli_record_equals_the_library_and_the_offsets_are_saved(
    capsys, tmp_path, trained_cross3_dir, dev_file
):
    from simmatch.evaluation import tune_decision
    from simmatch.models import PairClassifier

    library_copy = shutil.copytree(trained_cross3_dir, tmp_path / "lib")
    cli_copy = shutil.copytree(trained_cross3_dir, tmp_path / "cli")
    expected = tune_decision(library_copy, dev_file)
    code, out, _ = run_cli(capsys, "tune-decision", "--model", str(cli_copy), "--dev", str(dev_file))
    record = json.loads(out)
    assert code == 0
    assert {k: v for k, v in record.items() if k not in ("model", "saved_to")} == {
        k: v for k, v in expected.items() if k not in ("model", "saved_to")
    }
    assert record["pairs"] == 30 and record["metric"] == "macro_f1" and record["saved_to"] == str(cli_copy)
    assert record["after"] >= record["before"]
    assert list(PairClassifier(cli_copy, device="cpu").config.logit_offsets) == record["logit_offsets"]


def test_no_save_leaves_the_model_as_it_was(capsys, tmp_path, trained_cross3_dir, dev_file):
    model = shutil.copytree(trained_cross3_dir, tmp_path / "m")
    code, out, _ = run_cli(
        capsys, "tune-decision", "-m", str(model), "--dev", str(dev_file), "--metric", "accuracy", "--no-save"
    )
    assert code == 0 and json.loads(out)["saved_to"] is None and json.loads(out)["metric"] == "accuracy"
    assert not (model / "simmatch.json").exists()


def test_refusals(capsys, tmp_path, trained_cross3_dir, dev_file):
    from simmatch.evaluation import tune_decision

    code, _, err = run_cli(capsys, "tune-decision", "-m", "relevance-zh", "--dev", str(dev_file))
    assert code == 2 and "relevance-zh is a built-in model; copy its directory" in err
    scores = tmp_path / "scores.tsv"
    scores.write_text("a\tb\t0.5\nc\td\t1.0\n", encoding="utf-8")
    with pytest.raises(InputError, match="tuning a decision needs class labels, not score labels"):
        tune_decision(trained_cross3_dir, scores, save=False)
    with pytest.raises(InputError, match="metric must be one of macro_f1, accuracy, not 'f1'"):
        tune_decision(trained_cross3_dir, dev_file, metric="f1")
