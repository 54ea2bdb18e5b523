"""Train and evaluate the built-in cross-encoders (and the head comparison that chose their head).

    python bench/quality/builtin.py heads       --out runs/heads       # cls vs mean head, QBQTC dev.json only
    python bench/quality/builtin.py relevance   --out runs/relevance   # the QBQTC relevance model
    python bench/quality/builtin.py paraphrase  --out runs/paraphrase  # the Chinese paraphrase model
    python bench/quality/builtin.py ensemble --members runs/a runs/b --out runs/ens  # relevance ensemble

Every choice (head, checkpoint) is made on a hold-out of the training data, never on a reported
split. A run resumes from its latest checkpoint when started again with the same --out. Results
go to ``<out>/result.json``; ``simmatch.models.builtin_ce.package`` turns a trained model into the
repository's stored form.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rows import MODEL, _subset, pct, split_holdout

PARAPHRASE_TRAIN = ("afqmc:train", "lcqmc:dev", "pawsx-zh:dev")
PARAPHRASE_EVAL = ("lcqmc:test", "bq:dev", "afqmc:dev")


def _config(out: Path, args: argparse.Namespace, **kw: Any) -> Any:
    from simmatch.training import TrainingConfig
    from simmatch.training.core import last_checkpoint

    values: dict[str, Any] = {
        "output_dir": str(out),
        "batch_size": 16,
        "lr": args.lr,
        "warmup": 0.06,
        "lr_scheduler": "linear",
        "max_seq_length": 64,
        "layers": args.layers,
        "seed": args.seed,
        "progress": False,
        "logging_steps": 25,
        "save_total_limit": 2,
        "eval_batch_size": 64,
    }
    values.update(kw)
    if last_checkpoint(out / "checkpoints") is not None:
        values["resume_from"] = "latest"
    return TrainingConfig(**values)


def _machine() -> dict[str, Any]:
    import torch

    try:
        code = subprocess.run(
            ["git", "describe", "--always", "--dirty=+changes"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        code = "not recorded"
    return {
        "command": "python " + " ".join(sys.argv),
        "code": code,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_at_start": round(os.getloadavg()[0], 2),
        "note": "2-core CPU shared with other jobs",
    }


def _classify(model_dir: Path | str, data: Any) -> dict[str, Any]:
    from simmatch.evaluation import PairClassificationEvaluator
    from simmatch.models import PairClassifier

    t = time.perf_counter()
    scores = PairClassificationEvaluator(data, batch_size=64)(PairClassifier(str(model_dir)))
    return {
        "pairs": len(data),
        "macro_f1": pct(scores["macro_f1"]),
        "accuracy": pct(scores["accuracy"]),
        **{k: pct(v) for k, v in scores.items() if k.startswith("f1_")},
        "seconds": round(time.perf_counter() - t, 1),
    }


def _summary(result: Any) -> dict[str, Any]:
    record = json.loads((result.output_dir / "training.json").read_text(encoding="utf-8"))
    return {
        "steps": result.global_step,
        "train_seconds": round(result.wall_time_s, 1),
        "pairs_per_second": record.get("pairs_per_second"),
        "best_checkpoint": result.best_checkpoint,
        "checkpoint_metric": result.metric_name,
        "checkpoint_metric_value": pct(result.best_metric),
        "head": record.get("head"),
        "config": record["config"],
    }


def _write(out: Path, data: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "result.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(data, ensure_ascii=False), flush=True)


def run_heads(args: argparse.Namespace) -> None:
    """Recipe variants on the same data, steps and seed: cls (first token + standardized pooler) vs
    mean head, depth, loss."""
    from simmatch.data import resolve_dataset
    from simmatch.training import train_cross_encoder

    start = time.perf_counter()
    pool = resolve_dataset("qbqtc:dev")
    train, holdout = split_holdout(pool, args.holdout, args.train_pairs, args.seed)
    rows: dict[str, Any] = {"machine": _machine(), "train": len(train), "holdout": holdout.name}
    for name in args.variants:
        head, layers_text, *loss_parts = name.split("-")
        layers, loss = int(layers_text), "-".join(loss_parts) or args.loss
        config = _config(args.out / name, args, head=head, layers=layers, epochs=1.0)
        result = train_cross_encoder(MODEL, train, loss=loss, config=config)
        rows[name] = {**_summary(result), "holdout": _classify(result.output_dir, holdout)}
        print(name, rows[name]["holdout"], flush=True)
    rows["wall_seconds"] = round(time.perf_counter() - start, 1)
    _write(args.out, rows)


def _concat(specs: tuple[str, ...]) -> Any:
    from simmatch.data import PairDataset, resolve_dataset

    parts = [resolve_dataset(s) for s in specs]
    examples = [e for p in parts for e in p]
    return PairDataset(examples, name="+".join(specs), label_type="class", label_set=["0", "1"])


def run_model(args: argparse.Namespace) -> None:
    from simmatch.data import resolve_dataset
    from simmatch.training import train_cross_encoder

    start = time.perf_counter()
    machine = _machine()
    if args.task == "relevance":
        pool = resolve_dataset("qbqtc:dev")
        reported = {"qbqtc:test_public": resolve_dataset("qbqtc:test_public", limit=args.eval_limit)}
    else:
        pool = _concat(PARAPHRASE_TRAIN)
        reported = {s: resolve_dataset(s, limit=args.eval_limit) for s in PARAPHRASE_EVAL}
    train, holdout = split_holdout(pool, args.holdout, args.train_pairs, args.seed)
    train = _subset(train, list(range(len(train))), "train")
    config = _config(args.out, args, epochs=args.epochs, eval_every=args.eval_every, head="auto")
    print(f"{args.task}: training on {len(train)} pairs, checkpoint choice on {len(holdout)}", flush=True)
    result = train_cross_encoder(MODEL, train, dev=holdout, loss=args.loss, config=config)
    metrics = {name: _classify(result.output_dir, data) for name, data in reported.items()}
    _write(
        args.out,
        {
            "task": args.task,
            "machine": machine,
            "train": {"data": pool.name, "pairs": len(train), "loss": args.loss},
            "holdout": {"data": holdout.name, "pairs": len(holdout)},
            **_summary(result),
            "metrics": metrics,
            "wall_seconds": round(time.perf_counter() - start, 1),
        },
    )


def run_ensemble(args: argparse.Namespace) -> None:
    """Relevance ensemble: members + pair features, a logistic stacker fitted on the members'
    own hold-out (the one that picked their checkpoints; never a reported split)."""
    from simmatch.data import resolve_dataset
    from simmatch.ensemble import fit_ensemble

    start = time.perf_counter()
    machine = _machine()
    _, holdout = split_holdout(resolve_dataset("qbqtc:dev"), args.holdout, None, args.seed)
    test = resolve_dataset("qbqtc:test_public", limit=args.eval_limit)
    metrics: dict[str, Any] = {}
    for member in args.members:
        metrics[f"member {member}"] = _classify(member, test)
    for combiner, features in (("mean", []), ("logistic", args.features)):
        ensemble = fit_ensemble(
            args.members,
            holdout,
            combiner=combiner,
            features=features,
            embedder=MODEL,
            class_weight="balanced",
        )
        name = f"{combiner}" + (f" + {', '.join(features)}" if features else "")
        out = args.out / name.replace(" + ", "+").replace(", ", "+")
        ensemble.save(out)
        metrics[f"ensemble {name}"] = _classify(out, test)
        print(name, metrics[f"ensemble {name}"], flush=True)
    _write(
        args.out,
        {
            "task": "relevance-ensemble",
            "machine": machine,
            "members": args.members,
            "stacker_fitted_on": {"data": holdout.name, "pairs": len(holdout)},
            "evaluated_on": "qbqtc:test_public",
            "metrics": metrics,
            "wall_seconds": round(time.perf_counter() - start, 1),
        },
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("task", choices=("heads", "relevance", "paraphrase", "ensemble"))
    p.add_argument("--members", nargs="*", default=[], help="ensemble: member model directories")
    p.add_argument("--features", nargs="*", default=["overlap", "cosine"], help="ensemble: pair features")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument(
        "--variants",
        nargs="*",
        default=["cls-6", "mean-6"],
        help="heads: runs named HEAD-LAYERS[-LOSS] (default loss: --loss), e.g. mean-12 mean-6-lsce",
    )
    p.add_argument("--train-pairs", type=int, default=None, help="cap on training pairs (heads: 3000)")
    p.add_argument("--holdout", type=int, default=1500, help="hold-out pairs for choices (never reported)")
    p.add_argument("--epochs", type=float, default=2.0)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--loss", default=None, help="default: balanced-ce (relevance, heads), lsce (paraphrase)")
    p.add_argument("--eval-limit", type=int, default=None, help="report on the first N pairs of each split")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.loss is None:
        args.loss = "lsce" if args.task == "paraphrase" else "balanced-ce"
    if args.task == "heads":
        args.train_pairs = args.train_pairs or 3000
        run_heads(args)
    elif args.task == "ensemble":
        run_ensemble(args)
    else:
        run_model(args)


if __name__ == "__main__":
    main()
