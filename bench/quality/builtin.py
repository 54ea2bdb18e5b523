"""Train and evaluate the built-in cross-encoders (and the head comparison that chose their head).

    python bench/quality/builtin.py heads       --out runs/heads       # cls vs mean head, QBQTC dev.json only
    python bench/quality/builtin.py relevance   --out runs/relevance   # the QBQTC relevance model
    python bench/quality/builtin.py paraphrase  --out runs/paraphrase  # the Chinese paraphrase model
    python bench/quality/builtin.py ensemble --members runs/a runs/b --out runs/ens  # relevance ensemble
    python bench/quality/builtin.py paraphrase-ensemble --members paraphrase-zh --out runs/paraphrase-ens

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
from rows import MODEL, _subset, pct, split_holdout, split_seed

PARAPHRASE_TRAIN = ("afqmc:train", "lcqmc:dev", "pawsx-zh:dev")
PARAPHRASE_EVAL = ("lcqmc:test", "bq:dev", "afqmc:dev")
RESULTS = Path(__file__).resolve().parent / "results"


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
        "note": os.environ.get("SIMMATCH_BENCH_NOTE", f"{os.cpu_count()}-core CPU, other jobs not recorded"),
    }


def _classify(model: Path | str | Any, data: Any) -> dict[str, Any]:
    """Metrics of ``model`` (a directory, a name, or anything with ``predict``) on ``data``."""
    from simmatch.evaluation import PairClassificationEvaluator
    from simmatch.models import PairClassifier

    t = time.perf_counter()
    loaded = model if hasattr(model, "predict") else PairClassifier(str(model))
    scores = PairClassificationEvaluator(data, batch_size=64)(loaded)
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
    train, holdout = split_holdout(pool, args.holdout, args.train_pairs, args.split_seed)
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
    train, holdout = split_holdout(pool, args.holdout, args.train_pairs, args.split_seed)
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
            "holdout": {"data": holdout.name, "pairs": len(holdout), "split_seed": args.split_seed},
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
    _, holdout = split_holdout(resolve_dataset("qbqtc:dev"), args.holdout, None, args.split_seed)
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


def _relabel(data: Any, labels: list[str]) -> Any:
    """``data`` (labels "0"/"1") with the model's label names ("not_similar"/"similar")."""
    from dataclasses import replace

    from simmatch.data import PairDataset

    names = dict(zip(data.label_set, labels))
    return PairDataset(
        [replace(e, label=names[str(e.label)]) for e in data],
        path=data.path,
        name=data.name,
        label_type="class",
        label_set=labels,
    )


class _Probabilities:
    """A ``predict`` over probabilities already computed (rows in the evaluated pairs' order), read
    as ``PairClassifier.predict`` reads a head's output (``predictions_from_logits``)."""

    def __init__(self, pairs: list[tuple[str, str]], probabilities: Any, labels: list[str]) -> None:
        self.pairs, self.probabilities, self.labels = pairs, probabilities, labels

    def predict(self, pairs: Any, batch_size: int = 32) -> Any:
        import numpy as np

        from simmatch.models.results import predictions_from_logits

        if list(pairs) != self.pairs:
            raise SystemExit("cached probabilities asked for other pairs")
        return predictions_from_logits(np.log(np.clip(self.probabilities, 1e-12, 1.0)), self.labels)


def _twin_tower(cosines: Any, data: Any, dev_cosines: Any, dev: Any) -> dict[str, Any]:
    """Accuracy of the twin tower's cosine on ``data`` with the threshold best on ``dev``."""
    import numpy as np

    from simmatch.evaluation.metrics import best_threshold, threshold_accuracy

    def positives(d: Any) -> Any:
        return np.asarray([e.label == d.positive_label for e in d])

    threshold, dev_accuracy = best_threshold(dev_cosines, positives(dev))
    return {
        "pairs": len(data),
        "accuracy": pct(threshold_accuracy(cosines, positives(data), threshold)),
        "threshold": round(float(threshold), 4),
        "threshold_from": dev.name,
        "dev_accuracy": pct(dev_accuracy),
    }


def paraphrase_holdout(record: dict[str, Any]) -> tuple[Any, int]:
    """The hold-out that chose a paraphrase run's checkpoint, rebuilt from its ``result.json``
    record, less the pairs that repeat a pair of its training part (the pool's data sets repeat a
    few text pairs); returns ``(holdout, pairs left out)``."""
    from simmatch.data import PairDataset

    pool = _concat(PARAPHRASE_TRAIN)
    if record["train"]["data"] != pool.name:
        raise SystemExit(f"the run trained on {record['train']['data']}, not {pool.name}")
    holdout_n, train_n, seed = record["holdout"]["pairs"], record["train"]["pairs"], split_seed(record)
    train, holdout = split_holdout(pool, holdout_n, train_n, seed)
    seen = {(e.sentence1, e.sentence2) for e in train}
    keep = [e for e in holdout if (e.sentence1, e.sentence2) not in seen]
    leaked = len(holdout) - len(keep)
    if leaked > len(holdout) // 100:
        raise SystemExit(f"{leaked} hold-out pairs are in the run's training part")
    if leaked:
        print(f"{leaked} hold-out pair(s) also in the run's training part: left out", flush=True)
        holdout = PairDataset(
            keep, name=holdout.name, label_type=holdout.label_type, label_set=holdout.label_set
        )
    return holdout, leaked


def run_paraphrase_ensemble(args: argparse.Namespace) -> None:
    """Paraphrase ensemble: the member cross-encoder + token overlap + the built-in e5's cosine, a
    logistic stacker fitted on the hold-out that chose the member's checkpoint (reproduced from
    results/paraphrase-zh.json). Reported: the ensemble, the member alone and the twin tower's
    thresholded cosine, on the built-in rows' splits and limits. One pass per split: the saved
    ensemble (loaded by ``PairClassifier``) computes its design matrix (member probabilities, then
    features); the member's row is its columns, the twin tower's the cosine column."""
    import numpy as np

    from simmatch.data import resolve_dataset
    from simmatch.ensemble import fit_ensemble
    from simmatch.evaluation.evaluators import pair_cosines
    from simmatch.models import Embedder, PairClassifier

    start = time.perf_counter()
    machine = _machine()
    record = json.loads((RESULTS / "paraphrase-zh.json").read_text(encoding="utf-8"))
    holdout, leaked = paraphrase_holdout(record)
    holdout_n, train_n, seed = record["holdout"]["pairs"], record["train"]["pairs"], split_seed(record)
    members = [PairClassifier(m, backend=args.backend) for m in args.members]
    for name, m in zip(args.members, members):
        if hasattr(m.model, "members"):
            raise SystemExit(f"member {name} is itself an ensemble; pass its cross-encoder (members/0)")
    labels = members[0].labels
    holdout = _relabel(holdout, labels)
    embedder = Embedder(MODEL, backend=args.backend)
    ensemble = fit_ensemble(members, holdout, combiner="logistic", features=args.features, embedder=embedder)
    out = ensemble.save(args.out / "ensemble")
    loaded = PairClassifier(out, backend=args.backend)
    model = loaded.model
    n_members = len(members) * len(labels)
    cosine_col = n_members + model.features.index("cosine") if "cosine" in model.features else None
    # Threshold sources for the twin tower: lcqmc:dev for LCQMC (as docs/quality.md's 83.25), the
    # paraphrase hold-out (also the stacker's data) for the others; both listed for every split.
    dev_sets = {"lcqmc:dev": _relabel(resolve_dataset("lcqmc:dev"), labels), "hold-out": holdout}
    dev_cos = {k: pair_cosines(embedder, d, kind="query") for k, d in dev_sets.items()}
    primary = {"lcqmc:test": "lcqmc:dev"}
    metrics: dict[str, Any] = {"ensemble": {}, "member": {}, "twin tower": {}}
    check: dict[str, Any] = {}
    for split in PARAPHRASE_EVAL:
        data = _relabel(resolve_dataset(split, limit=args.eval_limit), labels)
        t = time.perf_counter()
        x = model.design(data.pairs, 64)
        seconds = round(time.perf_counter() - t, 1)
        probs = model._apply(x)
        ens = _classify(_Probabilities(data.pairs, probs, labels), data)
        metrics["ensemble"][split] = {**ens, "seconds": seconds}
        member_only = _Probabilities(data.pairs, x[:, : len(labels)], labels)  # the first member's columns
        metrics["member"][split] = {**_classify(member_only, data), "seconds": None}
        if cosine_col is not None:
            cos = x[:, cosine_col]
            twin = {k: _twin_tower(cos, data, dev_cos[k], d) for k, d in dev_sets.items()}
            chosen = primary.get(split, "hold-out")
            metrics["twin tower"][split] = {
                **twin[chosen],
                "other": twin[next(k for k in twin if k != chosen)],
            }
        print(split, {k: v.get(split) for k, v in metrics.items()}, flush=True)
        if not check:  # the cached path is PairClassifier's: compare on the first 200 pairs
            got = loaded.predict(data.pairs[:200], batch_size=64)
            direct = np.array([[p.probabilities[k] for k in labels] for p in got])
            alone = members[0].predict(data.pairs[:200], batch_size=64)
            member = np.array([[p.probabilities[k] for k in labels] for p in alone])
            check = {
                "pairs": 200,
                "split": split,
                "ensemble_max_difference": float(np.abs(direct - probs[:200]).max()),
                "member_max_difference": float(np.abs(member - x[:200, : len(labels)]).max()),
            }
    _write(
        args.out,
        {
            "task": "paraphrase-ensemble",
            "machine": machine,
            "backend": args.backend,
            "members": args.members,
            "features": model.features,
            "embedder": MODEL,
            "stacker": {"combiner": "logistic", "C": 1.0, "class_weight": None, "weights": model.weights},
            "stacker_fitted_on": {
                "data": holdout.name,
                "pairs": len(holdout),
                "split": {"holdout": holdout_n, "train_pairs": train_n, "seed": seed},
                "overlap_with_training_part": leaked,  # left out of the stacker's data
            },
            "evaluated_on": {s: f"first {args.eval_limit} pairs" for s in PARAPHRASE_EVAL},
            "twin_tower_threshold": {s: primary.get(s, "hold-out") for s in PARAPHRASE_EVAL},
            "cached_path_check": check,
            "metrics": metrics,
            "wall_seconds": round(time.perf_counter() - start, 1),
        },
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("task", choices=("heads", "relevance", "paraphrase", "ensemble", "paraphrase-ensemble"))
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
    p.add_argument("--seed", type=int, default=42, help="training seed (initialisation, order, dropout)")
    p.add_argument(
        "--split-seed",
        type=int,
        default=42,
        help="seed of the training / hold-out split (fixed: ensemble members share one hold-out)",
    )
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--backend", default="onnx", help="paraphrase-ensemble: backend of members and embedder")
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
    elif args.task == "paraphrase-ensemble":
        args.eval_limit = args.eval_limit or 5000
        run_paraphrase_ensemble(args)
    else:
        run_model(args)


if __name__ == "__main__":
    main()
