"""Retrieval benchmark of ``simmatch.index`` on tasks derived from QBQTC and LCQMC.

For each task (``simmatch.data.qbqtc_retrieval_task`` / ``lcqmc_retrieval_task``), the task's
corpus is put in a persistent ``Index`` (built once under ``--index-dir`` and re-used: re-adding
unchanged documents costs no encoding), then every query is searched with

    bm25              BM25 (bm25s, jieba tokens)
    dense             the embedding model (default the built-in multilingual-e5-small), exact flat search
    hybrid            reciprocal-rank fusion (k=60) of the dense and BM25 top-100 lists
    hybrid+rerank     hybrid's top --rerank-top-k re-scored by the cross-encoder in --reranker DIR
                      (row skipped, with a note, when no --reranker is given or it does not exist)

and scored with ``simmatch.evaluation.RetrievalEvaluator`` (MRR@10, nDCG@10, Recall@1/10/50;
LCQMC removes the query's own sentence from its ranking). Prints a table and writes JSON.

Full run (slow on CPU: the corpora are ~23k sentences each):
    python bench/retrieval/run.py --device cuda --reranker runs/<reranker-dir>
Smoke test:
    python bench/retrieval/run.py --limit 30 --corpus-limit 1000
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DATA_ROOT = ROOT / ".." / "shared" / "data"
MODES = ("bm25", "dense", "hybrid", "hybrid+rerank")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", default="qbqtc,lcqmc", help="comma-separated: qbqtc, lcqmc")
    parser.add_argument("--model", default="multilingual-e5-small", help="embedding model (name or dir)")
    parser.add_argument("--reranker", default=None, help="cross-encoder (PairClassifier) directory")
    parser.add_argument("--rerank-top-k", type=int, default=50, help="hybrid candidates sent to the reranker")
    parser.add_argument("--device", default=None, help="torch device for the models (default: auto)")
    parser.add_argument("--batch-size", type=int, default=64, help="encoding batch size")
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N queries")
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
    for name in ("limit", "corpus_limit", "rerank_top_k", "batch_size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    unknown = set(args.tasks.split(",")) - {"qbqtc", "lcqmc"}
    if unknown:
        parser.error(f"unknown task(s) {sorted(unknown)}; choose from qbqtc, lcqmc")
    return args


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


def evaluate(task, index, mode: str, reranker: Any, rerank_top_k: int) -> dict[str, float]:
    from simmatch.evaluation.evaluators import RetrievalEvaluator

    base_mode = "hybrid" if mode == "hybrid+rerank" else mode
    rerank = reranker if mode == "hybrid+rerank" else None
    elapsed = 0.0

    def search(queries: list[str], top_k: int) -> list[list[str]]:
        nonlocal elapsed
        started = time.perf_counter()
        results = index.search_batch(
            queries, top_k=top_k, mode=base_mode, rerank=rerank, rerank_top_k=rerank_top_k
        )
        elapsed += time.perf_counter() - started
        return [[hit.id for hit in hits] for hits in results]

    metrics = RetrievalEvaluator(task, search)()
    metrics["ms_per_query"] = 1000 * elapsed / len(task.relevant)
    return metrics


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[-60:]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from simmatch.models import Embedder, PairClassifier

    encoder = Embedder(args.model, device=args.device)
    reranker = None
    notes: list[str] = []
    if args.reranker is None:
        notes.append("hybrid+rerank skipped: no --reranker DIR given")
    elif not Path(args.reranker).is_dir():
        notes.append(f"hybrid+rerank skipped: reranker directory {args.reranker} does not exist")
    else:
        reranker = PairClassifier(args.reranker, device=args.device)
    report: dict[str, Any] = {
        "command": "python bench/retrieval/run.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "model": args.model,
        "reranker": args.reranker if reranker is not None else None,
        "rerank_top_k": args.rerank_top_k,
        "limit": args.limit,
        "corpus_limit": args.corpus_limit,
        "platform": platform.platform(),
        "notes": notes,
        "tasks": {},
    }
    rows = []
    for name in args.tasks.split(","):
        task = subset(load_task(name, args.data_root), args.limit, args.corpus_limit)
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
        with index:
            for mode in MODES:
                if mode == "hybrid+rerank" and reranker is None:
                    continue
                metrics = evaluate(task, index, mode, reranker, args.rerank_top_k)
                entry["results"][mode] = metrics
                rows.append((task.name, mode, metrics))
                print(f"  {mode:14s} " + "  ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
        report["tasks"][task.name] = entry

    header = f"| task | method | MRR@10 | R@1 | R@10 | R@50 | nDCG@10 | ms/query |\n|{'---|' * 8}"
    print("\n" + header)
    for task_name, mode, m in rows:
        print(
            f"| {task_name} | {mode} | {m['mrr@10']:.4f} | {m['recall@1']:.4f} | {m['recall@10']:.4f} | "
            f"{m['recall@50']:.4f} | {m['ndcg@10']:.4f} | {m['ms_per_query']:.1f} |"
        )
    for note in notes:
        print(f"note: {note}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
