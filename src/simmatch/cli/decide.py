"""``simmatch tune-decision``: fit a cross-encoder's per-label logit offsets on a dev split
(``simmatch.evaluation.tune_decision``), save them beside the model and print the record as JSON."""

from __future__ import annotations

import argparse
import json

from simmatch.cli._common import add_scoring_options, positive_int
from simmatch.cli._io import add_label_map_argument, parse_label_map
from simmatch.evaluation.metrics import DECISION_METRICS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tune-decision",
        help="tune a cross-encoder's per-label logit offsets on a dev split and save them with it",
    )
    p.add_argument("--model", "-m", required=True, help="a PairClassifier or ensemble directory")
    p.add_argument(
        "--dev",
        required=True,
        help="labeled pairs to tune on: NAME:SPLIT or a file (never a split you report)",
    )
    p.add_argument(
        "--metric",
        choices=DECISION_METRICS,
        default="macro_f1",
        help="what the offsets maximise (default macro_f1)",
    )
    p.add_argument("--no-save", action="store_true", help="print the offsets without writing simmatch.json")
    p.add_argument("--limit", type=positive_int, default=None, help="tune on the first N pairs only")
    add_label_map_argument(p)
    add_scoring_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from simmatch.evaluation import tune_decision

    record = tune_decision(
        args.model,
        args.dev,
        metric=args.metric,
        limit=args.limit,
        label_map=parse_label_map(args.label_map),
        backend=args.backend,
        batch_size=args.batch_size,
        device=args.device,
        save=not args.no_save,
    )
    print(json.dumps(record, ensure_ascii=False))
    return 0
