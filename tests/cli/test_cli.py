from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pytest

from simmatch.cli.main import main


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_embed_jsonl_and_npy(capsys, tiny_embedder_dir, tiny_embedder, tmp_path):
    code, out, _ = run_cli(capsys, "embed", "你好", "牛奶", "--model", str(tiny_embedder_dir))
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["text"] for r in rows] == ["你好", "牛奶"]
    np.testing.assert_allclose(rows[0]["embedding"], tiny_embedder.encode("你好"), atol=1e-6)
    target = tmp_path / "v.npy"
    code, _, _ = run_cli(capsys, "embed", "你好", "--model", str(tiny_embedder_dir), "--out", str(target))
    assert code == 0 and np.load(target).shape == (1, tiny_embedder.dim)


def test_embed_from_file_and_stdin(capsys, monkeypatch, tiny_embedder_dir, tmp_path):
    f = tmp_path / "texts.jsonl"
    f.write_text('{"text": "你好"}\n{"text": "hello"}', encoding="utf-8")  # no trailing newline
    code, out, _ = run_cli(capsys, "embed", "--file", str(f), "--model", str(tiny_embedder_dir))
    assert code == 0 and len(out.splitlines()) == 2
    monkeypatch.setattr(sys, "stdin", io.StringIO("你好\n牛奶\n"))
    code, out, _ = run_cli(capsys, "embed", "--file", "-", "--model", str(tiny_embedder_dir))
    assert code == 0 and len(out.splitlines()) == 2


def test_similarity_two_texts_and_file(capsys, tiny_embedder_dir, tiny_embedder, tmp_path):
    code, out, _ = run_cli(capsys, "similarity", "你好", "牛奶", "--model", str(tiny_embedder_dir))
    row = json.loads(out)
    assert code == 0 and row["score"] == pytest.approx(tiny_embedder.similarity("你好", "牛奶"), abs=1e-6)
    f = tmp_path / "pairs.tsv"
    f.write_text("你好\t你好\t1\n你好\t牛奶\t0\n", encoding="utf-8")
    code, out, _ = run_cli(
        capsys, "similarity", "--file", str(f), "--model", str(tiny_embedder_dir), "--threshold", "0.99"
    )
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows[0]["label"] == "1" and [r["gold"] for r in rows] == ["1", "0"]


PAIRS = [
    ("你好", "你好"),
    ("你好", "牛奶"),
    ("吃完海鲜可以喝牛奶吗?", "吃海鲜不能同时喝牛奶吃水果"),
    ("cat", "dog"),
]


def test_similarity_equals_library(capsys, tiny_embedder_dir, tiny_embedder, tmp_path):
    """Scores are Embedder.similarity_pairwise's, labels are labels_by_threshold's, in input order."""
    from simmatch.models import labels_by_threshold

    f = tmp_path / "pairs.tsv"
    f.write_text("".join(f"{a}\t{b}\n" for a, b in PAIRS), encoding="utf-8")
    scores = tiny_embedder.similarity_pairwise([a for a, _ in PAIRS], [b for _, b in PAIRS])
    threshold = float(np.median(scores))
    code, out, _ = run_cli(
        capsys, "similarity", "-f", str(f), "--model", str(tiny_embedder_dir), "--threshold", str(threshold)
    )
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [(r["text_a"], r["text_b"]) for r in rows] == PAIRS
    assert [r["score"] for r in rows] == pytest.approx(scores.tolist(), abs=1e-6)
    assert [r["label"] for r in rows] == labels_by_threshold(scores, threshold)
    assert {r["label"] for r in rows} == {"0", "1"}


def test_similarity_with_cross_encoder(capsys, tiny_cross3_dir):
    from simmatch.models import PairClassifier

    code, out, _ = run_cli(capsys, "similarity", "你好", "牛奶", "--cross-encoder", str(tiny_cross3_dir))
    row = json.loads(out)
    want = PairClassifier(tiny_cross3_dir, device="cpu").predict([("你好", "牛奶")])[0]
    assert code == 0 and row["label"] == want.label
    assert row["probabilities"] == pytest.approx(want.probabilities, abs=1e-6)
    assert row["score"] == pytest.approx(want.score, abs=1e-6)


def test_rank_jsonl_and_table(capsys, tiny_embedder_dir, tiny_embedder, tmp_path):
    f = tmp_path / "cands.txt"
    f.write_text("牛奶\n你好\n海鲜\n", encoding="utf-8")
    code, out, _ = run_cli(
        capsys, "rank", "你好", "--candidates-file", str(f), "--model", str(tiny_embedder_dir)
    )
    rows = [json.loads(line) for line in out.splitlines()]
    want = tiny_embedder.rank("你好", ["牛奶", "你好", "海鲜"])
    assert code == 0 and [r["rank"] for r in rows] == [1, 2, 3]
    assert [(r["index"], r["text"]) for r in rows] == [(d.index, d.text) for d in want]
    assert [r["score"] for r in rows] == pytest.approx([d.score for d in want], abs=1e-6)
    code, out, _ = run_cli(
        capsys,
        "rank",
        "你好",
        "牛奶",
        "海鲜",
        "--model",
        str(tiny_embedder_dir),
        "--format",
        "table",
        "-k",
        "1",
    )
    best = tiny_embedder.rank("你好", ["牛奶", "海鲜"], top_k=1)[0]
    assert code == 0 and out.splitlines() == ["query: 你好", f"  1  {best.score:.4f}  {best.text}"]


@pytest.mark.parametrize("top_k", [None, 2])
def test_rank_equals_library(capsys, tiny_embedder_dir, tiny_embedder, tiny_cross3_dir, top_k):
    """Embedder.rank and PairClassifier.rank: same indices, texts and scores, best first."""
    from simmatch.models import PairClassifier

    query, docs = "吃完海鲜可以喝牛奶吗?", ["吃海鲜不能同时喝牛奶吃水果", "你好", "cat", "牛奶 milk"]
    k = [] if top_k is None else ["-k", str(top_k)]
    for extra, model in [
        (["--model", str(tiny_embedder_dir)], tiny_embedder),
        (["--cross-encoder", str(tiny_cross3_dir)], PairClassifier(tiny_cross3_dir, device="cpu")),
    ]:
        code, out, _ = run_cli(capsys, "rank", query, *docs, *extra, *k)
        rows = [json.loads(line) for line in out.splitlines()]
        want = model.rank(query, docs, top_k=top_k)
        assert code == 0 and len(rows) == len(want) == (top_k or len(docs))
        assert [(r["rank"], r["index"], r["text"]) for r in rows] == [
            (i + 1, d.index, d.text) for i, d in enumerate(want)
        ]
        assert [r["score"] for r in rows] == pytest.approx([d.score for d in want], abs=1e-6)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["similarity", "only-one"], "exactly two texts"),
        (["similarity", "a", ""], r"pairs\[0\]\[1\] is empty"),
        (["embed", "ok", "  "], r"texts\[1\] is empty or whitespace"),
        (["embed", "--file", "/no/such/file.txt"], "/no/such/file.txt: no such file"),
        (["embed", "x", "--model", "no-such-model"], "unknown model 'no-such-model'"),
        (["rank", "q"], "no candidates"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, tiny_embedder_dir, argv, message):
    if "--model" not in argv:
        argv = [*argv, "--model", str(tiny_embedder_dir)]
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("simmatch: error: ")
    assert pytest.importorskip("re").search(message, err)


def test_bad_pairs_file_names_file_and_line(capsys, tiny_embedder_dir, tmp_path):
    f = tmp_path / "pairs.tsv"
    f.write_text("a\tb\t1\nonly-one-column\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "similarity", "--file", str(f), "--model", str(tiny_embedder_dir))
    assert code == 2 and f"{f}:2: expected 3 columns like line 1, found 1" in err
    g = tmp_path / "pairs.jsonl"
    g.write_text('{"sentence1": "a", "sentence2": "b"}\n{"sentence1": "a"\n', encoding="utf-8")
    code, _, err = run_cli(capsys, "similarity", "--file", str(g), "--model", str(tiny_embedder_dir))
    assert code == 2 and f"{g}:2: invalid JSON" in err


def test_console_script_exit_code(tiny_embedder_dir):
    proc = subprocess.run(
        [sys.executable, "-m", "simmatch.cli.main", "embed", "", "--model", str(tiny_embedder_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == "simmatch: error: texts[0] is empty or whitespace only"


def test_models_command_lists_builtins(capsys):
    code, out, _ = run_cli(capsys, "models", "--json")
    names = {json.loads(line)["name"] for line in out.splitlines()}
    assert code == 0 and names == {
        "multilingual-e5-small",
        "all-MiniLM-L6-v2",
        "relevance-zh",
        "paraphrase-zh",
    }
