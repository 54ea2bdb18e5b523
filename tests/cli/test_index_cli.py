from __future__ import annotations

import json

from simmatch.cli.main import main


def test_index_commands_end_to_end(capsys, tiny_embedder_dir, tmp_path):
    path = tmp_path / "idx"
    docs = tmp_path / "docs.jsonl"
    docs.write_text(
        "\n".join(
            json.dumps({"id": i, "text": t, "metadata": {"lang": lang}}, ensure_ascii=False)
            for i, t, lang in [
                ("a", "吃完海鲜可以喝牛奶吗", "zh"),
                ("b", "hello world", "en"),
                ("c", "牛奶", "zh"),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    assert main(["index", "create", str(path), "--model", str(tiny_embedder_dir)]) == 0
    capsys.readouterr()
    assert main(["index", "add", str(path), str(docs)]) == 0
    assert json.loads(capsys.readouterr().out)["documents"] == 3
    assert main(["index", "search", str(path), "牛奶", "--mode", "bm25", "-k", "2"]) == 0
    hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert hits[0]["id"] == "c" and len(hits) <= 2
    assert main(["index", "search", str(path), "hello", "--filter", '{"lang": "zh"}', "--mode", "dense"]) == 0
    hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {h["id"] for h in hits} <= {"a", "c"}
    assert main(["index", "delete", str(path), "b"]) == 0
    assert json.loads(capsys.readouterr().out)["documents"] == 2
    assert main(["index", "info", str(path)]) == 0
    assert '"multilingual' not in capsys.readouterr().out


def test_index_bad_file_line(capsys, tiny_embedder_dir, tmp_path):
    path = tmp_path / "idx"
    assert main(["index", "create", str(path), "--model", str(tiny_embedder_dir)]) == 0
    bad = tmp_path / "docs.jsonl"
    bad.write_text('{"id": "a", "text": "ok"}\n{"id": "b"}\n', encoding="utf-8")
    capsys.readouterr()
    assert main(["index", "add", str(path), str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2: field 'text'" in err
