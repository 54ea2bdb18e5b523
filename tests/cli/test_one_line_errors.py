"""Where the CLI promises one line and exit 2: a model directory without weights at every door
that loads a model, an unknown hub id offline (at once, no network retries), and an output path
in a missing directory (before anything is computed)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time

import pytest

from simmatch.cli.main import main


def one_line_error(capsys, argv: list[str]) -> str:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2 and out == "", (code, out, err)
    assert err.count("\n") == 1 and err.startswith("simmatch: error: "), err
    return err


@pytest.fixture
def no_weights(tmp_path, tiny_cross3_dir):
    """A copy of a model directory whose weights file is missing (an interrupted copy)."""
    import shutil

    target = tmp_path / "no-weights"
    shutil.copytree(tiny_cross3_dir, target)
    (target / "model.safetensors").unlink()
    return target


@pytest.fixture
def index_path(capsys, tiny_embedder_dir, tmp_path):
    path = tmp_path / "idx"
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "a", "text": "牛奶"}, ensure_ascii=False) + "\n", encoding="utf-8")
    assert main(["index", "create", str(path), "--model", str(tiny_embedder_dir), "--ann", "flat"]) == 0
    assert main(["index", "add", str(path), str(docs)]) == 0
    capsys.readouterr()
    return path


def test_model_directory_without_weights_at_every_door(capsys, no_weights, tiny_embedder_dir, index_path):
    expected = f"simmatch: error: model directory {no_weights} has no weights: expected model.safetensors"
    doors = [
        ["embed", "你好", "--model", str(no_weights)],
        ["similarity", "你好", "牛奶", "-c", str(no_weights)],
        ["rank", "你好", "牛奶", "-c", str(no_weights)],
        ["index", "search", str(index_path), "牛奶", "--rerank", str(no_weights)],
        ["serve", "--model", str(no_weights)],
        ["serve", "--model", str(tiny_embedder_dir), "-c", str(no_weights)],
    ]
    for argv in doors:
        assert one_line_error(capsys, argv).startswith(expected), argv


def test_unknown_hub_id_offline_fails_at_once(tmp_path):
    env = {
        **os.environ,
        "HF_HOME": str(tmp_path / "hf"),
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    env.pop("HF_HUB_CACHE", None)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "simmatch.cli.main", "embed", "你好", "--model", "someone/not-cached"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert time.perf_counter() - start < 30  # it retried the network for ~46 s
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1
    assert (
        "model 'someone/not-cached' is not a built-in, a local directory, or in the Hugging Face cache"
        in proc.stderr
    )
    assert "HF_HUB_OFFLINE is set (offline)" in proc.stderr


def test_out_into_missing_directory_fails_before_any_work(capsys, monkeypatch, tmp_path, tiny_embedder_dir):
    import simmatch.cli.embed as embed

    def must_not_load(args):
        raise AssertionError("the model was loaded before --out was checked")

    monkeypatch.setattr(embed, "load_embedder", must_not_load)
    stdin = io.StringIO("你好\n")
    monkeypatch.setattr(sys, "stdin", stdin)
    missing = tmp_path / "missing" / "dir"
    err = one_line_error(
        capsys, ["embed", "--out", str(missing / "v.npy"), "--model", str(tiny_embedder_dir)]
    )
    target = missing / "v.npy"
    assert err == f"simmatch: error: --out {target}: directory {missing} does not exist (create it first)\n"
    assert stdin.tell() == 0  # not even the input was read
    err = one_line_error(capsys, ["embed", "x", "--out", str(tmp_path), "--model", str(tiny_embedder_dir)])
    assert "--out must end in .npy or .jsonl" in err
    folder = tmp_path / "a.npy"
    folder.mkdir()
    err = one_line_error(capsys, ["embed", "x", "--out", str(folder), "--model", str(tiny_embedder_dir)])
    assert err == f"simmatch: error: --out {folder} is a directory; give a file path\n"
