"""Check that a built-in cross-encoder reproduces: rerun its recorded command into a new directory,
then compare the rerun with what the repository ships.

    python bench/quality/builtin.py relevance --out runs/relevance-repro --holdout 1000 --epochs 2 \\
        --eval-every 600 --threads 2        # the command in bench/quality/results/relevance-zh.json
    python bench/quality/reproduce.py --run runs/relevance-repro --builtin relevance-zh

Compared: the digest of the rerun's stored form (fp16 body and head, as ``package`` writes it, into
a temporary directory) against the committed manifest's ``weights_sha256``; the chosen checkpoint,
its hold-out value and every reported metric against the original record
(``results/<builtin>.json``); and the training speed of both. Writes
``results/<builtin>-repro.json``, which ``builtin_report.py`` renders.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from builtin import RESULTS

METRICS = ("macro_f1", "accuracy")


def _step(checkpoint: str | None) -> int | None:
    """The step of a ``checkpoint-N`` path (the directories differ between runs, the step must not)."""
    return int(checkpoint.rsplit("-", 1)[1]) if checkpoint else None


def _side(record: dict[str, Any]) -> dict[str, Any]:
    m = record["machine"]
    return {
        "command": m["command"],
        "code": m["code"],
        "load_at_start": m["load_at_start"],
        "note": m["note"],
        "checkpoint_step": _step(record["best_checkpoint"]),
        "holdout": {record["checkpoint_metric"]: record["checkpoint_metric_value"]},
        "pairs_per_second": record["pairs_per_second"],
        "metrics": {s: {k: v[k] for k in METRICS} for s, v in record["metrics"].items()},
    }


def compare(run: Path, builtin: str, how: str | None = None) -> dict[str, Any]:
    from simmatch.models.builtin_ce import package, stored_dir

    original = json.loads((RESULTS / f"{builtin}.json").read_text(encoding="utf-8"))
    rerun = json.loads((run / "result.json").read_text(encoding="utf-8"))
    committed = json.loads((stored_dir(builtin) / "manifest.json").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        manifest = package(run, builtin, root=Path(tmp))
    a, b = _side(original), _side(rerun)
    differences = {
        split: {k: round(b["metrics"][split][k] - v[k], 2) for k in METRICS}
        for split, v in a["metrics"].items()
    }
    return {
        "task": "reproduction",
        "builtin": builtin,
        "run": str(run),
        "how": how or b["note"],
        "original": a,
        "rerun": b,
        "weights_sha256": {
            "committed": committed["weights_sha256"],
            "rerun": manifest["weights_sha256"],
            "equal": committed["weights_sha256"] == manifest["weights_sha256"],
        },
        "metric_differences": differences,
        "same_checkpoint": a["checkpoint_step"] == b["checkpoint_step"],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, required=True, help="the rerun's --out directory")
    p.add_argument("--builtin", required=True, help="the built-in it reruns (relevance-zh, paraphrase-zh)")
    p.add_argument("--how", default=None, help="how the rerun ran (machine, other jobs), for the report")
    args = p.parse_args()
    if not (args.run / "result.json").is_file():
        raise SystemExit(f"{args.run}/result.json: not found (has the rerun finished?)")
    result = compare(args.run, args.builtin, args.how)
    out = RESULTS / f"{args.builtin}-repro.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
