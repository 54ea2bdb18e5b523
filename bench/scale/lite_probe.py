"""Does Milvus Lite search its HNSW index? Latency and recall@10 against ``ef`` at growing sizes.

    python bench/scale/lite_probe.py [--sizes 20000,100000,200000] [--queries 100]

For each size: a Milvus Lite collection (pymilvus ``MilvusClient`` directly, the schema simmatch's
store uses for its dense field: FLOAT_VECTOR, HNSW M=16 efConstruction=200, IP) filled with
``bench/index_scale``'s clustered unit vectors in 50k inserts, flushed, the Lite server released and
the file reopened (as a service starts), then single-query search with ``ef`` 16, 64 and 256:
p50 / p99 ms and recall@10 against exact inner-product search. An HNSW search gets slower and more
exact as ``ef`` grows; a scan costs the same at every ``ef`` and is exact. Prints a table and
writes JSON (``--out``). A timing benchmark: run it alone and read the recorded load. (Lite 3.2.2
does not implement the segment-info RPC, ``list_loaded_segments``, so how it cuts the collection
is not shown.)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from run import index_scale_make_data, release_lite  # bench/scale/run.py, this folder

from _common import ROOT, load_average, machine

EFS = (16, 64, 256)


def probe(size: int, queries: int, dim: int, seed: int, tmp: Path) -> list[dict[str, Any]]:
    from pymilvus import DataType, MilvusClient

    base, query = index_scale_make_data()("clustered", size, queries, dim, 1000, seed, 0.6, None)
    truth = np.argsort(-(query @ base.T), axis=1)[:, :10]
    path = str(tmp / f"probe-{size}.db")
    client = MilvusClient(path)
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
    params = client.prepare_index_params()
    params.add_index("dense", index_type="HNSW", metric_type="IP", params={"M": 16, "efConstruction": 200})
    client.create_collection("probe", schema=schema, index_params=params, consistency_level="Strong")
    started = time.perf_counter()
    for start in range(0, size, 50_000):
        rows = [{"id": i, "dense": base[i]} for i in range(start, min(size, start + 50_000))]
        client.insert("probe", rows)
    client.flush("probe")
    insert_s = time.perf_counter() - started
    client.close()
    release_lite(path)
    client = MilvusClient(path)
    client.load_collection("probe")
    out = []
    for ef in EFS:
        search = {"metric_type": "IP", "params": {"ef": ef}}
        client.search("probe", [query[0]], limit=10, search_params=search, anns_field="dense")  # warm-up
        times, recalls = [], []
        for q, row in zip(query, truth):
            started = time.perf_counter()
            hits = client.search("probe", [q], limit=10, search_params=search, anns_field="dense")[0]
            times.append((time.perf_counter() - started) * 1000)
            recalls.append(len({h["id"] for h in hits} & set(row.tolist())) / 10)
        out.append(
            {
                "vectors": size,
                "ef": ef,
                "insert_s": round(insert_s, 1),
                "p50_ms": round(float(np.percentile(times, 50)), 2),
                "p99_ms": round(float(np.percentile(times, 99)), 2),
                "recall@10": round(float(np.mean(recalls)), 4),
            }
        )
        r = out[-1]
        cells = [size, ef, r["p50_ms"], r["p99_ms"], r["recall@10"]]
        print("| " + " | ".join(str(c) for c in cells) + " |", flush=True)
    client.close()
    release_lite(path)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="20000,100000,200000")
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "scale_lite_probe.json")
    args = p.parse_args(argv)
    report: dict[str, Any] = {
        "command": "python bench/scale/lite_probe.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine(("pymilvus", "milvus-lite", "numpy")),
        "load_average_at_start": load_average(),
    }
    print("| vectors | ef | p50 ms | p99 ms | recall@10 |\n|---|---|---|---|---|")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="lite-probe-") as name:
        for size in (int(s) for s in args.sizes.split(",")):
            rows += probe(size, args.queries, args.dim, args.seed, Path(name))
    report["load_average_at_end"] = load_average()
    report["rows"] = rows
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
