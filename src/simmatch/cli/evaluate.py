"""``simmatch eval cross-encoder|embedder``: score a model on a labeled pair set with
``simmatch.evaluation`` and print the metrics as one JSON object."""

from __future__ import annotations

import argparse
import json
from typing import Any

from simmatch.cli._io import add_score_range_argument, parse_score_range
from simmatch.models.registry import DEFAULT_EMBEDDER


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a cross-encoder or an embedder on labeled pairs")
    kinds = p.add_subparsers(dest="family", metavar="FAMILY", required=True)

    ce = kinds.add_parser("cross-encoder", help="accuracy / macro-F1 (classes) or Spearman (scores)")
    ce.add_argument("--model", "-m", required=True, help="a PairClassifier directory")
    _common(ce)
    ce.set_defaults(func=run_cross_encoder)

    emb = kinds.add_parser(
        "embedder", help="Spearman of cosine vs. label; accuracy at a dev-chosen threshold"
    )
    emb.add_argument(
        "--model", "-m", default=DEFAULT_EMBEDDER, help=f"embedding model (default {DEFAULT_EMBEDDER})"
    )
    emb.add_argument(
        "--threshold-from", help="binary data: choose the accuracy threshold on this NAME:SPLIT or file"
    )
    emb.add_argument("--kind", default="query", help="prompt for both sides (default query)")
    _common(emb)
    emb.set_defaults(func=run_embedder)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", "-d", required=True, help="NAME:SPLIT (e.g. lcqmc:test) or a pair file")
    p.add_argument("--limit", type=int, default=None, help="evaluate the first N pairs only")
    add_score_range_argument(p)
    p.add_argument(
        "--plot",
        metavar="PNG",
        help="also write score distributions per label (and, for two labels, accuracy vs threshold)",
    )
    p.add_argument("--batch-size", type=int, default=64, help="model batch size (default 64)")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")


def _finish(args: argparse.Namespace, evaluator: Any, data_name: str, metrics: dict[str, float]) -> int:
    out: dict[str, Any] = {"data": data_name, "primary_metric": evaluator.primary_metric, **metrics}
    if args.plot:
        out["plot"] = str(evaluator.plot(args.plot, title=f"{args.model} on {data_name}"))
    print(json.dumps(out, ensure_ascii=False))
    return 0


def run_cross_encoder(args: argparse.Namespace) -> int:
    from simmatch.data import resolve_dataset
    from simmatch.evaluation import PairClassificationEvaluator
    from simmatch.models import PairClassifier

    data = resolve_dataset(args.data, limit=args.limit, score_range=parse_score_range(args.score_range))
    evaluator = PairClassificationEvaluator(data, batch_size=args.batch_size)
    clf = PairClassifier(args.model, device=args.device)
    return _finish(args, evaluator, data.name, evaluator(clf))


def run_embedder(args: argparse.Namespace) -> int:
    from simmatch.data import resolve_dataset
    from simmatch.evaluation import EmbeddingSimilarityEvaluator
    from simmatch.models import Embedder

    scores = parse_score_range(args.score_range)
    data = resolve_dataset(args.data, limit=args.limit, score_range=scores)
    threshold_from = resolve_dataset(args.threshold_from, score_range=scores) if args.threshold_from else None
    evaluator = EmbeddingSimilarityEvaluator(
        data, kind=args.kind, threshold_from=threshold_from, batch_size=args.batch_size
    )
    # Typed Any: the evaluator's SupportsEncode protocol declares kind: str, Embedder a Literal.
    model: Any = Embedder(args.model, device=args.device)
    return _finish(args, evaluator, data.name, evaluator(model))
