"""Quality benchmark: zero-shot twin tower, trained cross-encoders and a fine-tuned twin tower.

Rows (``--rows``, comma-separated; default all):

    zero-shot        built-in multilingual-e5-small, "query: " on both sides: Spearman of cosine on
                     LCQMC test, BQ dev, AFQMC dev, PAWS-X zh dev, STS-B zh test, STS-B en test;
                     LCQMC test accuracy at the threshold that is best on LCQMC dev
    qbqtc            cross-encoder (e5-small base, plain cross-entropy) trained on part of QBQTC
                     dev.json, checkpoint chosen on a held-out part of dev.json, scored on test_public
    qbqtc-balanced   the same with the class-imbalance loss (logit adjustment by the class priors)
    qbqtc-balanced-all  the class-imbalance loss on all of dev.json except the hold-out (~18.5k pairs)
    afqmc            cross-encoder trained on a subset of AFQMC train (checkpoint chosen on a
                     held-out part of train), scored on AFQMC dev
    afqmc-balanced   the same with the class-imbalance loss
    stsb-cosent      twin tower fine-tuned with CoSENT on STS-B zh train (checkpoint chosen on the
                     mean Spearman of STS-B zh dev and 2,000 LCQMC dev pairs): STS-B zh test and
                     LCQMC test Spearman before/after
    stsb-cosent-wise the stsb-cosent model mixed with the base in weight space (WiSE-FT,
                     ``interpolate_weights``), alpha chosen on the same two dev sets; needs the
                     stsb-cosent row's model under --models-dir

No threshold or checkpoint is ever chosen on the split that is reported. Each row records its
command, wall time and machine; rows merge into ``bench/out/quality.json`` (so rows can be run
separately) and ``docs/quality.md`` is regenerated from that file.

    python bench/quality/run.py                      # everything (hours on two shared CPU cores)
    python bench/quality/run.py --rows qbqtc --quick # smoke run: tiny subsets, a few steps
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

# Run as a script: this directory is on sys.path, so its sibling modules import by name.
from report import table_lines, write_doc
from rows import ROWS, RUNNERS

ROOT = Path(__file__).resolve().parents[2]
OUT_JSON = ROOT / "bench" / "out" / "quality.json"
DOC = ROOT / "docs" / "quality.md"


# ------------------------------------------------------------------------------------ helpers
def machine() -> dict[str, Any]:
    import torch

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "load_avg_1m_at_start": None if load is None else round(load, 2),
    }


def code_version() -> str:
    """The commit the code ran from, with "+changes" when src/ or bench/ differ from it."""
    import subprocess

    def git(*a: str) -> str:
        done = subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("+changes" if git("status", "--porcelain", "--", "src", "bench/quality") else "")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated, from: {', '.join(ROWS)}")
    p.add_argument("--quick", action="store_true", help="smoke run: tiny subsets, 4 training steps")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--batch-size", type=int, default=64, help="inference batch size")
    p.add_argument("--train-batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--epochs", type=float, default=1.0, help="epochs for the cross-encoder rows")
    p.add_argument("--max-seq-length", type=int, default=64, help="training truncation (tokens)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument(
        "--qbqtc-train", type=int, default=6000, help="QBQTC training pairs (of 18k after hold-out)"
    )
    p.add_argument(
        "--qbqtc-holdout", type=int, default=1500, help="QBQTC dev.json pairs held out for checkpoints"
    )
    p.add_argument("--qbqtc-eval-every", type=int, default=125)
    p.add_argument("--afqmc-train", type=int, default=6000)
    p.add_argument("--afqmc-holdout", type=int, default=1000)
    p.add_argument(
        "--afqmc-loss", default="ce", choices=("ce", "balanced-ce"), help="loss of the afqmc row (default ce)"
    )
    p.add_argument("--afqmc-eval-every", type=int, default=125)
    p.add_argument("--stsb-train", type=int, default=None, help="STS-B zh train pairs (default all 5,231)")
    p.add_argument("--stsb-epochs", type=float, default=1.0)
    p.add_argument("--stsb-eval-every", type=int, default=80)
    p.add_argument(
        "--stsb-lcqmc-dev",
        type=int,
        default=2000,
        help="LCQMC dev pairs averaged with STS-B zh dev to choose the CoSENT checkpoint",
    )
    p.add_argument(
        "--wise-alphas",
        default="0.25,0.5,0.75,1.0",
        help="stsb-cosent-wise: weights of the fine-tuned model tried (1.0 = the fine-tuned model)",
    )
    p.add_argument(
        "--backend",
        default="onnx",
        choices=("torch", "onnx"),
        help="inference backend of the twin-tower rows (fp32 ONNX matches torch, see docs/speed.md)",
    )
    p.add_argument("--eval-limit", type=int, default=None, help="evaluate on the first N pairs only")
    p.add_argument("--models-dir", type=Path, default=ROOT / "bench" / "out" / "quality-models")
    p.add_argument("--out", type=Path, default=OUT_JSON)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--no-doc", action="store_true", help="do not regenerate docs/quality.md")
    p.add_argument("--doc-only", action="store_true", help="only regenerate docs/quality.md from --out")
    p.add_argument(
        "--merge",
        type=Path,
        action="append",
        default=[],
        help="with --doc-only: first copy the rows of this JSON file into --out (repeatable; later wins)",
    )
    args = p.parse_args(argv)
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        p.error(f"unknown row {unknown[0]!r}; choose from {', '.join(ROWS)}")
    args.row_list = rows
    if args.quick:
        args.eval_limit = args.eval_limit or 200
        args.models_dir = args.models_dir.parent / (args.models_dir.name + "-quick")
        if args.out == OUT_JSON:
            args.out = OUT_JSON.with_name("quality-quick.json")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.doc_only:
        rows = json.loads(args.out.read_text(encoding="utf-8"))["rows"] if args.out.exists() else {}
        for extra in args.merge:
            rows.update(json.loads(extra.read_text(encoding="utf-8"))["rows"])
        if args.merge:
            text = json.dumps({"rows": rows}, indent=2, ensure_ascii=False) + "\n"
            args.out.write_text(text, encoding="utf-8")
        write_doc(rows, DOC)
        print(f"wrote {DOC.relative_to(ROOT)} from {args.out}")
        return 0
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    command = "python bench/quality/run.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    stored: dict[str, Any] = {}
    if args.out.exists():
        stored = json.loads(args.out.read_text(encoding="utf-8"))
    rows: dict[str, Any] = stored.get("rows", {})
    for name in args.row_list:
        print(f"[{name}] running", flush=True)
        start = time.perf_counter()
        mach = machine()
        version = code_version()
        result = RUNNERS[name](args)
        result.update(
            command=command,
            wall_seconds=round(time.perf_counter() - start, 1),
            machine=mach,
            code=version,
            quick=bool(args.quick),
            finished=time.strftime("%Y-%m-%d %H:%M:%S"),
        )
        rows[name] = result
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"rows": rows}, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"[{name}] done in {result['wall_seconds']} s", flush=True)
    print()
    print("\n".join(table_lines(rows)))
    if not args.no_doc and not args.quick:
        write_doc(rows, DOC)
        print(f"\nwrote {args.out} and {DOC.relative_to(ROOT)}")
    else:
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
