"""Load benchmark of the HTTP service against the library called in-process.

1. Starts the service (``python -m simmatch.service``, uvicorn, one process) on a free loopback
   port with --model (default the built-in multilingual-e5-small) and an API key.
2. For each endpoint (/v1/embeddings with base64 output, as the openai client asks; /similarity),
   --clients concurrent clients send requests back to back for --duration seconds. Each request
   carries --per-request short Chinese texts (or pairs) from LCQMC test.tsv, in file order.
   Records requests/s, p50/p99 latency, errors, the server's mean model batch size and the share
   of the time its model worker spent in model calls (below 1: it waited between calls).
3. Runs the library in this process on the same requests, merged the way the service's batcher
   merges them at full load (as many whole requests per model call as fit in its
   max_batch_size of 64 items), for the same duration, and reports the service's throughput as
   a fraction of it. The two sides alternate in --slice second slices.
4. Server RSS after warm-up and at the end.

Prints a table and writes bench/out/serve.json. The service and the load generator share the
machine's cores (and, on a shared machine, so do other jobs): the JSON records the load average.

Two more scenarios (``scenarios.py``) check that one request cannot stall the service:

- ``--scenario stall``: --clients light clients (--per-request texts each, /v1/embeddings) for
  --duration seconds alone, then as long again beside one client sending, back to back, the
  heaviest request the limits admit (texts of --heavy-chars characters up to the service's
  max_tokens_per_request); light p50/p99 in both phases (target: p99 under 2 s with the heavy
  client), and the issue's original request (240 texts of ~8,000 characters), which must be
  refused at once. Writes bench/out/serve_stall.json.
- ``--scenario shutdown``: --clients requests of --backlog-texts texts each queue up until the
  estimated drain time passes --grace, then SIGTERM: every request must get a 200 or the JSON 503
  with Retry-After, and the process must exit within --grace. Writes bench/out/serve_shutdown.json.

``--scenario rerank`` (``rerank.py``, issue 12) times reranking, one query at a time: --queries
QBQTC test_public queries, each with --candidates titles (bench/_common.qbqtc_workload, the
workload of bench/speed's rerank rows), through ``PairClassifier(--cross-encoder, backend=--backend)``
``.rank`` in this process (default relevance-zh on fp32 onnx: it fails the int8 fidelity guard;
the library's default threads), then
as ``POST /rerank`` requests sent one after another by one client to the service started with the
same cross-encoder and backend (--rounds passes of each side, alternating, after 3 warm-up calls
each). Prints p50/p90 ms of both sides and the verdict (target: the service's p50 within 15 % of
the in-process p50); the service's scores must equal the in-process ones (within rounding) or the
run fails. Writes bench/out/serve_rerank.json.

    python bench/serve/run.py                        # full run: 60 s per endpoint and side
    python bench/serve/run.py --duration 10          # quick
    python bench/serve/run.py --scenario stall --duration 30
    python bench/serve/run.py --scenario shutdown --grace 5
    python bench/serve/run.py --scenario rerank              # 100 queries x 50 candidates
    python bench/serve/run.py --scenario rerank --queries 5  # smoke test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from simmatch.models.backends import BACKENDS

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from client import (
    PATHS,
    batch_stats,
    cpu_seconds,
    free_port,
    load,
    load_pairs,
    make_requests,
    rss_mib,
    start_server,
    wait_ready,
    worker_busy_seconds,
)

from _common import DATA_ROOT, ROOT, load_average, machine

ENDPOINTS = ("embeddings", "similarity")
SCENARIOS = ("throughput", "stall", "shutdown", "rerank")
MAX_BATCH = 64  # the service default (BatchingSettings.max_batch_size)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="multilingual-e5-small", help="embedding model (name or directory)")
    p.add_argument(
        "--cross-encoder",
        default=None,
        help="PairClassifier name or directory (default: cosine; rerank: relevance-zh)",
    )
    p.add_argument("--duration", type=float, default=60.0, help="seconds of load per endpoint and side")
    p.add_argument("--clients", type=int, default=16, help="concurrent clients")
    p.add_argument("--per-request", type=int, default=4, help="texts (or pairs) per request")
    p.add_argument("--endpoints", default=",".join(ENDPOINTS), help="comma-separated: embeddings, similarity")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of load before measuring")
    p.add_argument(
        "--slice",
        type=float,
        default=5.0,
        help="the two sides alternate in slices of this many seconds, so a change in the machine's "
        "other load hits both alike",
    )
    p.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="torch intra-op threads on both sides (default: torch's choice, one per core)",
    )
    p.add_argument("--data-root", type=Path, default=DATA_ROOT)
    p.add_argument(
        "--scenario",
        choices=SCENARIOS,
        default="throughput",
        help="throughput: service vs library (above); stall: --clients light clients with and "
        "without one client sending the heaviest request the limits admit, light p50/p99 (target "
        "p99 < 2 s); shutdown: SIGTERM with more queued work than --grace, every waiting request "
        "must get the JSON 503 with Retry-After and the process exit within --grace; rerank: one "
        "query with its candidates per call, in-process vs POST /rerank, p50 (target: service within "
        "15 %%)",
    )
    p.add_argument(
        "--heavy-chars", type=int, default=500, help="stall: characters per text of the heavy request"
    )
    p.add_argument(
        "--heavy-tokens",
        type=int,
        default=None,
        help="stall: tokens of the heavy request (default: the service's max_tokens_per_request)",
    )
    p.add_argument("--grace", type=float, default=5.0, help="shutdown: the service's --shutdown-grace-s")
    p.add_argument(
        "--backlog-texts", type=int, default=64, help="shutdown: texts per queued request (one per client)"
    )
    p.add_argument(
        "--backend",
        default=None,
        choices=BACKENDS,
        help="rerank: the cross-encoder's backend on both sides (default onnx)",
    )
    p.add_argument("--queries", type=int, default=100, help="rerank: queries (one call each, per round)")
    p.add_argument("--candidates", type=int, default=50, help="rerank: candidate titles per query")
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="rerank: passes over the queries, each side in turn (in-process, then service)",
    )
    p.add_argument(
        "--server-args", default="", help="more flags for the service, e.g. '--max-batch-tokens 1024'"
    )
    p.add_argument(
        "--out", type=Path, default=None, help="JSON report (default bench/out/serve[_SCENARIO].json)"
    )
    args = p.parse_args(argv)
    if args.out is None:
        suffix = "" if args.scenario == "throughput" else f"_{args.scenario}"
        args.out = ROOT / "bench" / "out" / f"serve{suffix}.json"
    args.endpoints = [e.strip() for e in args.endpoints.split(",") if e.strip()]
    unknown = set(args.endpoints) - set(ENDPOINTS)
    if unknown:
        p.error(f"unknown endpoint(s): {', '.join(sorted(unknown))}")
    if args.backend is not None and args.scenario != "rerank":
        p.error("--backend applies to --scenario rerank only (pass --server-args '--backend ...')")
    for name in ("clients", "per_request", "queries", "candidates", "rounds"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


# ---------------------------------------------------------------------------- in-process
def inprocess(
    endpoint: str, requests: list[dict[str, Any]], group: int, seconds: float, emb, clf, offset: int = 0
) -> dict:
    """The library on the same requests, ``group`` requests merged per model call (what the
    batcher forms at full load), cycling through the requests from ``offset`` for ``seconds``."""
    done = 0
    calls = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        start = (offset + done) % len(requests)
        chunk = requests[start : start + group] or requests[:group]
        if endpoint == "embeddings":
            texts = [t for r in chunk for t in r["input"]]
            emb.encode(texts, kind="query", batch_size=MAX_BATCH)
        elif clf is not None:
            clf.predict([tuple(p) for r in chunk for p in r["pairs"]], batch_size=MAX_BATCH)
        else:
            pairs = [p for r in chunk for p in r["pairs"]]
            vecs = emb.encode(
                [a for a, _ in pairs] + [b for _, b in pairs], kind="query", batch_size=MAX_BATCH
            )
            np.einsum("ij,ij->i", vecs[: len(pairs)], vecs[len(pairs) :])
        done += len(chunk)
        calls += 1
    return {"requests": done, "model_calls": calls, "seconds": time.perf_counter() - t0}


def check_numbers(base: str, headers: dict[str, str], request: dict[str, Any], emb) -> float:
    """Max |service - library| over one embeddings request's vectors."""
    import base64

    import httpx

    r = httpx.post(f"{base}/v1/embeddings", json=request, headers=headers, timeout=60).json()
    got = np.stack([np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4") for d in r["data"]])
    return float(np.abs(got - emb.encode(request["input"], kind="query")).max())


# ---------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.scenario == "rerank":
        import rerank

        return rerank.run(args, sys.argv[1:] if argv is None else argv)
    if args.scenario != "throughput":
        import scenarios

        return scenarios.run(args, sys.argv[1:] if argv is None else argv)
    return throughput(args, argv)


def throughput(args: argparse.Namespace, argv: list[str] | None) -> int:
    pairs = load_pairs(args.data_root)
    requests = {e: make_requests(pairs, e, args.per_request) for e in args.endpoints}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api_key = secrets.token_urlsafe(16)
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    load_start = load_average()
    print(f"starting the service on {base} with {args.model} ...", flush=True)
    proc = start_server(args, port, api_key)
    results: dict[str, Any] = {}
    try:
        wait_ready(base, proc)
        from simmatch.models import Embedder, PairClassifier

        if args.torch_threads:
            import torch

            torch.set_num_threads(args.torch_threads)
        emb = Embedder(args.model, device="cpu")
        clf = PairClassifier(args.cross_encoder, device="cpu") if args.cross_encoder else None
        for endpoint in args.endpoints:  # warm up both sides
            bodies = [json.dumps(r, ensure_ascii=False).encode() for r in requests[endpoint]]
            asyncio.run(load(base, headers, PATHS[endpoint], bodies, args.clients, args.warmup))
        rss_start = rss_mib(proc.pid)
        max_diff = (
            check_numbers(base, headers, requests["embeddings"][0], emb) if "embeddings" in requests else None
        )
        rss_series = [round(rss_start, 1)]
        for endpoint in args.endpoints:
            bodies = [json.dumps(r, ensure_ascii=False).encode() for r in requests[endpoint]]
            # Items one request puts in the model's queue; the batcher caps a model call at
            # MAX_BATCH items, so the library side merges as many requests as fit in one call.
            items_per_request = args.per_request * (2 if endpoint == "similarity" and clf is None else 1)
            group = max(1, min(args.clients, MAX_BATCH // items_per_request))
            before = batch_stats(base)
            print(
                f"{endpoint}: {args.duration:.0f} s per side, alternating {args.slice:.0f} s slices "
                f"(service with {args.clients} clients / in-process) ...",
                flush=True,
            )
            latencies: list[float] = []
            errors: dict[str, int] = {}
            elapsed = local_s = 0.0
            server_cpu = client_cpu = local_cpu = worker_busy = 0.0
            local_done = local_calls = sent = 0
            while elapsed < args.duration:
                span = min(args.slice, args.duration - elapsed)
                w0 = worker_busy_seconds(base)
                s0, c0 = cpu_seconds(proc.pid), time.process_time()
                lat, err, took, n = asyncio.run(
                    load(base, headers, PATHS[endpoint], bodies, args.clients, span, offset=sent)
                )
                server_cpu += cpu_seconds(proc.pid) - s0
                worker_busy += worker_busy_seconds(base) - w0
                client_cpu += time.process_time() - c0
                latencies += lat
                for key, count in err.items():
                    errors[key] = errors.get(key, 0) + count
                elapsed += took
                sent += n
                rss_series.append(round(rss_mib(proc.pid), 1))
                c0 = time.process_time()
                local = inprocess(endpoint, requests[endpoint], group, span, emb, clf, offset=local_done)
                local_cpu += time.process_time() - c0
                local_done += local["requests"]
                local_calls += local["model_calls"]
                local_s += local["seconds"]
            after = batch_stats(base)
            name = "pairs" if (endpoint == "similarity" and args.cross_encoder) else "embed-query"
            batches = after[name]["batches"] - before[name]["batches"]
            items = after[name]["items"] - before[name]["items"]
            local = {"rps": local_done / local_s, "model_calls": local_calls}
            lat_ms = np.array(latencies) * 1000 if latencies else np.array([float("nan")])
            rps = len(latencies) / elapsed
            results[endpoint] = {
                "path": PATHS[endpoint],
                "requests_ok": len(latencies),
                "errors": sum(errors.values()),
                "error_kinds": errors,
                "seconds": round(elapsed, 2),
                "rps": round(rps, 2),
                "items_per_s": round(rps * args.per_request, 1),
                "p50_ms": round(float(np.percentile(lat_ms, 50)), 1),
                "p99_ms": round(float(np.percentile(lat_ms, 99)), 1),
                "server_model_calls": batches,
                "server_mean_batch": round(items / batches, 1) if batches else None,
                # The share of the service's time its model worker spent in model calls: below 1,
                # the worker waited between calls.
                "server_worker_busy": round(worker_busy / elapsed, 3),
                "inprocess_rps": round(local["rps"], 2),
                "inprocess_model_calls": local["model_calls"],
                "inprocess_batch": group * items_per_request,
                "service_vs_inprocess": round(rps / local["rps"], 3),
                # CPU time per request: less sensitive than wall time to the machine's other load.
                "server_cpu_ms_per_request": round(1000 * server_cpu / max(len(latencies), 1), 1),
                "client_cpu_ms_per_request": round(1000 * client_cpu / max(len(latencies), 1), 1),
                "inprocess_cpu_ms_per_request": round(1000 * local_cpu / max(local_done, 1), 1),
                "cpu_efficiency": round(
                    (local_cpu / max(local_done, 1)) / (server_cpu / max(len(latencies), 1)), 3
                ),
            }
        rss_end = rss_mib(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    report = {
        "command": "python bench/serve/run.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "model": args.model,
        "cross_encoder": args.cross_encoder,
        "clients": args.clients,
        "per_request": args.per_request,
        "duration_s": args.duration,
        "slice_s": args.slice,
        "torch_threads": args.torch_threads or "default",
        "data": "lcqmc/test.tsv (file order)",
        "machine": {**machine(), "loadavg_start": load_start, "loadavg_end": load_average()},
        "service_minus_library_max_abs": max_diff,
        "rss_mib": {
            "start": round(rss_start, 1),
            "end": round(rss_end, 1),
            "growth_pct": round(100 * (rss_end - rss_start) / rss_start, 2),
            "after_each_service_slice": rss_series,
        },
        "endpoints": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print_table(report)
    print(f"wrote {args.out}")
    return 0


def print_table(report: dict[str, Any]) -> None:
    head = (
        f"{'endpoint':<12} {'req/s':>7} {'in-proc':>7} {'ratio':>6} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'errors':>6} {'batch':>6} {'cpu ms/req':>10} {'in-proc':>7} {'cpu eff':>7}"
    )
    print()
    print(f"{report['model']}, {report['clients']} clients, {report['per_request']} per request, "
          f"{report['duration_s']:.0f} s per side")  # fmt: skip
    print(head)
    for name, r in report["endpoints"].items():
        print(
            f"{name:<12} {r['rps']:>7.1f} {r['inprocess_rps']:>7.1f} {r['service_vs_inprocess']:>6.2f} "
            f"{r['p50_ms']:>7.1f} {r['p99_ms']:>7.1f} {r['errors']:>6d} {r['server_mean_batch'] or 0:>6.1f} "
            f"{r['server_cpu_ms_per_request']:>10.1f} {r['inprocess_cpu_ms_per_request']:>7.1f} "
            f"{r['cpu_efficiency']:>7.2f}"
        )
    for name, r in report["endpoints"].items():
        print(f"{name}: the model worker was busy {100 * r['server_worker_busy']:.0f}% of the service's time")
    rss = report["rss_mib"]
    print(
        f"server RSS: {rss['start']:.0f} MiB after warm-up, {rss['end']:.0f} MiB at the end "
        f"({rss['growth_pct']:+.1f}%)"
    )
    m = report["machine"]
    print(
        f"load average: {m['loadavg_start'][0]:.2f} at start, {m['loadavg_end'][0]:.2f} at end "
        f"({m['cpus_online']} CPUs)"
    )


if __name__ == "__main__":
    raise SystemExit(main())
