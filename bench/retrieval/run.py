"""Retrieval benchmark of ``simmatch.index`` on tasks derived from QBQTC and LCQMC.

For each task (``simmatch.data.qbqtc_retrieval_task`` / ``lcqmc_retrieval_task``), the task's
corpus is put in a persistent ``Index`` (built once under ``--index-dir`` and re-used: re-adding
unchanged documents costs no encoding), then every query is searched with

    bm25              BM25 (bm25s, jieba tokens)
    dense             the embedding model (default the built-in multilingual-e5-small), exact flat search
    hybrid            reciprocal-rank fusion (k=60) of the dense and BM25 top-100 lists
    hybrid+rerank     hybrid's top --rerank-top-k re-scored by the cross-encoder in --reranker DIR
                      (row skipped, with a note, when no --reranker is given or it does not exist)
    hybrid+rerank-rrf the same candidates ordered by reciprocal-rank fusion of their hybrid rank and
                      their reranker rank (``rerank_fusion="rrf"``), from the scores hybrid+rerank
                      recorded: labelled "(cached scores)", with no ms/query

Timed rows pay their real cost: hybrid+rerank calls the cross-encoder (``--rerank-backend``) on
every candidate of every query, reading no cached score.

and scored with ``simmatch.evaluation.RetrievalEvaluator`` (MRR@10, nDCG@10, Recall@1/10/50;
LCQMC removes the query's own sentence from its ranking). Prints a table and writes JSON.

The committed run (docs/retrieval.md, which --write-doc regenerates between its markers):
    python bench/retrieval/run.py --reranker qbqtc=bench/out/quality-models/qbqtc-balanced-all \
        --reranker lcqmc=bench/out/rerankers/lcqmc-ce --rerank-top-k 20 --limit lcqmc=1000 --write-doc
Smoke test:
    python bench/retrieval/run.py --limit 30 --corpus-limit 1000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import DATA_ROOT, ROOT, load_average, machine, write_section
from simmatch.models.backends import BACKENDS

MODES = ("bm25", "dense", "hybrid", "hybrid+rerank", "hybrid+rerank-rrf")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", default="qbqtc,lcqmc", help="comma-separated: qbqtc, lcqmc")
    parser.add_argument("--model", default="multilingual-e5-small", help="embedding model (name or dir)")
    parser.add_argument(
        "--reranker",
        action="append",
        default=[],
        metavar="[TASK=]MODEL",
        help="cross-encoder (PairClassifier): built-in name or directory, for every task or, as "
        "TASK=MODEL, for one (repeatable)",
    )
    parser.add_argument(
        "--backend",
        default="onnx",
        choices=BACKENDS,
        help="embedding backend (fp32 onnx gives torch's embeddings, faster on CPU; see docs/speed.md)",
    )
    parser.add_argument("--rerank-top-k", type=int, default=50, help="hybrid candidates sent to the reranker")
    parser.add_argument(
        "--rerank-backend", choices=BACKENDS, default="torch", help="cross-encoder backend (default torch)"
    )
    parser.add_argument("--device", default=None, help="torch device for the models (default: auto)")
    parser.add_argument("--batch-size", type=int, default=64, help="encoding batch size")
    parser.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="[TASK=]N",
        help="evaluate only the first N queries, of every task or, as TASK=N, of one (repeatable)",
    )
    parser.add_argument(
        "--write-doc",
        action="store_true",
        help="replace the results table in docs/retrieval.md (between its bench:retrieval markers)",
    )
    parser.add_argument(
        "--corpus-limit",
        type=int,
        default=None,
        help="smoke tests only: index the kept queries' relevant documents plus the first N others "
        "(numbers are then not comparable with full runs)",
    )
    parser.add_argument("--index-dir", type=Path, default=ROOT / "bench" / "out" / "retrieval")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "retrieval.json")
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT)
    args = parser.parse_args(argv)
    args.limits = _per_task(parser, "--limit", args.limit, int)
    args.rerankers = _per_task(parser, "--reranker", args.reranker, str)
    for task, value in args.limits.items():
        if value < 1:
            parser.error(f"--limit for {task} must be positive")
    for name in ("corpus_limit", "rerank_top_k", "batch_size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    unknown = set(args.tasks.split(",")) - {"qbqtc", "lcqmc"}
    if unknown:
        parser.error(f"unknown task(s) {sorted(unknown)}; choose from qbqtc, lcqmc")
    return args


def _per_task(parser: argparse.ArgumentParser, flag: str, values: list[str], cast: Any) -> dict[str, Any]:
    """``["X"]`` or ``["qbqtc=X", "lcqmc=Y"]`` -> ``{task: value}`` (key ``"*"`` for every task)."""
    out: dict[str, Any] = {}
    for value in values:
        task, sep, rest = value.partition("=")
        if not sep:
            task, rest = "*", value
        elif task not in ("qbqtc", "lcqmc"):
            parser.error(f"{flag} {value!r}: unknown task {task!r}; choose from qbqtc, lcqmc")
        try:
            out[task] = cast(rest)
        except ValueError:
            parser.error(f"{flag} {value!r}: {rest!r} is not a valid value")
    return out


def for_task(values: dict[str, Any], task: str) -> Any:
    return values.get(task, values.get("*"))


def load_task(name: str, data_root: Path):
    from simmatch.data import retrieval

    if name == "qbqtc":
        return retrieval.qbqtc_retrieval_task("test_public", root=data_root)
    return retrieval.lcqmc_retrieval_task("test", root=data_root)


def subset(task, limit: int | None, corpus_limit: int | None):
    """The first ``limit`` queries (in id order of the task) and, with ``corpus_limit``, a corpus cut
    to their relevant/excluded documents plus the first ``corpus_limit`` others."""
    from simmatch.data.examples import RetrievalTask

    qids = list(task.relevant)[:limit] if limit else list(task.relevant)
    corpus = task.corpus
    if corpus_limit:
        keep = {d for q in qids for d in task.relevant[q] | task.exclude.get(q, set())}
        keep.update(list(task.corpus)[:corpus_limit])
        corpus = {d: t for d, t in task.corpus.items() if d in keep}
    return RetrievalTask(
        name=task.name,
        queries={q: task.queries[q] for q in qids},
        corpus=corpus,
        relevant={q: task.relevant[q] for q in qids},
        exclude={q: task.exclude[q] for q in qids if q in task.exclude},
    )


def open_index(directory: Path, encoder: Any, corpus: dict[str, str], batch_size: int):
    """Create or re-open the task's index and make it hold exactly ``corpus``."""
    from simmatch.index import Index

    if (directory / "documents.sqlite").exists():
        index = Index.open(directory, encoder)
    else:
        index = Index.create(directory, encoder, ann="flat")
    started = time.perf_counter()
    stats = index.add(({"id": d, "text": t} for d, t in corpus.items()), batch_size=batch_size)
    stale = [doc_id for doc_id in index.ids() if doc_id not in corpus]
    if stale:
        index.delete(stale)
    print(f"  index {directory.name}: {len(index)} documents, {stats}, {time.perf_counter() - started:.1f}s")
    return index, stats, time.perf_counter() - started


def index_line(name: str, e: dict[str, Any]) -> str:
    """How the task's index came to be: built in this run, or re-opened from an earlier run's
    directory with every document unchanged (nothing encoded, so no build time to report)."""
    added = e["index_add"]
    head = f"- {name}: {e['queries']} queries, corpus {e['corpus']} documents, "
    if added["encoded"] == 0:
        return head + (
            f"index re-opened from an earlier run ({added.get('unchanged', 0)} documents unchanged, none "
            f"encoded; checking took {e['index_build_s']:.0f} s)"
        )
    return head + f"index build {e['index_build_s']:.0f} s ({added['encoded']} encoded)"


def evaluate(task, index, mode: str, reranker: Any, rerank_top_k: int) -> dict[str, float]:
    from simmatch.evaluation.evaluators import RetrievalEvaluator

    base_mode = "hybrid" if mode.startswith("hybrid+rerank") else mode
    rerank = reranker if mode.startswith("hybrid+rerank") else None
    fusion = "rrf" if mode == "hybrid+rerank-rrf" else "replace"
    elapsed = 0.0

    def search(queries: list[str], top_k: int) -> list[list[str]]:
        nonlocal elapsed
        started = time.perf_counter()
        results = index.search_batch(
            queries,
            top_k=top_k,
            mode=base_mode,
            rerank=rerank,
            rerank_top_k=rerank_top_k,
            rerank_fusion=fusion,
        )
        elapsed += time.perf_counter() - started
        return [[hit.id for hit in hits] for hits in results]

    metrics = RetrievalEvaluator(task, search)()
    metrics["ms_per_query"] = 1000 * elapsed / len(task.relevant)
    return metrics


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[-60:]


CACHED_MODES = ("hybrid+rerank-rrf",)  # untimed: scores recorded by hybrid+rerank


class RecordedScores:
    """A reranker that calls the cross-encoder on every call (a timed row pays the real cost) and
    records what it scored, so an untimed row can replay the scores (``cached``)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.recorded: dict[tuple[str, str], float] = {}

    def scores(self, pairs: list[tuple[str, str]]) -> Any:
        out = self.model.scores(pairs)
        self.recorded.update(zip(pairs, (float(x) for x in out)))
        return out

    def cached(self) -> Any:
        """A reranker answering from the recorded scores (the model scores only pairs never seen)."""
        return _Replay(self)


class _Replay:
    def __init__(self, recorder: RecordedScores) -> None:
        self.recorder = recorder

    def scores(self, pairs: list[tuple[str, str]]) -> Any:
        import numpy as np

        recorded = self.recorder.recorded
        missing = list(dict.fromkeys(p for p in pairs if p not in recorded))
        if missing:
            recorded.update(zip(missing, (float(x) for x in self.recorder.model.scores(missing))))
        return np.array([recorded[p] for p in pairs], dtype=np.float32)


def load_rerankers(args: argparse.Namespace, notes: list[str]) -> dict[str, Any]:
    """``{task: PairClassifier}`` for the tasks whose --reranker is a built-in model name (for example
    ``relevance-zh``) or an existing directory."""
    from simmatch.models import PairClassifier
    from simmatch.models.registry import builtin_name

    loaded: dict[str, Any] = {}  # one model per directory; scores are recorded per task
    out: dict[str, Any] = {}
    for name in args.tasks.split(","):
        directory = for_task(args.rerankers, name)
        if directory is None:
            notes.append(f"{name}: hybrid+rerank skipped: no --reranker given")
        elif builtin_name(directory) is None and not Path(directory).is_dir():
            notes.append(f"{name}: hybrid+rerank skipped: reranker directory {directory} does not exist")
        else:
            if directory not in loaded:
                loaded[directory] = PairClassifier(directory, device=args.device, backend=args.rerank_backend)
            out[name] = loaded[directory]
    return out


def table(rows: list[tuple[str, str, dict[str, float]]]) -> list[str]:
    lines = ["| task | method | MRR@10 | R@1 | R@10 | R@50 | nDCG@10 | ms/query |", f"|{'---|' * 8}"]
    for task_name, mode, m in rows:
        ms = "—" if m["ms_per_query"] is None else f"{m['ms_per_query']:.1f}"
        label = f"{mode} (cached scores)" if mode in CACHED_MODES else mode
        lines.append(
            f"| {task_name} | {label} | {m['mrr@10']:.4f} | {m['recall@1']:.4f} | {m['recall@10']:.4f} | "
            f"{m['recall@50']:.4f} | {m['ndcg@10']:.4f} | {ms} |"
        )
    return lines


def verdicts(report: dict[str, Any]) -> list[str]:
    """The issue's target: hybrid+rerank beats the best single retriever on MRR@10, per task."""
    out = []
    for task_name, entry in report["tasks"].items():
        results = entry["results"]
        best_mode = max(("bm25", "dense"), key=lambda m: results[m]["mrr@10"])
        best = results[best_mode]["mrr@10"]
        for mode in ("hybrid+rerank", "hybrid+rerank-rrf"):
            if mode not in results:
                continue
            got = results[mode]["mrr@10"]
            verdict = "met" if got > best else "**missed**"
            out.append(
                f"- {task_name}: {mode} MRR@10 {got:.4f} vs best single retriever ({best_mode}) "
                f"{best:.4f} — {verdict}."
            )
    return out


DOC_START, DOC_END = "<!-- bench:retrieval:start -->", "<!-- bench:retrieval:end -->"


def write_doc(report: dict[str, Any], rows: list[tuple[str, str, dict[str, float]]]) -> Path:
    doc = ROOT / "docs" / "retrieval.md"
    rerankers = ", ".join(f"{t}: `{d}`" for t, d in report["rerankers"].items()) or "none"
    body = [
        DOC_START,
        f"Command: `{report['command']}`",
        "",
        f"Embedding model `{report['model']}` (backend {report['backend']}), rerankers {rerankers}, "
        f"rerank top-k {report['rerank_top_k']} (backend {report.get('rerank_backend', 'torch')}); "
        f"{report['machine']}; run finished {report['finished']}, "
        f"{report['wall_seconds']:.0f} s; load average (1, 5, 15 min) "
        f"{report['host'].get('load_average')} at start, {report.get('load_after', 'not recorded')} at end.",
        "",
        *[index_line(name, e) for name, e in report["tasks"].items()],
        "",
        *table(rows),
        "",
        *verdicts(report),
        *[f"- note: {n}" for n in report["notes"]],
        DOC_END,
    ]
    return write_section(doc, body, DOC_START, DOC_END)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from simmatch.models import Embedder

    started = time.perf_counter()
    encoder = Embedder(args.model, device=args.device, backend=args.backend)
    notes: list[str] = []
    rerankers = load_rerankers(args, notes)
    report: dict[str, Any] = {
        "command": "python bench/retrieval/run.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "model": args.model,
        "backend": args.backend,
        "rerankers": {t: for_task(args.rerankers, t) for t in rerankers},
        "rerank_top_k": args.rerank_top_k,
        "rerank_backend": args.rerank_backend,
        "limits": args.limits,
        "corpus_limit": args.corpus_limit,
        "platform": platform.platform(),
        "machine": f"{os.cpu_count()} CPU cores, torch threads {_torch_threads()}",
        "host": machine(),
        "notes": notes,
        "tasks": {},
    }
    rows = []
    for name in args.tasks.split(","):
        task = subset(load_task(name, args.data_root), for_task(args.limits, name), args.corpus_limit)
        print(f"{task!r}")
        suffix = "full" if args.corpus_limit is None else f"c{args.corpus_limit}"
        directory = args.index_dir / f"{name}-{slug(args.model)}-{suffix}"
        index, stats, build_s = open_index(directory, encoder, task.corpus, args.batch_size)
        entry: dict[str, Any] = {
            "queries": len(task.relevant),
            "corpus": len(task.corpus),
            "index_build_s": build_s,
            "index_add": stats.to_dict(),
            "results": {},
        }
        model = rerankers.get(name)
        recorder = RecordedScores(model) if model is not None else None
        with index:
            for mode in MODES:
                if mode.startswith("hybrid+rerank") and recorder is None:
                    continue
                cached = mode in CACHED_MODES
                reranker = recorder.cached() if cached and recorder is not None else recorder
                metrics: dict[str, Any] = evaluate(task, index, mode, reranker, args.rerank_top_k)
                if cached:
                    metrics["ms_per_query"] = None  # its scores were paid for by hybrid+rerank
                entry["results"][mode] = metrics
                rows.append((task.name, mode, metrics))
                shown = "  ".join(f"{k}={v:.4f}" for k, v in metrics.items() if v is not None)
                print(f"  {mode:14s} {shown}", flush=True)
        report["tasks"][task.name] = entry
    report["wall_seconds"] = time.perf_counter() - started
    report["finished"] = time.strftime("%Y-%m-%d %H:%M")
    report["load_after"] = load_average()

    print("\n" + "\n".join(table(rows)))
    for line in verdicts(report):
        print(line)
    for note in notes:
        print(f"note: {note}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    if args.write_doc:
        print(f"wrote {write_doc(report, rows).relative_to(ROOT)}")
    return 0


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


if __name__ == "__main__":
    raise SystemExit(main())
