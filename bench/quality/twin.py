"""Twin-tower training rows: the CoROM recipe for retrieval (MNRL with in-batch negatives, then BM25
negatives, then negatives mined by the stage-1 model) and in-domain CoSENT on AFQMC, each read
against the zero-shot built-in model on the same splits.

    python bench/quality/twin.py zero-shot                                      # the reference
    python bench/quality/twin.py mnrl --negatives none      --out runs/twin/mnrl-inbatch
    python bench/quality/twin.py mnrl --negatives two-stage --out runs/twin/mnrl-two-stage
    python bench/quality/twin.py cosent --out runs/twin/afqmc-cosent
    python bench/quality/twin_report.py                     # docs/quality.md section from the results

Training data are training splits only: MNRL learns from query–positive pairs of QBQTC ``dev.json``
(label 2), AFQMC train and LCQMC dev; it is evaluated on ``qbqtc-retrieval/test_public`` and
``lcqmc-retrieval/test``. Evaluation queries whose text also occurs in the training pairs are
counted, and every metric is also given with those queries removed. CoSENT learns from AFQMC train
(a hold-out of it, LCQMC dev and STS-B zh dev choose the checkpoint and the WiSE-FT weight) and is
evaluated on AFQMC dev, LCQMC test and STS-B zh test. A run started again with the same ``--out``
resumes from its latest checkpoint. Results: ``bench/quality/results/twin-<row>.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from builtin import _machine
from rows import MODEL, pct, split_holdout

RESULTS = Path(__file__).resolve().parent / "results"
RETRIEVAL_TRAIN = ("qbqtc:dev (label 2)", "afqmc:train (label 1)", "lcqmc:dev (label 1)")


def retrieval_training(args: argparse.Namespace) -> tuple[list[Any], dict[str, int]]:
    """Query → positives from the training splits (seeded samples of AFQMC / LCQMC positives)."""
    from simmatch.data import resolve_dataset
    from simmatch.data.examples import RetrievalExample

    rng = random.Random(args.seed)

    def positives(spec: str, label: str, limit: int | None) -> list[tuple[str, str]]:
        pairs = [(e.sentence1, e.sentence2) for e in resolve_dataset(spec) if str(e.label) == label]
        pairs = [(a, b) for a, b in pairs if a.strip() != b.strip()]
        if limit is not None and limit < len(pairs):
            rng.shuffle(pairs)
            pairs = pairs[:limit]
        return pairs

    sources = {
        "qbqtc/dev label 2": positives("qbqtc:dev", "2", args.qbqtc_pairs),
        "afqmc/train label 1": positives("afqmc:train", "1", args.afqmc_pairs),
        "lcqmc/dev label 1": positives("lcqmc:dev", "1", args.lcqmc_pairs),
    }
    grouped: dict[str, list[str]] = {}
    for pairs in sources.values():
        for query, pos in pairs:
            found = grouped.setdefault(query, [])
            if pos not in found:
                found.append(pos)
    examples = [RetrievalExample(query=q, pos=p) for q, p in grouped.items()]
    return examples, {k: len(v) for k, v in sources.items()}


def training_texts(examples: list[Any]) -> set[str]:
    return {t.strip() for ex in examples for t in (ex.query, *ex.pos)}


def retrieval_metrics(model: str | Path, texts: set[str], args: argparse.Namespace) -> dict[str, Any]:
    """MRR@10 / R@1 / R@10 (×100) on both derived tasks, all queries and overlap-free."""
    from simmatch.data.examples import RetrievalTask
    from simmatch.data.retrieval import lcqmc_retrieval_task, qbqtc_retrieval_task
    from simmatch.evaluation import RetrievalEvaluator
    from simmatch.evaluation.evaluators import embedding_search
    from simmatch.models import Embedder

    emb = Embedder(str(model), backend=args.backend)
    out: dict[str, Any] = {}
    for task in (qbqtc_retrieval_task("test_public"), lcqmc_retrieval_task("test")):
        t = time.perf_counter()
        search = embedding_search(emb, task.corpus, batch_size=args.batch_size)
        seen = {q for q in task.relevant if task.queries[q].strip() in texts}
        keep = [q for q in task.relevant if q not in seen]
        free = RetrievalTask(
            name=f"{task.name} (overlap-free)",
            queries={q: task.queries[q] for q in keep},
            corpus=task.corpus,
            relevant={q: task.relevant[q] for q in keep},
            exclude={q: task.exclude[q] for q in keep if q in task.exclude},
        )
        entry: dict[str, Any] = {"queries": len(task.relevant), "overlap": len(seen)}
        for key, sub in (("all", task), ("overlap_free", free)):
            m = RetrievalEvaluator(sub, search, batch_size=args.batch_size)()
            entry[key] = {k: pct(m[k]) for k in ("mrr@10", "recall@1", "recall@10")}
        entry["seconds"] = round(time.perf_counter() - t, 1)
        out[task.name] = entry
        print(f"  {model} {task.name}: {entry}", flush=True)
    return out


def _config(out: Path, args: argparse.Namespace, **kw: Any) -> Any:
    from simmatch.training import TrainingConfig
    from simmatch.training.core import last_checkpoint

    values: dict[str, Any] = {
        "output_dir": str(out),
        "batch_size": args.train_batch_size,
        "lr": args.lr,
        "warmup": 0.1,
        "epochs": args.epochs,
        "max_seq_length": 64,
        "seed": args.seed,
        "progress": not args.no_progress,
        "logging_steps": 25,
        "save_total_limit": 1,
        "eval_batch_size": args.batch_size,
    }
    values.update(kw)
    checkpoints = out / "checkpoints"
    stage1 = out / "stage1" / "checkpoints"
    if (
        last_checkpoint(checkpoints)
        or last_checkpoint(stage1)
        or (out / "stage1" / "training.json").is_file()
    ):
        values["resume_from"] = "latest"
    return TrainingConfig(**values)


def _training(result: Any) -> dict[str, Any]:
    record = json.loads((Path(result.output_dir) / "training.json").read_text(encoding="utf-8"))
    return {
        "steps": result.global_step,
        "train_seconds": round(result.wall_time_s, 1),
        "pairs_per_second": record.get("pairs_per_second"),
        "rows": record.get("train"),  # MNRL: rows trained on, and rows left short of negatives
        "best_checkpoint": result.best_checkpoint,
        "config": record.get("config"),
    }


def _save(name: str, data: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"twin-{name}.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {path}", flush=True)


def _finish(record: dict[str, Any], start: float) -> dict[str, Any]:
    import os

    record["wall_seconds"] = round(time.perf_counter() - start, 1)
    record["machine"]["load_at_end"] = round(os.getloadavg()[0], 2)
    record["finished"] = time.strftime("%Y-%m-%d %H:%M")
    return record


def run_zero_shot(args: argparse.Namespace) -> None:
    start = time.perf_counter()
    examples, sources = retrieval_training(args)
    record: dict[str, Any] = {"machine": _machine(), "model": MODEL, "backend": args.backend}
    record["overlap_with"] = {"training pairs": sources}
    record["retrieval"] = retrieval_metrics(MODEL, training_texts(examples), args)
    record["similarity"] = _spearmans(MODEL, _similarity_tests(args), args)
    _save("zero-shot", _finish(record, start))


def run_mnrl(args: argparse.Namespace) -> None:
    from simmatch.training import train_embedder

    start = time.perf_counter()
    examples, sources = retrieval_training(args)
    texts = training_texts(examples)
    record: dict[str, Any] = {
        "machine": _machine(),
        "model": MODEL,
        "backend": args.backend,
        "loss": "mnrl",
        "negatives": args.negatives,
        "train": {"sources": sources, "queries": len(examples), "pairs": sum(len(e.pos) for e in examples)},
    }
    print(f"mnrl ({args.negatives}): {record['train']}", flush=True)
    two_stage = args.negatives == "two-stage"
    result = train_embedder(
        MODEL,
        examples,
        config=_config(args.out, args),
        loss="mnrl",
        hard_negatives="two-stage" if two_stage else None,
        num_negatives=1 if two_stage else 0,
        mining_options={"candidates": args.candidates, "margin": args.margin, "pick": "random"},
    )
    record["training"] = _training(result)
    if two_stage:
        stage1 = json.loads((args.out / "stage1" / "training.json").read_text(encoding="utf-8"))
        record["stage1"] = {
            "pairs_per_second": stage1.get("pairs_per_second"),
            "steps": stage1.get("global_step"),
        }
        record["mining"] = {"candidates": args.candidates, "margin": args.margin, "pick": "random"}
        record["retrieval_stage1"] = retrieval_metrics(args.out / "stage1", texts, args)
    record["retrieval"] = retrieval_metrics(result.output_dir, texts, args)
    _save("mnrl-two-stage" if two_stage else "mnrl-inbatch", _finish(record, start))


def _spearmans(model: str | Path, sets: dict[str, Any], args: argparse.Namespace) -> dict[str, float | None]:
    from rows import _spearmans as spearmans

    return spearmans(model, sets, args)


def _similarity_tests(args: argparse.Namespace) -> dict[str, Any]:
    from simmatch.data import resolve_dataset

    return {s.replace(":", "/"): resolve_dataset(s) for s in ("afqmc:dev", "lcqmc:test", "stsb-zh:test")}


def run_cosent(args: argparse.Namespace) -> None:
    """CoSENT on AFQMC train; WiSE-FT weight: the largest-gain alpha on the AFQMC hold-out among those
    keeping LCQMC dev and STS-B zh dev within ``--keep`` Spearman points of the zero-shot model."""
    from simmatch.data import resolve_dataset
    from simmatch.training import interpolate_weights, train_embedder

    start = time.perf_counter()
    train, holdout = split_holdout(resolve_dataset("afqmc:train"), 1000, args.cosent_train, args.seed)
    dev = {
        "afqmc": holdout,
        "lcqmc": resolve_dataset("lcqmc:dev", limit=2000),
        "stsb": resolve_dataset("stsb-zh:dev"),
    }
    base_dev = _spearmans(MODEL, dev, args)
    print(f"cosent: zero-shot on dev {base_dev}", flush=True)
    config = _config(args.out, args, eval_every=args.eval_every, save_total_limit=1)
    result = train_embedder(MODEL, train, dev=dev, loss="cosent", config=config)
    on_dev: dict[str, Any] = {}
    for alpha in [float(a) for a in args.alphas.split(",")]:
        model_dir = (
            result.output_dir
            if alpha == 1.0
            else interpolate_weights(MODEL, result.output_dir, alpha, args.out / "wise" / f"alpha-{alpha:g}")
        )
        on_dev[f"{alpha:g}"] = {"dir": str(model_dir), **_spearmans(model_dir, dev, args)}
        print(f"  alpha {alpha:g} dev: {on_dev[f'{alpha:g}']}", flush=True)
    keeps = [
        a
        for a, s in on_dev.items()
        if all(s[k] >= base_dev[k] - args.keep for k in ("lcqmc", "stsb"))  # type: ignore[operator]
    ]
    chosen = max(keeps, key=lambda a: on_dev[a]["afqmc"]) if keeps else min(on_dev, key=float)
    tests = _similarity_tests(args)
    record: dict[str, Any] = {
        "machine": _machine(),
        "model": MODEL,
        "backend": args.backend,
        "loss": "cosent",
        "train": {"name": train.name, "pairs": len(train)},
        "dev": {k: f"{d.name} ({len(d)} pairs)" for k, d in dev.items()},
        "training": _training(result),
        "zero_shot_dev": base_dev,
        "wise_on_dev": on_dev,
        "keep": args.keep,
        "alpha": float(chosen),
        "alpha_rule": "largest AFQMC hold-out Spearman among alphas within --keep of zero-shot on "
        "LCQMC dev and STS-B zh dev" + ("" if keeps else " (none qualified: smallest alpha)"),
        "test_fine_tuned": _spearmans(result.output_dir, tests, args),
    }
    record["test_chosen"] = (
        record["test_fine_tuned"] if float(chosen) == 1.0 else _spearmans(on_dev[chosen]["dir"], tests, args)
    )
    _save("afqmc-cosent", _finish(record, start))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("row", choices=("zero-shot", "mnrl", "cosent"))
    p.add_argument("--out", type=Path, default=None, help="training output directory (resumable)")
    p.add_argument("--negatives", choices=("none", "two-stage"), default="none")
    p.add_argument("--qbqtc-pairs", type=int, default=None, help="QBQTC dev.json label-2 pairs (default all)")
    p.add_argument("--afqmc-pairs", type=int, default=2000, help="AFQMC train positives sampled")
    p.add_argument("--lcqmc-pairs", type=int, default=2000, help="LCQMC dev positives sampled")
    p.add_argument("--candidates", type=int, default=30, help="mining depth per query")
    p.add_argument("--margin", type=float, default=0.05, help="stage-2 false-negative guard margin")
    p.add_argument("--cosent-train", type=int, default=6000, help="AFQMC train pairs for CoSENT")
    p.add_argument("--eval-every", type=int, default=125, help="CoSENT: dev evaluation every N steps")
    p.add_argument("--alphas", default="0.25,0.5,0.75,1.0", help="WiSE-FT weights of the fine-tuned model")
    p.add_argument("--keep", type=float, default=0.5, help="Spearman points LCQMC / STS-B may lose on dev")
    p.add_argument("--train-batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-5)
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--batch-size", type=int, default=64, help="inference batch size")
    p.add_argument("--backend", default="onnx", choices=("torch", "onnx"), help="evaluation backend")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.row != "zero-shot" and args.out is None:
        p.error(f"{args.row} needs --out DIR")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    {"zero-shot": run_zero_shot, "mnrl": run_mnrl, "cosent": run_cosent}[args.row](args)


if __name__ == "__main__":
    main()
