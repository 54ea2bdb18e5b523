"""The rows of the quality benchmark: each ``row_*`` function trains and/or evaluates and returns
the row's record (metrics, data sizes, training summary). ``RUNNERS`` maps row names to them, in
report order. Data are named as on the command line: ``resolve_dataset("lcqmc:test")``."""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Any

MODEL = "multilingual-e5-small"


def pct(x: float | None) -> float | None:
    return None if x is None else round(100 * float(x), 2)


def split_seed(result: dict[str, Any]) -> int:
    """The split seed a ``builtin.py`` result was trained with (older results: the training seed,
    which was also the split seed)."""
    return int(result["holdout"].get("split_seed", result["config"]["seed"]))


def split_holdout(data: Any, holdout: int, train_limit: int | None, seed: int) -> tuple[Any, Any]:
    """Shuffle (seeded), hold out ``holdout`` pairs as the dev split for checkpoint choice, keep up
    to ``train_limit`` of the rest for training."""
    order = list(range(len(data)))
    random.Random(seed).shuffle(order)
    dev_idx, train_idx = order[:holdout], order[holdout:]
    if train_limit is not None:
        train_idx = train_idx[:train_limit]
    return _subset(data, train_idx, "train"), _subset(data, dev_idx, "holdout")


def _subset(data: Any, idx: list[int], tag: str) -> Any:
    from simmatch.data import PairDataset

    return PairDataset(
        [data[i] for i in idx],
        path=data.path,
        name=f"{data.name}[{tag}]",
        label_type=data.label_type,
        label_set=data.label_set,
        score_range=data.score_range,
    )


def load(spec: str, limit: int | None) -> Any:
    """``NAME:SPLIT`` of a benchmark, first ``limit`` pairs (all when ``None``)."""
    from simmatch.data import resolve_dataset

    return resolve_dataset(spec, limit=limit)


def row_zero_shot(args: argparse.Namespace) -> dict[str, Any]:
    from simmatch.evaluation import EmbeddingSimilarityEvaluator
    from simmatch.models import Embedder

    lim = args.eval_limit
    emb = Embedder(MODEL, backend=args.backend)
    metrics: dict[str, Any] = {}
    specs = ["lcqmc:test", "bq:dev", "afqmc:dev", "pawsx-zh:dev", "stsb-zh:test", "stsb-en:test"]
    for spec in specs:
        pairs = load(spec, lim)
        key = pairs.name  # "lcqmc/test"
        threshold_from = load("lcqmc:dev", lim) if spec.startswith("lcqmc:") else None
        t = time.perf_counter()
        result = EmbeddingSimilarityEvaluator(
            pairs, kind="query", threshold_from=threshold_from, batch_size=args.batch_size
        )(emb)
        entry = {
            "spearman": pct(result["spearman"]),
            "pairs": len(pairs),
            "seconds": round(time.perf_counter() - t, 1),
        }
        if threshold_from is not None:
            entry.update(
                accuracy=pct(result["accuracy"]),
                threshold=round(result["threshold"], 4),
                threshold_from="lcqmc/dev",
                dev_accuracy=pct(result["dev_accuracy"]),
            )
        metrics[key] = entry
        print(f"  zero-shot {key}: {entry}", flush=True)
    return {"model": MODEL, "backend": args.backend, "metrics": metrics}


def _train_config(args: argparse.Namespace, out: Path, **kw: Any):
    from simmatch.training import TrainingConfig

    values: dict[str, Any] = {
        "output_dir": str(out),
        "batch_size": args.train_batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "max_seq_length": args.max_seq_length,
        "eval_batch_size": args.batch_size,
        "progress": not args.no_progress,
        "logging_steps": 10 if args.quick else 25,
        "save_total_limit": 1,
    }
    if args.quick:
        values.update(max_steps=4, eval_every=2)
    values.update(kw)
    return TrainingConfig(**values)


def _cross_row(args: argparse.Namespace, row: str) -> dict[str, Any]:
    from simmatch.evaluation import PairClassificationEvaluator
    from simmatch.models import PairClassifier
    from simmatch.training import train_cross_encoder

    if row.startswith("qbqtc"):
        pool = load("qbqtc:dev", 400 if args.quick else None)
        train_limit = None if row == "qbqtc-balanced-all" else args.qbqtc_train
        train, holdout = split_holdout(
            pool, 100 if args.quick else args.qbqtc_holdout, train_limit, args.seed
        )
        test = load("qbqtc:test_public", args.eval_limit)
        loss = "balanced-ce" if row.startswith("qbqtc-balanced") else "ce"
        eval_every = args.qbqtc_eval_every
    else:
        pool = load("afqmc:train", 400 if args.quick else None)
        train, holdout = split_holdout(
            pool, 100 if args.quick else args.afqmc_holdout, args.afqmc_train, args.seed
        )
        test = load("afqmc:dev", args.eval_limit)
        loss = "balanced-ce" if row == "afqmc-balanced" else args.afqmc_loss
        eval_every = args.afqmc_eval_every
    out = args.models_dir / row
    config = _train_config(
        args, out, **({} if args.quick else {"epochs": args.epochs, "eval_every": eval_every})
    )
    print(f"  {row}: training on {len(train)} pairs, dev (checkpoint choice) {len(holdout)}", flush=True)
    result = train_cross_encoder(MODEL, train, dev=holdout, loss=loss, config=config)
    clf = PairClassifier(result.output_dir)
    t = time.perf_counter()
    scores = PairClassificationEvaluator(test, batch_size=args.batch_size)(clf)
    metrics = {
        f"{test.name}": {
            "macro_f1": pct(scores["macro_f1"]),
            "accuracy": pct(scores["accuracy"]),
            **{k: pct(v) for k, v in scores.items() if k.startswith("f1_")},
            "pairs": len(test),
            "seconds": round(time.perf_counter() - t, 1),
        },
        "checkpoint_dev": {
            "split": holdout.name,
            "pairs": len(holdout),
            "metric": result.metric_name,
            "best": pct(result.best_metric),
            "best_checkpoint": result.best_checkpoint,
        },
    }
    print(f"  {row}: {metrics}", flush=True)
    return {
        "model": MODEL,
        "loss": loss,
        "loss_options": {k: v for k, v in result.extra.get("loss_options", {}).items()},
        "train": {"name": train.name, "pairs": len(train)},
        "steps": result.global_step,
        "train_seconds": round(result.wall_time_s, 1),
        "output_dir": str(result.output_dir),
        "config": _config_summary(config),
        "metrics": metrics,
    }


def _stsb_dev_sets(args: argparse.Namespace) -> dict[str, Any]:
    """The dev sets both STS-B rows choose on (checkpoint, WiSE α): STS-B zh dev + LCQMC dev."""
    return {
        "stsb": load("stsb-zh:dev", 200 if args.quick else None),
        "lcqmc": load("lcqmc:dev", 200 if args.quick else args.stsb_lcqmc_dev),
    }


def _stsb_test_sets(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "stsb-zh/test": load("stsb-zh:test", args.eval_limit),
        "lcqmc/test": load("lcqmc:test", args.eval_limit),
    }


def _spearmans(model: Any, sets: dict[str, Any], args: argparse.Namespace) -> dict[str, float | None]:
    """Spearman ×100 of cosine ("query: " on both sides) on each set, with the --backend embedder."""
    from simmatch.evaluation import EmbeddingSimilarityEvaluator
    from simmatch.models import Embedder

    emb = Embedder(str(model), backend=args.backend)
    return {
        k: pct(EmbeddingSimilarityEvaluator(d, kind="query", batch_size=args.batch_size)(emb)["spearman"])
        for k, d in sets.items()
    }


def row_stsb_cosent(args: argparse.Namespace) -> dict[str, Any]:
    from simmatch.training import train_embedder

    train = load("stsb-zh:train", 200 if args.quick else args.stsb_train)
    dev, evals = _stsb_dev_sets(args), _stsb_test_sets(args)
    before = _spearmans(MODEL, evals, args)
    print(f"  stsb-cosent before: {before}", flush=True)
    out = args.models_dir / "stsb-cosent"
    config = _train_config(
        args, out, **({} if args.quick else {"epochs": args.stsb_epochs, "eval_every": args.stsb_eval_every})
    )
    result = train_embedder(MODEL, train, dev=dev, loss="cosent", config=config)
    after = _spearmans(result.output_dir, evals, args)
    print(f"  stsb-cosent after: {after}", flush=True)
    return {
        "model": MODEL,
        "backend": args.backend,
        "loss": "cosent",
        "train": {"name": train.name, "pairs": len(train)},
        "steps": result.global_step,
        "train_seconds": round(result.wall_time_s, 1),
        "output_dir": str(result.output_dir),
        "config": _config_summary(config),
        "metrics": {
            k: {"spearman_before": before[k], "spearman_after": after[k], "pairs": len(evals[k])}
            for k in evals
        }
        | {
            "checkpoint_dev": {
                "split": " + ".join(f"{d.name} ({len(d)} pairs)" for d in dev.values()),
                "metric": result.metric_name,
                "best": pct(result.best_metric),
                "best_checkpoint": result.best_checkpoint,
            }
        },
    }


def row_stsb_cosent_wise(args: argparse.Namespace) -> dict[str, Any]:
    from simmatch.training import interpolate_weights

    tuned = args.models_dir / "stsb-cosent"
    if not (tuned / "training.json").is_file():
        raise SystemExit(f"stsb-cosent-wise: no trained model in {tuned}; run --rows stsb-cosent first")
    dev, tests = _stsb_dev_sets(args), _stsb_test_sets(args)

    alphas = [float(a) for a in args.wise_alphas.split(",")]
    on_dev: dict[str, Any] = {}
    for alpha in alphas:
        model_dir = (
            tuned
            if alpha == 1.0
            else interpolate_weights(
                MODEL, tuned, alpha, args.models_dir / "stsb-cosent-wise" / f"alpha-{alpha:g}"
            )
        )
        scores = _spearmans(model_dir, dev, args)
        on_dev[f"{alpha:g}"] = {**scores, "mean": round(sum(scores.values()) / len(scores), 2)}  # type: ignore[arg-type]
        print(f"  stsb-cosent-wise alpha {alpha:g} dev: {on_dev[f'{alpha:g}']}", flush=True)
    chosen = max(on_dev, key=lambda a: on_dev[a]["mean"])
    chosen_dir = tuned if float(chosen) == 1.0 else args.models_dir / "stsb-cosent-wise" / f"alpha-{chosen}"
    after = _spearmans(chosen_dir, tests, args)
    print(f"  stsb-cosent-wise alpha {chosen} test: {after}", flush=True)
    stored = json.loads(args.out.read_text(encoding="utf-8")) if args.out.exists() else {}
    base = stored.get("rows", {}).get("stsb-cosent", {}).get("metrics", {})
    return {
        "model": MODEL,
        "backend": args.backend,
        "tuned": str(tuned),
        "alphas_on_dev": on_dev,
        "alpha": float(chosen),
        "metrics": {
            k: {
                "spearman_before": base.get(k, {}).get("spearman_before"),
                "spearman_after": after[k],
                "pairs": len(tests[k]),
            }
            for k in tests
        },
    }


def _config_summary(config: Any) -> dict[str, Any]:
    keep = (
        "epochs",
        "max_steps",
        "batch_size",
        "lr",
        "warmup",
        "seed",
        "max_seq_length",
        "freeze_embeddings",
        "eval_every",
    )
    return {k: getattr(config, k) for k in keep}


RUNNERS = {
    "zero-shot": row_zero_shot,
    "qbqtc": lambda a: _cross_row(a, "qbqtc"),
    "qbqtc-balanced": lambda a: _cross_row(a, "qbqtc-balanced"),
    "qbqtc-balanced-all": lambda a: _cross_row(a, "qbqtc-balanced-all"),
    "afqmc": lambda a: _cross_row(a, "afqmc"),
    "afqmc-balanced": lambda a: _cross_row(a, "afqmc-balanced"),
    "stsb-cosent": row_stsb_cosent,
    "stsb-cosent-wise": row_stsb_cosent_wise,
}

ROWS = tuple(RUNNERS)
