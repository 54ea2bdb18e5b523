"""``simmatch eval cross-encoder|embedder``: score a model on a labeled pair set with
``simmatch.evaluation.evaluate_dataset`` and print its record as one JSON object."""

from __future__ import annotations

import argparse
import json

from simmatch.cli._common import add_scoring_options, positive_int
from simmatch.cli._io import (
    add_label_map_argument,
    add_score_range_argument,
    parse_label_map,
    parse_score_range,
)
from simmatch.models.registry import DEFAULT_EMBEDDER


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a cross-encoder or an embedder on labeled pairs")
    kinds = p.add_subparsers(dest="family", metavar="FAMILY", required=True)

    ce = kinds.add_parser("cross-encoder", help="accuracy / macro-F1 / AP (classes) or Spearman (scores)")
    ce.add_argument("--model", "-m", required=True, help="a PairClassifier directory")
    _common(ce)
    ce.set_defaults(func=run, threshold_from=None, kind="query")

    emb = kinds.add_parser(
        "embedder", help="Spearman of cosine vs. label; AP and accuracy at a dev-chosen threshold"
    )
    emb.add_argument(
        "--model", "-m", default=DEFAULT_EMBEDDER, help=f"embedding model (default {DEFAULT_EMBEDDER})"
    )
    emb.add_argument(
        "--threshold-from",
        help="binary data: choose the accuracy threshold on this NAME:SPLIT or file (a dev split, "
        "not --data; read with the same --limit and --label-map)",
    )
    emb.add_argument("--kind", default="query", help="prompt for both sides (default query)")
    _common(emb)
    emb.set_defaults(func=run)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", "-d", required=True, help="NAME:SPLIT (e.g. lcqmc:test) or a pair file")
    p.add_argument("--limit", type=positive_int, default=None, help="evaluate the first N pairs only")
    add_score_range_argument(p)
    add_label_map_argument(p)
    p.add_argument(
        "--plot",
        metavar="PNG",
        help="also write score distributions per label (and, for two labels, accuracy vs threshold)",
    )
    add_scoring_options(p)


def run(args: argparse.Namespace) -> int:
    from simmatch.evaluation import evaluate_dataset

    record = evaluate_dataset(
        args.model,
        args.data,
        family=args.family,
        threshold_from=args.threshold_from,
        limit=args.limit,
        score_range=parse_score_range(args.score_range),
        label_map=parse_label_map(args.label_map),
        backend=args.backend,
        kind=args.kind,
        batch_size=args.batch_size,
        device=args.device,
        plot=args.plot,
    )
    print(json.dumps(record, ensure_ascii=False))
    return 0
