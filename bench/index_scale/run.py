"""Scale benchmark of the FAISS indexes ``simmatch.index`` uses (flat, HNSW, IVF).

Builds each index through ``simmatch.index.vectors.VectorIndex`` (the same ``IndexIDMap2`` wrapping
and per-call search parameters the ``Index`` uses) over ``--n`` normalized float32 vectors and
measures build time (FAISS using ``--threads`` OpenMP threads), memory (RSS growth of a forked
process that builds only that index), single-query latency p50/p99 with ``--clients`` threads each
sending one query per call (FAISS parallelizes over the queries of a call, so a single query gains
nothing from OpenMP: searches run with 1 OpenMP thread), throughput, and recall@k against exact flat
search over ``--queries`` queries that are not in the database.

Data: ``random`` = i.i.d. Gaussian vectors normalized (uniform on the sphere, the worst case for
ANN: no structure, all distances alike); ``clustered`` = ``--clusters`` Gaussian centres plus
noise, closer to real embeddings; ``real`` = multilingual-e5-small embeddings of distinct sentences
from ../shared/data, made by ``bench/index_scale/embed_corpus.py`` (``--real-dir``; ``--n`` at most
the number it encoded). Prints a table and writes JSON.

    nice -n 10 python bench/index_scale/run.py                      # 1,000,000 x 384, both data sets
    python bench/index_scale/run.py --n 20000 --queries 50          # quick check
    python bench/index_scale/embed_corpus.py --n 100000 && \
        python bench/index_scale/run.py --n 100000 --data real --out bench/out/index_scale_real.json
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import platform
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import ROOT, load_average, machine


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1_000_000, help="database vectors")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2, help="FAISS OpenMP threads for building")
    parser.add_argument("--clients", type=int, default=2, help="threads sending single queries")
    parser.add_argument("--data", default="random,clustered", help="comma-separated: random, clustered, real")
    parser.add_argument(
        "--real-dir",
        type=Path,
        default=ROOT / "bench" / "out" / "real_vectors",
        help="base.npy + queries.npy written by embed_corpus.py (for --data real)",
    )
    parser.add_argument("--clusters", type=int, default=1000, help="centres of the clustered data")
    parser.add_argument(
        "--cluster-noise", type=float, default=0.6, help="clustered data: a point's distance to its centre"
    )
    parser.add_argument("--hnsw-m", default="32", help="HNSW M values to build (comma-separated)")
    parser.add_argument("--ef-construction", type=int, default=100)
    parser.add_argument("--ef-search", default="32,64,128,256,512,1024,2048", help="HNSW efSearch sweep")
    parser.add_argument("--ivf-nprobe", default="16,32,64,128,256,512", help="IVF nprobe sweep ('' = no IVF)")
    parser.add_argument("--ivf-nlist", type=int, default=None, help="IVF buckets (default 4*sqrt(n))")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "index_scale.json")
    args = parser.parse_args(argv)
    unknown = set(args.data.split(",")) - {"random", "clustered", "real"}
    if unknown:
        parser.error(f"unknown --data {sorted(unknown)}; choose from random, clustered, real")
    if args.n < 1000 or args.queries < 1 or args.k < 1:
        parser.error("--n must be >= 1000, --queries and --k >= 1")
    return args


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def normalized(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def make_data(
    kind: str,
    n: int,
    n_queries: int,
    dim: int,
    clusters: int,
    seed: int,
    spread: float = 0.6,
    real_dir: Path | None = None,
):
    """Database and query vectors, float32, unit norm; generated in chunks to bound peak memory."""
    if kind == "real":
        assert real_dir is not None
        base = np.load(real_dir / "base.npy", mmap_mode="r")
        queries = np.load(real_dir / "queries.npy")
        if len(base) < n or len(queries) < n_queries or base.shape[1] != dim:
            raise SystemExit(
                f"{real_dir}: has {base.shape[0]}x{base.shape[1]} base and {len(queries)} query vectors; "
                f"asked for {n}x{dim} and {n_queries} (run bench/index_scale/embed_corpus.py --n {n})"
            )
        return np.ascontiguousarray(base[:n], dtype=np.float32), np.ascontiguousarray(queries[:n_queries])
    rng = np.random.default_rng(seed)
    base = np.empty((n, dim), dtype=np.float32)
    if kind == "random":
        for start in range(0, n, 100_000):
            stop = min(n, start + 100_000)
            base[start:stop] = normalized(rng.standard_normal((stop - start, dim), dtype=np.float32))
        queries = normalized(rng.standard_normal((n_queries, dim), dtype=np.float32))
        return base, queries
    centres = normalized(rng.standard_normal((clusters, dim), dtype=np.float32))
    noise = spread / np.sqrt(dim)  # per-coordinate noise: a point sits ~spread from its centre

    def sample(count: int) -> np.ndarray:
        points = centres[rng.integers(0, clusters, size=count)]
        return normalized(points + noise * rng.standard_normal((count, dim), dtype=np.float32))

    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        base[start:stop] = sample(stop - start)
    return base, sample(n_queries)


def timed_search(vectors: Any, queries: np.ndarray, k: int, clients: int) -> dict[str, Any]:
    """Single-query searches from ``clients`` threads (FAISS releases the GIL while searching).
    Returns found ids (nq, k), per-query milliseconds and queries per second."""
    import faiss

    faiss.omp_set_num_threads(1)
    vectors.search(queries[:5], k)  # warm-up
    found = np.empty((len(queries), k), dtype=np.int64)
    times = np.empty(len(queries))

    def one(i: int) -> None:
        started = time.perf_counter()
        _, ids = vectors.search(queries[i : i + 1], k)
        times[i] = (time.perf_counter() - started) * 1000
        found[i] = ids[0]

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(len(queries))))
    wall = time.perf_counter() - started
    return {"found": found, "times": times, "qps": len(queries) / wall}


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)]))


def run_config(job: dict[str, Any], truth: np.ndarray) -> list[dict[str, Any]]:
    """In a fresh (spawned) process: regenerate the data from its seed, build one index, then sweep
    its search setting. Spawned, not forked: OpenMP's thread pool does not survive a fork."""
    import faiss

    from simmatch.index.vectors import AnnParams, VectorIndex

    base, queries = make_data(
        job["data"],
        job["n"],
        job["queries"],
        job["dim"],
        job["clusters"],
        job["seed"],
        job["spread"],
        job["real_dir"],
    )
    faiss.omp_set_num_threads(job["threads"])
    kind, k = job["kind"], job["k"]
    gc.collect()
    before = rss_mb()
    started = time.perf_counter()
    training = None
    if kind == "ivf":
        rng = np.random.default_rng(job["seed"])
        size = min(len(base), 50 * job["nlist"])
        training = base[np.sort(rng.choice(len(base), size=size, replace=False))]
    params = AnnParams(**job["params"])
    vectors = VectorIndex.empty(kind, base.shape[1], "cosine", params, training, nlist=job.get("nlist"))
    ids = np.arange(len(base), dtype=np.int64)
    for start in range(0, len(base), 100_000):
        vectors.add(ids[start : start + 100_000], base[start : start + 100_000])
    build_s = time.perf_counter() - started
    del training
    gc.collect()
    memory = rss_mb() - before
    rows = []
    for name, value in job["sweep"]:
        labels = dict(job["label"])
        if name is not None:
            vectors.params = AnnParams(**{**job["params"], name: value})
            labels[name.split("_", 1)[1]] = value
        result = timed_search(vectors, queries, k, job["clients"])
        setting = ", ".join(f"{key}={val}" for key, val in labels.items()) or "exact"
        rows.append(
            {
                "data": job["data"],
                "index": kind,
                "setting": setting,
                "build_s": round(build_s, 1),
                "rss_delta_mb": round(memory),
                "p50_ms": round(float(np.percentile(result["times"], 50)), 3),
                "p99_ms": round(float(np.percentile(result["times"], 99)), 3),
                "qps": round(result["qps"], 1),
                f"recall@{k}": round(recall(result["found"], truth), 4),
            }
        )
        print_row(rows[-1])
    return rows


def print_row(r: dict) -> None:
    recall_key = next(k for k in r if k.startswith("recall@"))
    print(
        f"| {r['data']} | {r['index']} | {r['setting']} | {r['build_s']} | {r['rss_delta_mb']} | "
        f"{r['p50_ms']} | {r['p99_ms']} | {r['qps']} | {r[recall_key]} |",
        flush=True,
    )


def exact_top_k(data: str, args: argparse.Namespace) -> np.ndarray:
    """Ground truth: exact inner-product top-k of every query (in its own process, like the rest)."""
    import faiss

    faiss.omp_set_num_threads(args.threads)
    base, queries = make_data(
        data, args.n, args.queries, args.dim, args.clusters, args.seed, args.cluster_noise, args.real_dir
    )
    exact = faiss.IndexFlatIP(args.dim)
    exact.add(base)
    return exact.search(queries, args.k)[1]


def jobs_for(data: str, args: argparse.Namespace, nlist: int) -> list[dict[str, Any]]:
    common = {
        "data": data,
        "n": args.n,
        "dim": args.dim,
        "queries": args.queries,
        "clusters": args.clusters,
        "spread": args.cluster_noise,
        "k": args.k,
        "threads": args.threads,
        "clients": args.clients,
        "seed": args.seed,
        "real_dir": args.real_dir,
    }
    jobs = [{**common, "kind": "flat", "params": {}, "label": {}, "sweep": [(None, None)]}]
    for m in ints(args.hnsw_m):
        params = {"hnsw_m": m, "hnsw_ef_construction": args.ef_construction}
        label = {"M": m, "efConstruction": args.ef_construction}
        sweep = [("hnsw_ef_search", ef) for ef in ints(args.ef_search)]
        jobs.append({**common, "kind": "hnsw", "params": params, "label": label, "sweep": sweep})
    if ints(args.ivf_nprobe):
        sweep = [("ivf_nprobe", p) for p in ints(args.ivf_nprobe)]
        jobs.append(
            {**common, "kind": "ivf", "params": {}, "label": {"nlist": nlist}, "sweep": sweep, "nlist": nlist}
        )
    return jobs


def write(report: dict[str, Any], out: Path) -> None:
    from simmatch._fs import atomic_file

    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(out) as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import faiss

    from simmatch.index.vectors import AnnParams, ivf_nlist

    nlist = args.ivf_nlist or ivf_nlist(args.n, AnnParams())
    report: dict[str, Any] = {
        "command": "python bench/index_scale/run.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "n": args.n,
        "dim": args.dim,
        "queries": args.queries,
        "k": args.k,
        "build_threads": args.threads,
        "search_clients": args.clients,
        "ivf_nlist": nlist,
        "clusters": args.clusters,
        "cluster_noise": args.cluster_noise,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "faiss": faiss.__version__,
        "host": machine(("faiss-cpu", "numpy")),
        "load_average_at_start": load_average(),
        "rows": [],
    }
    print("| data | index | setting | build s | RSS delta MB | p50 ms | p99 ms | QPS | recall@10 |")
    print("|---|---|---|---|---|---|---|---|---|")
    spawn = multiprocessing.get_context("spawn")
    for data in args.data.split(","):
        with spawn.Pool(1) as pool:
            truth = pool.apply(exact_top_k, (data, args))
        for job in jobs_for(data, args, nlist):
            with spawn.Pool(1) as pool:  # a fresh process per index: clean RSS, memory returned after
                report["rows"].extend(pool.apply(run_config, (job, truth)))
            write(report, args.out)  # after every index, so a long run that is stopped keeps its rows
    report["load_average_at_end"] = load_average()
    write(report, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
