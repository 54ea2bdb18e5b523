"""``bench/scale/run.py --merge``: units (a part, or one store) run in separate idle windows make
one JSON and one docs table; each keeps its own command, seconds and load. No benchmark runs here."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parents[2] / "bench" / "scale" / "run.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_scale_run", RUN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    path = list(sys.path)
    try:
        spec.loader.exec_module(module)  # puts bench/ and bench/index_scale on sys.path
    finally:
        sys.path[:] = path
    return module


def _run(command: str, config: dict) -> dict:
    return {
        "command": command,
        "config": config,
        "seconds": 1.0,
        "load_average_at_start": [0.5, 0.4, 0.3],
        "load_average_at_end": [0.6, 0.5, 0.4],
    }


def _store_row(store: str, vectors: int) -> dict:
    return {
        "store": store,
        "vectors": vectors,
        "insert_per_s": 1.0,
        "p50_ms": 1.0,
        "p99_ms": 2.0,
        "recall@10": 1.0,
    }


def test_units_and_unknown_stores(bench):
    assert bench.units(bench.parse_args([])) == ["embed", "stores:local", "stores:milvus", "quality"]
    assert bench.units(bench.parse_args(["--parts", "stores", "--stores", "milvus"])) == ["stores:milvus"]
    assert bench.units(bench.parse_args(["--parts", "embed", "--stores", "milvus"])) == ["embed"]
    with pytest.raises(SystemExit):
        bench.parse_args(["--stores", "faiss"])


def test_merge_keeps_the_units_not_measured_again(bench, tmp_path):
    stores = {"vectors": 1000, "dim": 384, "queries": 5, "data": "clustered", "seed": 0}
    old = {
        "machine": {"cpu": "cpu", "cpus_usable": 2},
        "runs": {
            "embed": _run("embed-cmd", {"sentences": 10, "model": "m", "backend": "onnx-int8"}),
            "stores:local": _run("local-cmd", stores),
            "stores:milvus": _run("milvus-cmd", stores),
        },
        "embed": [{"engine": "in-process", "sentences_s": 1.0, "per_core": 1.0, "efficiency": 1.0}],
        "stores": [_store_row("local (SQLite + FAISS)", 1000), _store_row("Milvus Lite", 1000)],
    }
    out = tmp_path / "scale.json"
    out.write_text(json.dumps(old), encoding="utf-8")
    kept = bench.earlier_units(out, ["stores:milvus"])
    assert set(kept["runs"]) == {"embed", "stores:local"}
    assert kept["embed"] == old["embed"] and kept["stores"] == old["stores"][:1]
    assert bench.earlier_units(tmp_path / "absent.json", ["embed"]) == {"runs": {}}

    merged = {
        "machine": old["machine"],
        "runs": {**kept["runs"], "stores:milvus": _run("milvus-200k-cmd", {**stores, "vectors": 200_000})},
        "embed": kept["embed"],
        "stores": [*kept["stores"], _store_row("Milvus Lite", 200_000)],
    }
    text = "\n".join(bench.doc_lines(merged))
    assert "`embed-cmd` (1.0 s; 1-min load 0.5 at start, 0.6 at end)" in text
    assert "local (SQLite + FAISS): `local-cmd`" in text and "Milvus Lite: `milvus-200k-cmd`" in text
    assert "| Milvus Lite | 200000 |" in text and "| local (SQLite + FAISS) | 1000 |" in text
    doc = tmp_path / "scale.md"
    doc.write_text(f"before\n{bench.DOC_START}\nold\n{bench.DOC_END}\nafter\n", encoding="utf-8")
    bench.write_doc(merged, doc)
    written = doc.read_text(encoding="utf-8")
    assert written.startswith("before\n") and written.endswith("\nafter\n") and "\nold\n" not in written
