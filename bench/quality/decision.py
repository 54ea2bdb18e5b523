"""Decision offsets for trained cross-encoders (built-in runs and their ensembles): tuned on the run's
own hold-out, reported on splits the offsets never saw, before and after.

    python bench/quality/decision.py relevance --models runs/relevance-v3 runs/ensemble-v3/mean \\
        --out runs/decision-relevance              # macro-F1 on the QBQTC hold-out → qbqtc:test_public
    python bench/quality/decision.py paraphrase --models runs/paraphrase-v3 \\
        --out runs/decision-paraphrase             # accuracy on the pool's hold-out → LCQMC, BQ, AFQMC

relevance: the hold-out is the one that picked the relevance runs' checkpoints (``--holdout`` pairs
of ``qbqtc/dev.json`` at ``--split-seed``, as ``builtin.py`` draws it; ensembles fitted their stacker
on it too). paraphrase: each run's hold-out is rebuilt from its ``result.json``, less pairs that
repeat a training pair. The offsets come from ``PairClassifier.tune_decision`` (the library's search);
each split is scored once and read with and without them. ``--write`` saves the offsets in each
model's ``simmatch.json`` (``save_settings``), so every door, and a built-in packaged from the run,
decides with them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from builtin import PARAPHRASE_EVAL, _machine, _relabel, _write, paraphrase_holdout
from rows import pct, split_holdout

METRIC = {"relevance": "macro_f1", "paraphrase": "accuracy"}


def _holdout(task: str, model: str, args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    from simmatch.data import resolve_dataset

    if task == "relevance":
        _, holdout = split_holdout(resolve_dataset("qbqtc:dev"), args.holdout, None, args.split_seed)
        return holdout, {"pairs": len(holdout), "split_seed": args.split_seed}
    record_file = Path(model) / "result.json"
    if not record_file.is_file():
        raise SystemExit(f"{record_file}: a paraphrase run's result.json is needed to rebuild its hold-out")
    holdout, left_out = paraphrase_holdout(json.loads(record_file.read_text(encoding="utf-8")))
    return holdout, {"pairs": len(holdout), "left_out_as_training_repeats": left_out}


def _scored(logits: Any, data: Any, labels: list[str], offsets: Any) -> dict[str, Any]:
    from simmatch.evaluation import classification_metrics
    from simmatch.models.results import predictions_from_logits

    predicted = [p.label for p in predictions_from_logits(logits, labels, logit_offsets=offsets)]
    scores = classification_metrics([str(e.label) for e in data], predicted, labels)
    return {k: pct(v) for k, v in scores.items()}


def run(args: argparse.Namespace) -> dict[str, Any]:
    from simmatch.data import resolve_dataset
    from simmatch.models import PairClassifier

    start = time.perf_counter()
    machine = _machine()
    specs = ["qbqtc:test_public"] if args.task == "relevance" else list(PARAPHRASE_EVAL)
    metric = METRIC[args.task]
    reported = {spec: resolve_dataset(spec, limit=args.eval_limit) for spec in specs}  # read once
    shared = _holdout(args.task, "", args) if args.task == "relevance" else None  # one for all runs
    rows: dict[str, Any] = {}
    for model in args.models:
        clf = PairClassifier(model, backend=args.backend)
        holdout, about = shared or _holdout(args.task, model, args)
        holdout = _relabel(holdout, clf.labels) if args.task == "paraphrase" else holdout
        t = time.perf_counter()
        tuning = clf.tune_decision(
            holdout.pairs, [str(e.label) for e in holdout], metric=metric, batch_size=64
        )
        offsets = tuning["logit_offsets"]
        row: dict[str, Any] = {
            "offsets": offsets,
            "holdout": {**about, metric: {"before": pct(tuning["before"]), "after": pct(tuning["after"])}},
            "tune_seconds": round(time.perf_counter() - t, 1),
            "splits": {},
        }
        for spec, data in reported.items():
            data = _relabel(data, clf.labels) if args.task == "paraphrase" else data
            logits = clf.logits(data.pairs, batch_size=64)
            row["splits"][spec] = {
                "pairs": len(data),
                "before": _scored(logits, data, clf.labels, ()),
                "after": _scored(logits, data, clf.labels, offsets),
            }
        if args.write:
            clf.save_settings()
            row["written_to"] = str(Path(clf.path) / "simmatch.json")
        rows[model] = row
        print(model, json.dumps(row, ensure_ascii=False), flush=True)
    return {
        "task": f"{args.task}-decision",
        "machine": machine,
        "metric_tuned": metric,
        "backend": args.backend,
        "evaluated_on": {
            s: "all pairs" if args.eval_limit is None else f"first {args.eval_limit}" for s in specs
        },
        "models": rows,
        "wall_seconds": round(time.perf_counter() - start, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("task", choices=tuple(METRIC))
    p.add_argument("--models", nargs="+", required=True, help="model or ensemble directories")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--holdout", type=int, default=1000, help="relevance: hold-out pairs (as builtin.py)")
    p.add_argument("--split-seed", type=int, default=42, help="relevance: the hold-out's split seed")
    p.add_argument(
        "--eval-limit", type=int, default=None, help="report on the first N pairs (paraphrase: 5000)"
    )
    p.add_argument("--backend", default="torch")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--write", action="store_true", help="save the offsets in each model's simmatch.json")
    args = p.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.task == "paraphrase" and args.eval_limit is None:
        args.eval_limit = 5000  # the built-in paraphrase rows' limit
    _write(args.out, run(args))


if __name__ == "__main__":
    main()
