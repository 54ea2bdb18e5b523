"""Multi-process training: ``torchrun --nproc_per_node 2 -m simmatch.cli.main train ...`` (gloo on
CPU) through the sentence-transformers trainer, for both towers on the tiny fixture models. Two
processes with ``--batch-size 4`` see the same global batch as one process with 8; the metrics of
the trained models agree within noise (the data order differs: DistributedSampler), only rank 0
writes the model and ``training.json`` and prints the report. ~15 s per tower."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from simmatch.cli.main import main
from simmatch.data import load_pairs
from simmatch.evaluation import EmbeddingSimilarityEvaluator, PairClassificationEvaluator
from simmatch.models import Embedder, PairClassifier

ROWS = [
    ("今天天气怎么样", "今天天气好", "1"),
    ("今天天气怎么样", "小猫喝水", "0"),
    ("吃完海鲜可以喝牛奶吗", "吃海鲜不能喝牛奶", "1"),
    ("吃完海鲜可以喝牛奶吗", "他在学中文", "0"),
    ("北京明天下雨吗", "明天北京会下雨吗", "1"),
    ("北京明天下雨吗", "手机屏幕碎了", "0"),
    ("怎么做红烧肉", "红烧肉的做法", "1"),
    ("怎么做红烧肉", "今天股票涨了", "0"),
] * 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _torchrun(args: list[str]) -> subprocess.CompletedProcess:
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    import simmatch

    source_root = str(Path(simmatch.__file__).resolve().parents[1])
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [source_root, os.environ.get("PYTHONPATH")])),
    }
    command = [
        torchrun,
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(_free_port()),
    ]
    return subprocess.run(
        [*command, "-m", "simmatch.cli.main", *args], capture_output=True, text=True, env=env, timeout=120
    )


def _reports(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith('{"output_dir"')]


@pytest.mark.parametrize("tower", ["embedder", "cross-encoder"])
def test_two_processes_train_like_one(tower, tmp_path, tiny_embedder_dir, tiny_cross3_dir, capsys):
    data = tmp_path / "pairs.tsv"
    data.write_text("".join("\t".join(r) + "\n" for r in ROWS), encoding="utf-8")
    if tower == "embedder":
        base, extra = tiny_embedder_dir, ["--loss", "contrastive"]
    else:
        base, extra = tiny_cross3_dir, ["--labels", "0,1"]
    common = ["train", tower, "--base", str(base), "--train", str(data), *extra]
    common += ["--max-steps", "4", "--lr", "1e-4", "--no-progress", "--device", "cpu", "--seed", "3"]
    one, two = tmp_path / "one", tmp_path / "two"
    assert main([*common, "--out", str(one), "--batch-size", "8"]) == 0
    capsys.readouterr()
    done = _torchrun([*common, "--out", str(two), "--batch-size", "4"])
    assert done.returncode == 0, done.stderr[-4000:]
    reports = _reports(done.stdout)
    assert len(reports) == 1 and reports[0]["steps"] == 4  # one report, from rank 0
    record = json.loads((two / "training.json").read_text(encoding="utf-8"))
    assert record["machine"]["processes"] == 2 and record["global_step"] == 4
    pairs = load_pairs(data)
    if tower == "embedder":
        evaluator = EmbeddingSimilarityEvaluator(pairs, kind="query", batch_size=64)
        metrics = [evaluator(Embedder(str(d), device="cpu")) for d in (one, two)]
        assert abs(metrics[0]["spearman"] - metrics[1]["spearman"]) <= 0.1, metrics
    else:
        evaluator = PairClassificationEvaluator(pairs, batch_size=64)
        metrics = [evaluator(PairClassifier(str(d), device="cpu")) for d in (one, two)]
        assert abs(metrics[0]["accuracy"] - metrics[1]["accuracy"]) <= 0.15, metrics
