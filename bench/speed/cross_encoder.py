"""CPU inference speed and fidelity of the single tower (cross-encoder): sentence-transformers'
``CrossEncoder.predict`` fp32 and each simmatch ``PairClassifier`` backend, on the same cores and
the same weights, at each ``--layers`` depth.

Engines (each runs in its own subprocess pinned to the same ``--threads`` CPUs, as in run.py):

    st          ``CrossEncoder(model).predict(pairs, batch_size=32)``, fp32 (rerank: predict, then sort)
    torch       ``PairClassifier(model, backend="torch")``       (simmatch, PyTorch fp32)
    onnx        ``PairClassifier(model, backend="onnx")``        (onnxruntime fp32)
    onnx-int8   ``PairClassifier(model, backend="onnx-int8")``   (onnxruntime dynamic int8)

Model: ``--cross-encoder NAME_OR_DIR`` (a built-in name such as ``relevance-zh``, or a directory;
``PairClassifier`` resolves either); without it, a cross-encoder built from the built-in e5 base
(``PairClassifier.create("multilingual-e5-small", ["0", "1", "2"])`` with ``torch.manual_seed(0)``,
an untrained 3-label head: its speed is a real cross-encoder's, its labels are not) saved under
the simmatch cache. Fewer layers: ``simmatch.models.prune_layers`` (the first N), saved beside it.

Data (``../shared/data/qbqtc/test_public.json``, file order): the first ``--pairs`` (query, title)
pairs; for reranking, the first ``--queries`` distinct queries, each with ``--candidates`` titles
(its own titles first, then the titles that follow in the file).

Measured per engine and depth: pairs/s over the pairs with batch size 32; rerank latency (one
query and its candidates per call, ``rank``; p50 / p90 ms after 3 warm-up calls); GFLOP/s of
useful work (run.py's formula over each pair's token count); peak RSS. Fidelity against
simmatch's torch fp32 on the same pairs: label agreement and the mean / max absolute difference
of the per-label probabilities (softmax; a regression head's ``sigmoid`` as two labels). A row
FAILs below ``MIN_AGREEMENT`` or above ``MAX_MEAN_ABS_DIFF``.

Standalone (prints the tables, writes bench/out/speed_cross_encoder.json):
    python bench/speed/cross_encoder.py --threads 2
Quick check that it works:
    python bench/speed/cross_encoder.py --pairs 50 --queries 3 --layers 2
``bench/speed/run.py`` runs this section after the embedder's, in the same run, into docs/speed.md.
"""

from __future__ import annotations

import argparse
import hashlib
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from measure import peak_rss_mb, transformer_flops

from _common import DATA_ROOT, OUT, load_average, qbqtc_workload

ENGINES = ("st", "torch", "onnx", "onnx-int8")
BATCH = 32
MIN_AGREEMENT = 0.995
MAX_MEAN_ABS_DIFF = 0.02
# Target (issue 12): onnx-int8 >= 2.5x st pairs/s at 2 threads; rerank p50 <= 150 ms.
TARGET_RATIO = 2.5
TARGET_RERANK_MS = 150.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("cross-encoder")
    g.add_argument(
        "--cross-encoder",
        default=None,
        help="cross-encoder: built-in name (e.g. relevance-zh) or directory (default: built from e5)",
    )
    g.add_argument("--ce-engines", default=",".join(ENGINES), help=f"comma-separated: {', '.join(ENGINES)}")
    g.add_argument("--layers", default="12,6", help="encoder depths to measure (first N layers kept)")
    g.add_argument("--pairs", type=int, default=2000, help="QBQTC test_public pairs timed")
    g.add_argument("--queries", type=int, default=100, help="rerank calls timed")
    g.add_argument("--candidates", type=int, default=50, help="titles per rerank call")


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    engines = [e.strip() for e in args.ce_engines.split(",") if e.strip()]
    unknown = [e for e in engines if e not in ENGINES]
    if unknown or "torch" not in engines:
        parser.error(f"--ce-engines: choose from {', '.join(ENGINES)}; 'torch' (the reference) is required")
    args.ce_engine_list = engines
    try:
        args.layer_list = [int(x) for x in str(args.layers).split(",") if x.strip()]
    except ValueError:
        parser.error(f"--layers must be integers separated by commas, got {args.layers!r}")
    if not args.layer_list or min(args.layer_list) < 1:
        parser.error("--layers: each depth must be >= 1")
    for name in ("pairs", "queries", "candidates"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")


# ---------------------------------------------------------------------------------------- models
def prepare_models(source: str | None, depths: list[int]) -> tuple[dict[int, str], str]:
    """{depth: model dir} and a note on where the model came from. Built once, cached."""
    import torch

    from simmatch.models import PairClassifier, prune_layers
    from simmatch.settings import cache_dir

    root = cache_dir() / "bench" / "cross-encoder"
    if source is None:
        base = root / "e5-small-3label-seed0"
        note = (
            "built from the built-in e5 base with a fresh 3-label head (seed 0, untrained: real "
            "speed, meaningless labels)"
        )
        if not (base / "simmatch.json").is_file():
            torch.manual_seed(0)
            PairClassifier.create("multilingual-e5-small", ["0", "1", "2"], device="cpu").save(base)
    else:  # a built-in name or a directory, resolved as PairClassifier resolves it
        from simmatch.models.registry import builtin_name, resolve_model

        base = Path(resolve_model(source))
        note = f"`{source}`" + (f" (built-in, at `{base}`)" if builtin_name(source) else "")
    full = json.loads((base / "config.json").read_text())["num_hidden_layers"]
    key = hashlib.sha256(str(base.resolve()).encode()).hexdigest()[:12]
    paths = {}
    for depth in depths:
        if depth >= full:
            paths[depth] = str(base)
            continue
        out = root / f"{base.name}-{key}-first{depth}"
        if not (out / "simmatch.json").is_file():
            prune_layers(str(base), depth, device="cpu").save(out)
        paths[depth] = str(out)
    return paths, note


# ---------------------------------------------------------------------------------------- worker
def _load(engine: str, path: str, threads: int) -> tuple[Any, Any]:
    """(pairs -> logits (n, labels), rank(query, titles))."""
    if engine == "st":
        import torch
        from sentence_transformers import CrossEncoder

        torch.set_num_threads(threads)
        model = CrossEncoder(path, device="cpu")
        identity = torch.nn.Identity()

        def logits(pairs: list) -> np.ndarray:
            out = model.predict(pairs, batch_size=BATCH, activation_fn=identity, show_progress_bar=False)
            return np.asarray(out, dtype=np.float32).reshape(len(pairs), -1)

        def rank(query: str, titles: list[str]) -> list[int]:
            # CrossEncoder.rank takes one-output models only: predict, then order by the last
            # label's logit (ranking costs the same forward pass).
            return np.argsort(-logits([(query, t) for t in titles])[:, -1], kind="stable").tolist()

        return logits, rank
    from simmatch.models import PairClassifier

    if engine == "torch":  # the ONNX backends never import PyTorch; do not charge them for it
        import torch

        torch.set_num_threads(threads)
    clf = PairClassifier(path, backend=engine, device="cpu")
    return (
        lambda pairs: clf.logits(pairs, batch_size=BATCH, show_progress=False),
        lambda q, titles: clf.rank(q, titles, batch_size=BATCH),
    )


def run_worker(engine: str, job_file: Path) -> None:
    job = json.loads(job_file.read_text(encoding="utf-8"))
    threads = int(job["threads"])
    os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:threads]))
    t0 = time.perf_counter()
    logits, rank = _load(engine, job["model_path"], threads)
    load_s = time.perf_counter() - t0
    pairs = [tuple(p) for p in job["pairs"]]
    logits(pairs[:BATCH])  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    out = logits(pairs)
    pairs_s, pairs_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    jobs = job["rerank"]
    for query, titles in jobs[:3]:
        rank(query, titles)
    times = []
    for query, titles in jobs:
        t0 = time.perf_counter()
        rank(query, titles)
        times.append((time.perf_counter() - t0) * 1000)
    np.save(job_file.with_name(f"{engine}-logits.npy"), out)
    result = {
        "pairs_s": pairs_s,
        "pairs_cpu_s": pairs_cpu_s,
        "rerank_ms_p50": statistics.median(times),
        "rerank_ms_p90": float(np.percentile(times, 90)),
        "peak_rss_mb": peak_rss_mb(),
        "load_s": load_s,
    }
    job_file.with_name(f"{engine}.json").write_text(json.dumps(result), encoding="utf-8")


# ---------------------------------------------------------------------------------------- parent
def probabilities(logits: np.ndarray) -> np.ndarray:
    """Per-label probabilities: softmax, or a one-output head's sigmoid as (1 - s, s)."""
    logits = logits.astype(np.float64)
    if logits.shape[1] == 1:
        s = 1.0 / (1.0 + np.exp(-logits[:, 0]))
        return np.stack([1.0 - s, s], axis=1)
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def fidelity(ref_logits: np.ndarray, logits: np.ndarray) -> dict[str, Any]:
    ref, got = probabilities(ref_logits), probabilities(logits)
    diff = np.abs(ref - got)
    agreement = float((ref.argmax(axis=1) == got.argmax(axis=1)).mean())
    mean_diff = float(diff.mean())
    ok = agreement >= MIN_AGREEMENT and mean_diff <= MAX_MEAN_ABS_DIFF
    return {
        "agreement": agreement,
        "prob_mean_abs_diff": mean_diff,
        "prob_max_abs_diff": float(diff.max()),
        "fidelity": "ok" if ok else "FAIL",
    }


def _flops(path: str, pairs: list, jobs: list) -> tuple[float, float]:
    """Useful FLOPs of all pairs, and of one rerank call on average."""
    from transformers import AutoConfig, AutoTokenizer

    from simmatch.models.pair_classifier import encode_pairs

    config = AutoConfig.from_pretrained(path).to_dict()
    tokenizer = AutoTokenizer.from_pretrained(path)
    limit = min(512, int(config.get("max_position_embeddings", 512)))
    counts = [len(x) for x in encode_pairs(tokenizer, pairs, limit)[0]]
    rerank_pairs = [(q, t) for q, titles in jobs for t in titles]
    rerank_counts = [len(x) for x in encode_pairs(tokenizer, rerank_pairs, limit)[0]]
    return transformer_flops(counts, config), transformer_flops(rerank_counts, config) / len(jobs)


def run_depth(engines: list[str], threads: int, path: str, pairs: list, jobs: list) -> list[dict[str, Any]]:
    """Every engine in its own worker pinned to ``threads`` CPUs; rows with fidelity vs torch."""
    if any(e.startswith("onnx") for e in engines):  # export and quantize before any timing
        from simmatch.models import PairClassifier

        for engine in engines:
            if engine.startswith("onnx"):
                PairClassifier(path, backend=engine)
    flops, rerank_flops = _flops(path, pairs, jobs)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="simmatch-speed-ce-") as tmp:
        job = Path(tmp) / "job.json"
        payload = {"model_path": path, "threads": threads, "pairs": pairs, "rerank": jobs}
        job.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        env["TOKENIZERS_PARALLELISM"] = "false"
        for engine in engines:
            print(f"cross-encoder: {engine}, {path}, {threads} thread(s) ...", file=sys.stderr, flush=True)
            cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", engine, "--job", str(job)]
            subprocess.run(cmd, check=True, env=env)
            results[engine] = json.loads((Path(tmp) / f"{engine}.json").read_text())
            results[engine]["logits"] = np.load(Path(tmp) / f"{engine}-logits.npy")
    reference = results.get("st", results["torch"])
    rows = []
    for engine in engines:
        r = results[engine]
        rows.append(
            {
                "engine": engine,
                "pairs_per_s": len(pairs) / r["pairs_s"],
                "pairs_per_cpu_s": len(pairs) / r["pairs_cpu_s"],
                "ratio_vs_st": reference["pairs_s"] / r["pairs_s"] if "st" in results else None,
                "gflops": flops / r["pairs_s"] / 1e9,
                "rerank_ms_p50": r["rerank_ms_p50"],
                "rerank_ms_p90": r["rerank_ms_p90"],
                "rerank_gflops": rerank_flops / (r["rerank_ms_p50"] / 1000) / 1e9,
                "peak_rss_mb": r["peak_rss_mb"],
                "load_s": r["load_s"],
                **fidelity(results["torch"]["logits"], r["logits"]),
            }
        )
    return rows


def run(args: argparse.Namespace, threads_list: list[int]) -> dict[str, Any]:
    """The cross-encoder section: every depth at every thread count."""
    pairs, jobs = qbqtc_workload(args.data_root, args.pairs, args.queries, args.candidates)
    paths, note = prepare_models(args.cross_encoder, args.layer_list)
    runs = []
    for threads in threads_list:
        for depth in args.layer_list:
            before = load_average()
            rows = run_depth(args.ce_engine_list, threads, paths[depth], pairs, jobs)
            runs.append(
                {
                    "threads": threads,
                    "layers": depth,
                    "model_path": paths[depth],
                    "load_avg_before": before,
                    "load_avg_after": load_average(),
                    "rows": rows,
                }
            )
    return {
        "model_note": note,
        "pairs": len(pairs),
        "queries": len(jobs),
        "candidates": args.candidates,
        "runs": runs,
    }


def format_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| engine | pairs/s | × st | GFLOP/s | rerank ms p50 / p90 | rerank GFLOP/s | label agreement | "
        "prob. mean / max abs diff | peak RSS MB | fidelity |",
        "|" + "---|" * 10,
    ]
    for r in rows:
        ratio = "—" if r["ratio_vs_st"] is None else f"{r['ratio_vs_st']:.2f}"
        lines.append(
            f"| {r['engine']} | {r['pairs_per_s']:.1f} | {ratio} | {r['gflops']:.0f} | "
            f"{r['rerank_ms_p50']:.1f} / {r['rerank_ms_p90']:.1f} | {r['rerank_gflops']:.0f} | "
            f"{r['agreement'] * 100:.2f} % | {r['prob_mean_abs_diff']:.4f} / {r['prob_max_abs_diff']:.4f} | "
            f"{r['peak_rss_mb']:.0f} | {r['fidelity']} |"
        )
    return "\n".join(lines)


UNTRAINED_CAVEAT = (
    "The head is untrained, so its probabilities barely depend on the input and the fidelity "
    "columns say little here; pass `--cross-encoder NAME_OR_DIR` (a trained model, e.g. `relevance-zh`) "
    "for a fidelity verdict that counts.\n"
)


def render_section(section: dict[str, Any]) -> str:
    tables = "\n".join(
        f"### {run['layers']} layers, {run['threads']} thread(s)\n\n"
        f"Model `{run['model_path']}`. Load average (1 min) before "
        f"{run['load_avg_before'][0]:.2f}, after {run['load_avg_after'][0]:.2f}.\n\n"
        f"{format_table(run['rows'])}\n"
        for run in section["runs"]
    )
    return f"""## Cross-encoder (PairClassifier)

Model: {section["model_note"]}. Throughput on the first {section["pairs"]} QBQTC test_public
(query, title) pairs, batch size {BATCH}; rerank latency: one query with {section["candidates"]}
candidate titles per call, p50 / p90 over {section["queries"]} queries. Fidelity against simmatch's
torch fp32: label agreement and mean / max absolute difference of the per-label probabilities; a
row FAILs below {MIN_AGREEMENT * 100:.1f} % agreement or above {MAX_MEAN_ABS_DIFF} mean difference.
Targets: onnx-int8 ≥ {TARGET_RATIO}× `st` pairs/s at 2 threads; rerank p50 ≤ {TARGET_RERANK_MS:.0f} ms.
{UNTRAINED_CAVEAT if section["model_note"].startswith("built") else ""}

{tables}"""


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--threads", default="2", help="CPUs every engine is pinned to (comma-separated list)"
    )
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT)
    parser.add_argument("--out", type=Path, default=OUT / "speed_cross_encoder.json")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--job", type=Path, default=None, help=argparse.SUPPRESS)
    add_arguments(parser)
    args = parser.parse_args(argv)
    if args.worker:
        run_worker(args.worker, args.job)
        return {}
    check_arguments(parser, args)
    threads = [int(t) for t in args.threads.split(",") if t.strip()]
    if not threads or not all(1 <= t <= len(os.sched_getaffinity(0)) for t in threads):
        parser.error(f"--threads {args.threads}: each value must be between 1 and the CPUs available")
    section = run(args, threads)
    for r in section["runs"]:
        print(f"\n{r['layers']} layers, {r['threads']} thread(s)\n{format_table(r['rows'])}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(section, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return section


if __name__ == "__main__":
    main()
