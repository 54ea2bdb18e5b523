"""Scale-out benchmark (docs/scale.md): Ray embedding jobs, Milvus Lite vs the local store, and
Milvus's BM25 / RRF vs simmatch's on a derived retrieval task.

(a) throughput: ``--sentences`` distinct sentences from ../shared/data (``bench/index_scale``'s
    collection) embedded as passages with ``--model`` / ``--backend`` (onnx-int8), in-process with
    one thread and through ``simmatch.scale.embed_corpus`` on a local Ray with 1 and 2 actors of one
    thread each. Sentences/s over the whole call (Ray's start-up excluded: one ``ray.init`` and a
    64-sentence warm-up job first; each job's own overhead included), per core = sentences/s /
    cores used, efficiency = per-core rate / in-process per-core rate, and 2-actor speed-up over
    1 actor.
(b) stores: ``--vectors`` clustered unit vectors (or real e5 vectors, ``--data real``: made by
    ``bench/index_scale/embed_corpus.py``; the data come from ``bench/index_scale/run.py``'s
    ``make_data``) added with ``Index.add(vectors=...)`` to a local index (defaults: HNSW above its
    threshold) and to a Milvus Lite collection (HNSW M=16); insert/s, single-query dense search
    p50/p99 and recall@10 vs exact inner-product search.
(c) quality (``--quality``): LCQMC retrieval (``lcqmc_retrieval_task``), first ``--quality-queries``
    queries, corpus cut to ``--quality-corpus`` others plus the relevant ones; MRR@10 of bm25 and
    hybrid on both stores (quality, not timing).

Prints tables and writes JSON (``--out``); ``--write-doc`` fills ``--doc`` (docs/scale.md) between
its markers. Each unit (``embed``, each store of ``stores``, ``quality``) records its own command,
wall seconds and load; ``--merge`` keeps the units of an earlier ``--out`` that this run does not
measure, so units run in separate idle windows make one JSON and one table.

Expected wall time at full size on this machine (2 cores, idle; estimated from the code, from
docs/speed.md and docs/index_scale.md, and from smoke runs under load 5-7; under such load expect
2-3x):
- ``embed`` (200,000 sentences, all there are: 200,012 distinct, mean 18.5 characters): reading
  the benchmarks ~10 s; in-process 1 thread ~5-6 min (onnx-int8 ~600 sentences/s per core idle,
  280/s measured at load 5); Ray start + 64-sentence warm-up ~20 s; Ray 1 actor ~6 min, 2 actors
  ~3.5 min (each job adds ~2-4 s of its own: model probe, Ray Data start). About 15-17 min.
- ``stores --stores local`` (1M vectors): data + exact truth ~20 s; SQLite ~1-2 min; FAISS HNSW
  (M=32, efConstruction=100) grown over the 20 adds of 50k ~10-20 min (one 1M build took 1371 s
  at load 5-9 in docs/index_scale.md), plus the whole FAISS file (~1.8 GB at the end) saved after
  each add, ~2-4 min; 200 searches < 10 s. About 15-25 min, ~4 GB RSS.
- ``stores --stores milvus`` (Milvus Lite): the cost of each 50k add grows with the collection
  (smoke at load 7: 18-20 s for the first 50k, 44-54 s for the second; upsert and flush both grow,
  and ``insert`` instead of ``upsert`` is no faster), and RSS was 1.8 GB at 100k vectors. If that
  growth stays linear, 1M takes ~1.5 h under load (~45-60 min idle) and ~12 GB, and single-query
  search was 430 ms p50 at 100k (load 7), so 205 searches at 1M may add minutes. Run it alone,
  first at ``--vectors 200000`` (~5 min) to check the growth, then at the largest size that fits.
- ``quality`` (defaults: 200 queries, 5,000-sentence corpus): ~1-3 min.
So run the units in separate idle windows, each with ``--merge`` into the same ``--out``:

    nice -n 10 python bench/scale/run.py --parts embed --merge
    nice -n 10 python bench/scale/run.py --parts stores --stores local --merge
    nice -n 10 python bench/scale/run.py --parts stores --stores milvus --merge [--vectors 200000]
    nice -n 10 python bench/scale/run.py --parts quality --merge --write-doc
    python bench/scale/run.py --sentences 10 --vectors 1000 --queries 5 --quality-queries 5 \\
        --quality-corpus 50 --out /tmp/scale.json --write-doc --doc /tmp/scale.md   # smoke, ~1 min
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "index_scale"))
from _common import DATA_ROOT, ROOT, load_average, machine, write_section

HERE = Path(__file__).resolve()

PACKAGES = ("simmatch", "onnxruntime", "faiss-cpu", "bm25s", "numpy", "ray", "pymilvus", "milvus-lite")
STORE_LABELS = {"local": "local (SQLite + FAISS)", "milvus": "Milvus Lite"}
STORES = tuple(STORE_LABELS)
DOC_START, DOC_END = "<!-- bench:scale:start -->", "<!-- bench:scale:end -->"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", default="embed,stores,quality", help="comma-separated: embed, stores, quality")
    p.add_argument("--sentences", type=int, default=200_000)
    p.add_argument("--model", default="multilingual-e5-small")
    p.add_argument("--backend", default="onnx-int8")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--vectors", type=int, default=1_000_000)
    p.add_argument(
        "--stores", default="local,milvus", help="comma-separated: local, milvus (the stores part's stores)"
    )
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--data", default="clustered", choices=("clustered", "random", "real"))
    p.add_argument("--real-dir", type=Path, default=ROOT / "bench" / "out" / "real_vectors")
    p.add_argument("--quality-queries", type=int, default=200)
    p.add_argument("--quality-corpus", type=int, default=5000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "scale.json")
    p.add_argument("--write-doc", action="store_true", help="fill --doc between its markers")
    p.add_argument("--doc", type=Path, default=ROOT / "docs" / "scale.md", help="the page --write-doc fills")
    p.add_argument(
        "--merge",
        action="store_true",
        help="keep the parts of an earlier --out that this run does not measure (parts run in separate "
        "idle windows make one JSON and one table)",
    )
    args = p.parse_args(argv)
    unknown = set(args.parts.split(",")) - {"embed", "stores", "quality"}
    if unknown:
        p.error(f"unknown --parts {sorted(unknown)}")
    unknown = set(args.stores.split(",")) - set(STORES)
    if unknown:
        p.error(f"unknown --stores {sorted(unknown)}")
    if args.sentences < 10 or args.vectors < 1000 or args.queries < 1:
        p.error("--sentences must be >= 10, --vectors >= 1000, --queries >= 1")
    return args


# --- (a) throughput -------------------------------------------------------------------------


def corpus(n: int, seed: int) -> list[str]:
    import random

    from embed_corpus import distinct_sentences

    texts = distinct_sentences()
    if len(texts) < n:
        raise SystemExit(f"only {len(texts)} distinct sentences in {DATA_ROOT}; use --sentences <= that")
    random.Random(seed).shuffle(texts)
    return texts[:n]


def ray_session(tmp: Path) -> Any:
    import ray

    from simmatch.settings import cache_dir

    # HOME moves to a temporary folder (ray.init writes ~/.ray/auth_token); the model caches stay
    # where they are, or the driver and every worker would convert the built-in model again.
    os.environ.setdefault("SIMMATCH_CACHE", str(cache_dir()))
    os.environ.setdefault("HF_HOME", str(Path.home() / ".cache" / "huggingface"))
    os.environ.update(RAY_worker_niceness="0", RAY_USAGE_STATS_ENABLED="0", HOME=str(tmp / "home"))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])
    )
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, _temp_dir=str(tmp / "ray"))
    return ray


def throughput(args: argparse.Namespace, tmp: Path) -> list[dict[str, Any]]:
    from simmatch.models import Embedder
    from simmatch.scale import RayOptions, embed_corpus

    texts = corpus(args.sentences, args.seed)
    source = tmp / "corpus.jsonl"
    with open(source, "w", encoding="utf-8") as fh:
        for i, text in enumerate(texts):
            fh.write(json.dumps({"id": str(i), "text": text}, ensure_ascii=False) + "\n")
    rows = []
    embedder = Embedder(args.model, backend=args.backend, threads=1)
    embedder.encode(texts[:32], kind="passage")  # warm-up
    started = time.perf_counter()
    embedder.encode(texts, kind="passage", batch_size=args.batch_size)
    rows.append(_rate("in-process, 1 thread", len(texts), time.perf_counter() - started, 1))
    del embedder
    ray = ray_session(tmp)
    try:  # a small job first, so Ray's worker start-up is not charged to the 1-actor run
        warm = tmp / "warm.jsonl"
        warm.write_text("".join(source.read_text(encoding="utf-8").splitlines(True)[:64]), encoding="utf-8")
        embed_corpus(
            warm,
            tmp / "shards-warm",
            args.model,
            options=RayOptions(backend=args.backend),
            show_progress=False,
        )
        for actors in (1, 2):
            options = RayOptions(actors=actors, threads=1, backend=args.backend, batch_size=args.batch_size)
            started = time.perf_counter()
            embed_corpus(source, tmp / f"shards-{actors}", args.model, options=options, show_progress=False)
            rows.append(
                _rate(f"Ray, {actors} actor(s) x 1 thread", len(texts), time.perf_counter() - started, actors)
            )
    finally:
        ray.shutdown()
    base = rows[0]["per_core"]
    for row in rows:
        row["efficiency"] = round(row["per_core"] / base, 3)
        print(
            f"| {row['engine']} | {row['sentences_s']} | {row['per_core']} | {row['efficiency']} |",
            flush=True,
        )
    if len(rows) == 3:
        rows[2]["speedup_vs_1_actor"] = round(rows[2]["sentences_s"] / rows[1]["sentences_s"], 3)
    return rows


def _rate(engine: str, n: int, seconds: float, cores: int) -> dict[str, Any]:
    rate = n / seconds
    return {
        "engine": engine,
        "sentences": n,
        "seconds": round(seconds, 2),
        "cores": cores,
        "sentences_s": round(rate, 1),
        "per_core": round(rate / cores, 1),
    }


# --- (b) stores -------------------------------------------------------------------------------


def release_lite(location: str) -> None:
    """Stop the in-process Milvus Lite server of a ``.db`` (pymilvus keeps it, and its memory and
    background writers, until the process exits): before the next store is measured and before the
    temporary folder is removed (its writers would otherwise race ``rmtree``)."""
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_server(location.split("#", 1)[0])


class LookupEncoder:
    """An encoder for given vectors: a query text ``q<i>`` embeds as query vector i; anything
    else (the fingerprint text) as a fixed unit vector."""

    def __init__(self, queries: np.ndarray) -> None:
        self.queries, self.dim, self.model_name = queries, queries.shape[1], "bench-vectors"
        self.fixed = np.full(self.dim, 1 / np.sqrt(self.dim), dtype=np.float32)

    def encode(self, texts: Any, batch_size: int = 32, normalize: bool = True, kind: str = "passage") -> Any:
        single = isinstance(texts, str)
        rows = [
            self.queries[int(t[1:])] if t.startswith("q") else self.fixed
            for t in ([texts] if single else texts)
        ]
        out = np.stack(rows).astype(np.float32) if rows else np.zeros((0, self.dim), np.float32)
        return out[0] if single else out


def index_scale_make_data() -> Any:
    """``bench/index_scale/run.py``'s ``make_data`` (loaded by path: this script is also named ``run``);
    also used by ``lite_probe.py``."""
    import importlib.util

    source = HERE.parents[1] / "index_scale" / "run.py"
    spec = importlib.util.spec_from_file_location("index_scale_run", source)
    assert spec is not None and spec.loader is not None
    index_scale = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(index_scale)
    return index_scale.make_data


def close_store(index: Any, store: str, location: Any) -> None:
    """Close an index and, for Milvus Lite, stop its in-process server (``release_lite``)."""
    index.close()
    if store == STORE_LABELS["milvus"]:
        release_lite(str(location))


def store_rows(args: argparse.Namespace, tmp: Path, stores: list[str]) -> list[dict[str, Any]]:
    import faiss

    make_data = index_scale_make_data()
    from simmatch.index import Index
    from simmatch.index.encoders import FINGERPRINT_TEXT
    from simmatch.index.precomputed import Embeddings

    base, queries = make_data(
        args.data, args.vectors, args.queries, args.dim, 1000, args.seed, 0.6, args.real_dir
    )
    exact = faiss.IndexFlatIP(args.dim)
    exact.add(base)
    truth = exact.search(queries, 10)[1]
    del exact
    encoder = LookupEncoder(queries)
    fingerprint = encoder.encode([FINGERPRINT_TEXT])[0]
    rows = []
    locations = {"local": tmp / "local", "milvus": str(tmp / "milvus.db")}
    for store, location in ((STORE_LABELS[name], locations[name]) for name in stores):
        index = Index.create(location, encoder)
        started = time.perf_counter()
        for start in range(0, len(base), 50_000):
            chunk = base[start : start + 50_000]
            docs = [{"id": str(i), "text": f"v{i}"} for i in range(start, start + len(chunk))]
            index.add(
                docs,
                vectors=Embeddings(chunk, "bench-vectors", fingerprint),
                show_progress=False,
                batch_size=5000,
            )
        insert_s = time.perf_counter() - started
        # Searches run on a freshly opened index, as a service would (its start-up timed as open_s):
        # Milvus Lite searched ~4x slower in the process that had just written than after a reopen
        # (200k vectors: p50 ~140-220 ms vs ~57 ms, /tmp probes while writing bench/scale).
        close_store(index, store, location)
        started = time.perf_counter()
        index = Index.open(location, encoder)
        queries_text = [f"q{i}" for i in range(len(queries))]
        index.search_batch(queries_text[:5], top_k=10, mode="dense")  # warm-up (loads / builds)
        open_s = time.perf_counter() - started
        times, found = [], []
        for text in queries_text:
            started = time.perf_counter()
            hits = index.search(text, top_k=10, mode="dense")
            times.append((time.perf_counter() - started) * 1000)
            found.append([int(h.id) for h in hits])
        close_store(index, store, location)
        recall = float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth.tolist())]))
        row = {
            "store": store,
            "vectors": len(base),
            "data": args.data,
            "insert_s": round(insert_s, 1),
            "insert_per_s": round(len(base) / insert_s, 1),
            "open_s": round(open_s, 1),
            "p50_ms": round(float(np.percentile(times, 50)), 2),
            "p99_ms": round(float(np.percentile(times, 99)), 2),
            "recall@10": round(recall, 4),
        }
        print(
            f"| {store} | {row['vectors']} | {row['insert_per_s']} | {row['open_s']} | {row['p50_ms']} | "
            f"{row['p99_ms']} | "
            f"{row['recall@10']} |",
            flush=True,
        )
        rows.append(row)
    return rows


# --- (c) quality ------------------------------------------------------------------------------


def quality_rows(args: argparse.Namespace, tmp: Path) -> list[dict[str, Any]]:
    from simmatch.data.examples import RetrievalTask
    from simmatch.data.retrieval import lcqmc_retrieval_task
    from simmatch.evaluation.evaluators import RetrievalEvaluator
    from simmatch.index import Index, encoders
    from simmatch.index.precomputed import Embeddings
    from simmatch.models import Embedder

    task = lcqmc_retrieval_task("test", root=DATA_ROOT)
    qids = list(task.relevant)[: args.quality_queries]
    keep = {d for q in qids for d in task.relevant[q] | task.exclude.get(q, set())}
    keep.update(list(task.corpus)[: args.quality_corpus])
    task = RetrievalTask(
        name=task.name,
        queries={q: task.queries[q] for q in qids},
        corpus={d: t for d, t in task.corpus.items() if d in keep},
        relevant={q: task.relevant[q] for q in qids},
        exclude={q: task.exclude[q] for q in qids if q in task.exclude},
    )
    embedder = Embedder(args.model, backend="onnx")
    docs = [{"id": d, "text": t} for d, t in task.corpus.items()]
    model_name, dim = encoders.encoder_identity(embedder)
    vectors = Embeddings(  # encoded once, added to both stores
        encoders.encode(
            embedder, [d["text"] for d in docs], kind="passage", normalize=True, dim=dim, batch_size=64
        ),
        model_name,
        encoders.fingerprint(embedder, True, "passage", dim),
    )
    rows = []
    for store, location in (
        ("local (bm25s, simmatch RRF)", tmp / "q-local"),
        ("Milvus Lite", str(tmp / "q.db")),
    ):
        with Index.create(location, embedder) as index:
            index.add(docs, vectors=vectors, show_progress=False, batch_size=256)
            for mode in ("bm25", "dense", "hybrid"):

                def search(
                    queries: list[str], top_k: int, mode: str = mode, index: Any = index
                ) -> list[list[str]]:
                    return [
                        [h.id for h in hits] for hits in index.search_batch(queries, top_k=top_k, mode=mode)
                    ]

                metrics = RetrievalEvaluator(task, search)()
                row = {"store": store, "mode": mode, "queries": len(qids), "corpus": len(docs)}
                row.update({k: round(float(v), 4) for k, v in metrics.items()})
                print(f"| {store} | {mode} | {row['mrr@10']} | {row.get('recall@10', '-')} |", flush=True)
                rows.append(row)
        if store == "Milvus Lite":
            release_lite(str(location))
    return rows


# --- report -----------------------------------------------------------------------------------


PARTS = ("embed", "stores", "quality")
# What is measured, and recorded with its own command and load: a part, or one store of "stores".
UNITS = ("embed", *(f"stores:{name}" for name in STORES), "quality")
CONFIG = {  # the arguments each part's numbers depend on (recorded with the unit)
    "embed": ("sentences", "model", "backend", "batch_size", "seed"),
    "stores": ("vectors", "dim", "queries", "data", "seed"),
    "quality": ("quality_queries", "quality_corpus", "model"),
}


def units(args: argparse.Namespace) -> list[str]:
    parts, stores = args.parts.split(","), args.stores.split(",")
    chosen = {"embed", "quality"} & set(parts) | {f"stores:{s}" for s in stores if "stores" in parts}
    return [unit for unit in UNITS if unit in chosen]


def _run_line(run: dict[str, Any]) -> str:
    load = [(run[key] or ["-"])[0] for key in ("load_average_at_start", "load_average_at_end")]
    return f"`{run['command']}` ({run['seconds']} s; 1-min load {load[0]} at start, {load[1]} at end)"


def doc_lines(report: dict[str, Any]) -> list[str]:
    host, runs = report["machine"], report["runs"]
    lines = [DOC_START, f"Machine: {host['cpu']}, {host['cpus_usable']} usable CPUs."]
    if report.get("embed"):
        config = runs["embed"]["config"]
        lines += [
            "",
            f"Throughput ({config['sentences']} sentences, {config['model']} {config['backend']}), "
            f"{_run_line(runs['embed'])}:",
            "",
        ]
        lines += ["| engine | sentences/s | per core | efficiency vs in-process |", "|---|---|---|---|"]
        lines += [
            f"| {r['engine']} | {r['sentences_s']} | {r['per_core']} | {r['efficiency']} |"
            for r in report["embed"]
        ]
        two = [r for r in report["embed"] if "speedup_vs_1_actor" in r]
        if two:
            lines += ["", f"2 actors vs 1 actor: {two[0]['speedup_vs_1_actor']}×."]
    if report.get("stores"):
        measured = [(name, runs[f"stores:{name}"]) for name in STORES if f"stores:{name}" in runs]
        config = measured[0][1]["config"]
        lines += [
            "",
            f"Stores ({config['data']} vectors, d = {config['dim']}, {config['queries']} queries, "
            "single-query dense search); "
            + "; ".join(f"{STORE_LABELS[name]}: {_run_line(run)}" for name, run in measured)
            + ":",
            "",
        ]
        lines += [
            "| store | vectors | insert/s | open + warm-up s | p50 ms | p99 ms | recall@10 vs exact |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['store']} | {r['vectors']} | {r['insert_per_s']} | {r.get('open_s', '–')} | {r['p50_ms']} "
            f"| {r['p99_ms']} | {r['recall@10']} |"
            for r in report["stores"]
        ]
    if report.get("quality"):
        q = report["quality"][0]
        lines += [
            "",
            f"LCQMC retrieval, first {q['queries']} test queries, corpus {q['corpus']} sentences (quality), "
            f"{_run_line(runs['quality'])}:",
            "",
        ]
        lines += ["| store | mode | MRR@10 | Recall@10 |", "|---|---|---|---|"]
        lines += [
            f"| {r['store']} | {r['mode']} | {r['mrr@10']} | {r.get('recall@10', '-')} |"
            for r in report["quality"]
        ]
    lines.append(DOC_END)
    return lines


def write_doc(report: dict[str, Any], doc: Path) -> Path:
    return write_section(doc, doc_lines(report), DOC_START, DOC_END)


def earlier_units(out: Path, measured: list[str]) -> dict[str, Any]:
    """``--merge``: the rows and run records of the report at ``out`` for the units (a part, or
    one store) this run does not measure."""
    if not out.exists():
        return {"runs": {}}
    old = json.loads(out.read_text(encoding="utf-8"))
    if "runs" not in old:
        raise SystemExit(f"{out} was written before runs were recorded per part; run without --merge")
    kept = {unit: run for unit, run in old["runs"].items() if unit not in measured}
    report: dict[str, Any] = {"runs": kept}
    for part in ("embed", "quality"):
        if part in kept:
            report[part] = old[part]
    labels = {STORE_LABELS[unit.split(":", 1)[1]] for unit in kept if unit.startswith("stores:")}
    report["stores"] = [row for row in old.get("stores", []) if row["store"] in labels]
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    todo = units(args)
    host = machine(PACKAGES)
    command = "python bench/scale/run.py " + " ".join(sys.argv[1:] if argv is None else argv)
    report: dict[str, Any] = earlier_units(args.out, todo) if args.merge else {"runs": {}}
    report.setdefault("stores", [])
    headers = {
        "embed": "| engine | sentences/s | per core | efficiency |\n|---|---|---|---|",
        "stores": "| store | vectors | insert/s | open s | p50 ms | p99 ms | recall@10 |\n"
        + "|---" * 7
        + "|",
        "quality": "| store | mode | MRR@10 | Recall@10 |\n|---|---|---|---|",
    }
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as name:
        tmp = Path(name)
        for unit in todo:
            part, _, store = unit.partition(":")
            print(headers[part])
            run = {"command": command, "config": {k: getattr(args, k) for k in CONFIG[part]}}
            run["load_average_at_start"] = load_average()
            started = time.perf_counter()
            if part == "embed":
                report["embed"] = throughput(args, tmp)
            elif part == "stores":
                report["stores"] = [r for r in report["stores"] if r["store"] != STORE_LABELS[store]]
                report["stores"] += store_rows(args, tmp, [store])
            else:
                report["quality"] = quality_rows(args, tmp)
            run["seconds"] = round(time.perf_counter() - started, 1)
            run["load_average_at_end"] = load_average()
            report["runs"][unit] = run
    report["stores"].sort(key=lambda row: list(STORE_LABELS.values()).index(row["store"]))
    runs = {unit: report["runs"][unit] for unit in UNITS if unit in report["runs"]}
    report = {"machine": host, "runs": runs, **{k: v for k, v in report.items() if k != "runs"}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    if args.write_doc:
        print(f"wrote {write_doc(report, args.doc)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
