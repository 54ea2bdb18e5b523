"""``simmatch train cross-encoder|embedder``: fine-tune a model on labeled pairs (or retrieval
examples) and write a directory that ``PairClassifier`` / ``Embedder`` load. The training flags are
generated from ``simmatch.training.TrainingConfig``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from simmatch.cli._flags import Flag, add_config_arguments, config_from_args
from simmatch.cli._io import (
    add_label_map_argument,
    add_score_range_argument,
    parse_label_map,
    parse_score_range,
)
from simmatch.models.registry import DEFAULT_EMBEDDER

# TrainingConfig's flags are generated (simmatch.cli._flags); ``--out DIR`` names ``output_dir``.
CONFIG_PREFIX = "config_"
CONFIG_FLAGS = {"output_dir": Flag(name="--out", metavar="DIR")}


def _options(items: list[str] | None) -> dict[str, Any]:
    """``key=value`` pairs; values parsed as JSON when they are JSON (numbers, lists), else strings."""
    from simmatch.errors import InputError

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"expected KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def add_parser(sub: argparse._SubParsersAction) -> None:
    from simmatch.training.config import TrainingConfig

    p = sub.add_parser("train", help="fine-tune a cross-encoder or an embedder on labeled pairs")
    kinds = p.add_subparsers(dest="family", metavar="FAMILY", required=True)

    ce = kinds.add_parser("cross-encoder", help="single tower: pair → label / score (PairClassifier)")
    _common(ce, default_loss="ce", losses="ce, lsce, balanced-ce, mse")
    ce.add_argument(
        "--labels",
        help="comma-separated class names in head order (default: the training labels); "
        "score data trains a regression head",
    )
    add_config_arguments(ce, TrainingConfig, prefix=CONFIG_PREFIX, flags=CONFIG_FLAGS)
    ce.set_defaults(func=run_cross_encoder)

    emb = kinds.add_parser("embedder", help="twin tower: text → vector (Embedder)")
    _common(emb, default_loss="cosent", losses="cosent, contrastive, mnrl")
    emb.add_argument("--retrieval", action="store_true", help="--train is JSON lines {query, pos, neg}")
    emb.add_argument(
        "--hard-negatives",
        choices=("bm25", "two-stage"),
        help="mine negatives for mnrl (two-stage: BM25, then the stage-1 model)",
    )
    emb.add_argument(
        "--num-negatives", type=int, default=1, help="negatives per example for mnrl (default 1)"
    )
    emb.add_argument("--kind", default="query", help="prompt for both sides of a pair (default query)")
    add_config_arguments(emb, TrainingConfig, prefix=CONFIG_PREFIX, flags=CONFIG_FLAGS)
    emb.set_defaults(func=run_embedder)


def _common(p: argparse.ArgumentParser, *, default_loss: str, losses: str) -> None:
    p.add_argument(
        "--base", default=DEFAULT_EMBEDDER, help=f"model to start from (default {DEFAULT_EMBEDDER})"
    )
    p.add_argument("--train", required=True, help="training data: NAME:SPLIT (e.g. qbqtc:dev) or a file")
    p.add_argument("--dev", help="dev data for checkpoint choice: NAME:SPLIT or a file")
    p.add_argument("--limit", type=int, default=None, help="use only the first N training examples")
    add_score_range_argument(p)
    add_label_map_argument(p)
    p.add_argument("--loss", default=default_loss, help=f"{losses} (default {default_loss})")
    p.add_argument(
        "--loss-option",
        action="append",
        metavar="KEY=VALUE",
        help="loss hyper-parameter, repeatable (e.g. tau=1.0)",
    )


def _human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def _report(result: Any) -> int:
    """The result as one JSON line on stdout; what the run left on disk on stderr (under
    torchrun: one report, from rank 0)."""
    import sys

    from simmatch.training.core import directory_size, world_rank

    if world_rank()[0] != 0:
        return 0

    out = result.output_dir
    checkpoints = out / "checkpoints"
    kept = (
        f"checkpoints kept in {checkpoints} ({_human_bytes(directory_size(checkpoints))})"
        if checkpoints.is_dir()
        else "checkpoints removed (--keep-checkpoints keeps them)"
    )
    print(f"simmatch: {out} holds {_human_bytes(directory_size(out))}; {kept}", file=sys.stderr)
    print(
        json.dumps(
            {
                "output_dir": str(result.output_dir),
                "steps": result.global_step,
                "train_seconds": round(result.wall_time_s, 1),
                "best_metric": result.best_metric,
                "metric": result.metric_name,
                "best_checkpoint": result.best_checkpoint,
            },
            ensure_ascii=False,
        )
    )
    return 0


def run_cross_encoder(args: argparse.Namespace) -> int:
    from simmatch.data import resolve_dataset
    from simmatch.training import TrainingConfig, train_cross_encoder

    config = config_from_args(TrainingConfig, args, prefix=CONFIG_PREFIX)
    labels = [x.strip() for x in args.labels.split(",")] if args.labels else None
    data: dict[str, Any] = {
        "score_range": parse_score_range(args.score_range),
        "label_map": parse_label_map(args.label_map),
    }
    result = train_cross_encoder(
        args.base,
        resolve_dataset(args.train, limit=args.limit, **data),
        dev=resolve_dataset(args.dev, **data) if args.dev else None,
        labels=labels,
        loss=args.loss,
        loss_options=_options(args.loss_option),
        config=config,
    )
    return _report(result)


def run_embedder(args: argparse.Namespace) -> int:
    from simmatch.data import resolve_dataset
    from simmatch.training import TrainingConfig, train_embedder

    config = config_from_args(TrainingConfig, args, prefix=CONFIG_PREFIX)
    data: dict[str, Any] = {
        "score_range": parse_score_range(args.score_range),
        "label_map": parse_label_map(args.label_map),
    }
    result = train_embedder(
        args.base,
        resolve_dataset(args.train, limit=args.limit, retrieval=args.retrieval, **data),
        dev=resolve_dataset(args.dev, **data) if args.dev else None,
        loss=args.loss,
        loss_options=_options(args.loss_option),
        hard_negatives=args.hard_negatives,
        num_negatives=args.num_negatives,
        kind=args.kind,
        config=config,
    )
    return _report(result)
