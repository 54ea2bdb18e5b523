"""What ``simmatch train`` leaves on stdout, stderr and disk: one JSON line on stdout (transformers'
log dicts go to stderr), the final dev evaluation run once, the size of the output on stderr, and
by default only the final model on disk (no checkpoints)."""

from __future__ import annotations

import json

import pytest

from simmatch.cli.main import main

ROWS = [
    ("今天天气怎么样", "今天天气怎么样", "2"),
    ("今天天气怎么样", "今天天气好", "1"),
    ("今天天气怎么样", "小猫喝水", "0"),
    ("吃完海鲜可以喝牛奶吗", "吃完海鲜可以喝牛奶吗", "2"),
    ("吃完海鲜可以喝牛奶吗", "吃海鲜不能喝牛奶", "1"),
    ("吃完海鲜可以喝牛奶吗", "他在学中文", "0"),
]


def _train(tmp_path, base, *extra: str) -> list[str]:
    data = tmp_path / "pairs.tsv"
    data.write_text("".join("\t".join(r) + "\n" for r in ROWS), encoding="utf-8")
    out = tmp_path / "model"
    argv = ["train", "cross-encoder", "--base", str(base), "--train", str(data), "--dev", str(data)]
    argv += ["--labels", "0,1,2", "--out", str(out), "--max-steps", "2", "--logging-steps", "1"]
    return [*argv, "--device", "cpu", *extra]


@pytest.mark.parametrize("progress", ["--progress", "--no-progress"])
def test_stdout_is_one_json_line_and_the_last_step_is_evaluated_once(
    tmp_path, tiny_cross3_dir, capsys, progress
):
    # Six pairs in batches of 16: every step ends an epoch, so with the default once-per-epoch
    # evaluation the last step is both "the last step" and "an epoch end".
    assert main(_train(tmp_path, tiny_cross3_dir, progress)) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 1, captured.out
    report = json.loads(lines[0])
    assert report["steps"] == 2 and report["metric"] == "eval_dev_macro_f1"
    if progress == "--progress":  # the loss lines are still shown, on stderr
        assert "step 1: loss " in captured.err
    record = json.loads((tmp_path / "model" / "training.json").read_text(encoding="utf-8"))
    steps = [int(entry["step"]) for entry in record["history"]]
    assert steps == [1, 2]  # one evaluation per epoch, the last one not repeated


def test_training_keeps_only_the_final_model_and_says_how_big_it_is(tmp_path, tiny_cross3_dir, capsys):
    assert main(_train(tmp_path, tiny_cross3_dir, "--no-progress")) == 0
    out = tmp_path / "model"
    err = capsys.readouterr().err
    assert not (out / "checkpoints").exists()
    assert (out / "model.safetensors").is_file() and (out / "training.json").is_file()
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    assert f"simmatch: {out} holds {size / 1000:.1f} KB; checkpoints removed (--keep-checkpoints" in err

    kept = tmp_path / "kept"
    kept.mkdir()
    assert main(_train(kept, tiny_cross3_dir, "--no-progress", "--keep-checkpoints")) == 0
    checkpoints = kept / "model" / "checkpoints"
    assert {"checkpoint-1", "checkpoint-2"} <= {p.name for p in checkpoints.iterdir()}  # best + last
    assert f"checkpoints kept in {checkpoints} (" in capsys.readouterr().err
