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
import random
import shlex
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
OUT_JSON = ROOT / "bench" / "out" / "quality.json"
DOC = ROOT / "docs" / "quality.md"
MODEL = "multilingual-e5-small"
ROWS = (
    "zero-shot",
    "qbqtc",
    "qbqtc-balanced",
    "qbqtc-balanced-all",
    "afqmc",
    "afqmc-balanced",
    "stsb-cosent",
    "stsb-cosent-wise",
)

# Published references the rows are read against (see docs/quality.md for their sources).
ANCHORS = {
    "qbqtc": "QBQTC test_public, trained on the full 180k train split: BERT-base macro-F1 64.1 / acc 71.8; "
    "MaSTS (CLUE leader) 74.1 / 79.7",
    "afqmc": "AFQMC dev accuracy, BERT-base 74.16",
    "stsb": "text2vec-base-chinese (CoSENT): LCQMC test 70.16, STS-B zh test 79.30 Spearman",
}


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


def pct(x: float | None) -> float | None:
    return None if x is None else round(100 * float(x), 2)


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


def limited(name: str, split: str, limit: int | None) -> Any:
    from simmatch.data import load_benchmark

    return load_benchmark(name, split, limit=limit)


# ------------------------------------------------------------------------------------ rows
def row_zero_shot(args: argparse.Namespace) -> dict[str, Any]:
    from simmatch.evaluation import EmbeddingSimilarityEvaluator
    from simmatch.models import Embedder

    lim = args.eval_limit
    emb = Embedder(MODEL, backend=args.backend)
    metrics: dict[str, Any] = {}
    sets = [
        ("lcqmc/test", "lcqmc", "test"),
        ("bq/dev", "bq", "dev"),
        ("afqmc/dev", "afqmc", "dev"),
        ("pawsx-zh/dev", "pawsx-zh", "dev"),
        ("stsb-zh/test", "stsb-zh", "test"),
        ("stsb-en/test", "stsb-en", "test"),
    ]
    for key, name, split in sets:
        data = limited(name, split, lim)
        threshold_from = limited("lcqmc", "dev", lim) if name == "lcqmc" else None
        t = time.perf_counter()
        result = EmbeddingSimilarityEvaluator(
            data, kind="query", threshold_from=threshold_from, batch_size=args.batch_size
        )(emb)
        entry = {
            "spearman": pct(result["spearman"]),
            "pairs": len(data),
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
        pool = limited("qbqtc", "dev", 400 if args.quick else None)
        train_limit = None if row == "qbqtc-balanced-all" else args.qbqtc_train
        train, holdout = split_holdout(
            pool, 100 if args.quick else args.qbqtc_holdout, train_limit, args.seed
        )
        test = limited("qbqtc", "test_public", args.eval_limit)
        loss = "balanced-ce" if row.startswith("qbqtc-balanced") else "ce"
        eval_every = args.qbqtc_eval_every
    else:
        pool = limited("afqmc", "train", 400 if args.quick else None)
        train, holdout = split_holdout(
            pool, 100 if args.quick else args.afqmc_holdout, args.afqmc_train, args.seed
        )
        test = limited("afqmc", "dev", args.eval_limit)
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
        "stsb": limited("stsb-zh", "dev", 200 if args.quick else None),
        "lcqmc": limited("lcqmc", "dev", 200 if args.quick else args.stsb_lcqmc_dev),
    }


def _stsb_test_sets(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "stsb-zh/test": limited("stsb-zh", "test", args.eval_limit),
        "lcqmc/test": limited("lcqmc", "test", args.eval_limit),
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

    train = limited("stsb-zh", "train", 200 if args.quick else args.stsb_train)
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


# ------------------------------------------------------------------------------------ report
def _fmt(x: Any) -> str:
    return "–" if x is None else f"{x:.2f}" if isinstance(x, float) else str(x)


def table_lines(rows: dict[str, Any]) -> list[str]:
    """One line per reported number: row, data, metric, value, anchor."""
    lines = ["| row | evaluated on | metric | value | reference |", "|---|---|---|---|---|"]
    z = rows.get("zero-shot")
    if z:
        for key, m in z["metrics"].items():
            lines.append(
                f"| zero-shot | {key} ({m['pairs']} pairs) | Spearman ×100 | {_fmt(m['spearman'])} | |"
            )
            if "accuracy" in m:
                ref = f"threshold {m['threshold']} chosen on lcqmc/dev (dev acc {_fmt(m['dev_accuracy'])})"
                lines.append(f"| zero-shot | {key} | accuracy | {_fmt(m['accuracy'])} | {ref} |")
    for row in ("qbqtc", "qbqtc-balanced", "qbqtc-balanced-all", "afqmc", "afqmc-balanced"):
        r = rows.get(row)
        if not r:
            continue
        anchor = ANCHORS["afqmc" if row.startswith("afqmc") else "qbqtc"]
        for key, m in r["metrics"].items():
            if key == "checkpoint_dev":
                continue
            lines.append(
                f"| {row} | {key} ({m['pairs']} pairs) | macro-F1 | {_fmt(m['macro_f1'])} | {anchor} |"
            )
            lines.append(f"| {row} | {key} | accuracy | {_fmt(m['accuracy'])} | |")
    for row in ("stsb-cosent", "stsb-cosent-wise"):
        s = rows.get(row)
        if not s:
            continue
        label = row if row == "stsb-cosent" else f"{row} (α={s['alpha']:g}, chosen on dev)"
        for key, m in s["metrics"].items():
            if key == "checkpoint_dev":
                continue
            lines.append(
                f"| {label} | {key} ({m['pairs']} pairs) | Spearman ×100 before → after | "
                f"{_fmt(m['spearman_before'])} → {_fmt(m['spearman_after'])} | {ANCHORS['stsb']} |"
            )
    return lines


def runs_lines(rows: dict[str, Any]) -> list[str]:
    lines = ["| row | command | code | wall time | machine | training |", "|---|---|---|---|---|---|"]
    for name in ROWS:
        r = rows.get(name)
        if not r:
            continue
        m = r["machine"]
        mach = (
            f"{m['cpu_count']} CPU cores ({m['processor']}), torch threads {m['torch_threads']}, "
            f"{m['device']}, load {m['load_avg_1m_at_start']} at start"
        )
        if "backend" in r:
            mach += f"; inference backend {r['backend']}"
        training = "–"
        if "train" in r:
            c = r["config"]
            dev = r["metrics"].get("checkpoint_dev", {})
            training = (
                f"{r['train']['pairs']} pairs, {r['steps']} steps (batch {c['batch_size']}, lr {c['lr']}, "
                f"max_seq_length {c['max_seq_length']}, frozen embeddings {c['freeze_embeddings']}), "
                f"{r['train_seconds']} s; loss {r['loss']}; checkpoint chosen on {dev.get('split')} "
                f"({dev.get('metric')} = {_fmt(dev.get('best'))})"
            )
        code = r.get("code", "not recorded")
        wall = f"{r['wall_seconds']:.0f} s"
        lines.append(f"| {name} | `{r['command']}` | {code} | {wall} | {mach} | {training} |")
    return lines


def comparison_lines(rows: dict[str, Any]) -> list[str]:
    """Plain-language deltas between rows that answer a question (only when both rows exist)."""
    out = []
    plain, balanced = rows.get("qbqtc"), rows.get("qbqtc-balanced")
    if plain and balanced:
        a, b = plain["metrics"]["qbqtc/test_public"], balanced["metrics"]["qbqtc/test_public"]
        out.append(
            f"- Class-imbalance loss on QBQTC test_public (same data, steps and seed): macro-F1 "
            f"{_fmt(a['macro_f1'])} → {_fmt(b['macro_f1'])}, accuracy {_fmt(a['accuracy'])} → "
            f'{_fmt(b["accuracy"])}, F1 of the rare label "2" {_fmt(a["f1_2"])} → {_fmt(b["f1_2"])}.'
        )
    af, afb = rows.get("afqmc"), rows.get("afqmc-balanced")
    if af and afb:
        a, b = af["metrics"]["afqmc/dev"], afb["metrics"]["afqmc/dev"]
        out.append(
            f"- AFQMC: plain cross-entropy stays at the majority class (F1 of label 1 {_fmt(a['f1_1'])}, "
            f"accuracy {_fmt(a['accuracy'])} = the share of label 0); the class-imbalance loss learns "
            f"both classes (F1 of label 1 {_fmt(b['f1_1'])}, macro-F1 {_fmt(a['macro_f1'])} → "
            f"{_fmt(b['macro_f1'])}) at lower accuracy ({_fmt(b['accuracy'])})."
        )
    full = rows.get("qbqtc-balanced-all")
    if balanced and full:
        a, b = balanced["metrics"]["qbqtc/test_public"], full["metrics"]["qbqtc/test_public"]
        out.append(
            f"- More data with the class-imbalance loss ({balanced['train']['pairs']} → "
            f"{full['train']['pairs']} training pairs): macro-F1 {_fmt(a['macro_f1'])} → "
            f"{_fmt(b['macro_f1'])}, accuracy {_fmt(a['accuracy'])} → {_fmt(b['accuracy'])}."
        )
    s = rows.get("stsb-cosent")
    if s:
        for key, m in s["metrics"].items():
            if key != "checkpoint_dev":
                delta = m["spearman_after"] - m["spearman_before"]
                out.append(f"- CoSENT on STS-B zh train changes {key} Spearman by {delta:+.2f} points.")
    w = rows.get("stsb-cosent-wise")
    if w:
        tried = ", ".join(f"α={a}: {v['mean']:.2f}" for a, v in w["alphas_on_dev"].items())
        out.append(
            f"- WiSE-FT (weights (1-α)·base + α·fine-tuned): mean dev Spearman {tried}; "
            f"α={w['alpha']:g} chosen on dev only."
        )
    return [*out, ""] if out else []


def target_lines(rows: dict[str, Any]) -> list[str]:
    """The project's targets and whether the stored rows meet them."""

    def verdict(ok: bool) -> str:
        return "met" if ok else "**missed**"

    out = ["## Targets", ""]
    names = [r for r in ("qbqtc", "qbqtc-balanced", "qbqtc-balanced-all") if r in rows]
    q = [rows[r]["metrics"]["qbqtc/test_public"]["macro_f1"] for r in names]
    if q:
        best = max(q)
        out.append(f"- QBQTC test_public macro-F1 ≥ 64.1: best row {_fmt(best)} — {verdict(best >= 64.1)}.")
    afqmc = [rows[r]["metrics"]["afqmc/dev"]["accuracy"] for r in ("afqmc", "afqmc-balanced") if r in rows]
    if afqmc:
        acc = max(afqmc)
        out.append(f"- AFQMC dev accuracy ≥ 74: best row {_fmt(acc)} — {verdict(acc >= 74)}.")
    for row in ("stsb-cosent", "stsb-cosent-wise"):
        if row not in rows:
            continue
        m = rows[row]["metrics"]
        zh, lc = m["stsb-zh/test"], m["lcqmc/test"]
        out.append(
            f"- {row}: STS-B zh test Spearman ≥ 80: {_fmt(zh['spearman_after'])} — "
            f"{verdict(zh['spearman_after'] >= 80)}; LCQMC test not below zero-shot: "
            f"{_fmt(lc['spearman_before'])} → {_fmt(lc['spearman_after'])} — "
            f"{verdict(lc['spearman_after'] >= lc['spearman_before'])}."
        )
    return [*out, ""] if len(out) > 2 else []


def write_doc(rows: dict[str, Any]) -> None:
    body = [
        "# Quality benchmark",
        "",
        "Generated by `bench/quality/run.py` from `bench/out/quality.json`; do not edit by hand. Every",
        "number below comes from the command in its row's entry under *Runs*.",
        "",
        "All models start from the built-in `multilingual-e5-small` (118M parameters, 96M of them in",
        "the word embeddings, which stay frozen during training). Training ran on a shared two-core",
        "CPU, so the training rows use subsets and a single epoch; they are far from the compute",
        "behind the published references, which are listed for orientation only.",
        "",
        "Splits: no threshold or checkpoint is chosen on a reported split. QBQTC's 180k train split is",
        "not available: the cross-encoder trains on part of `qbqtc/dev.json`, a held-out part of",
        "`dev.json` picks the checkpoint, and `test_public.json` is reported. AFQMC trains on part of",
        "`train.tsv`, a held-out part of `train.tsv` picks the checkpoint, `dev.tsv` is reported. The",
        "CoSENT row picks its checkpoint, and the WiSE-FT row its α, on STS-B zh dev plus the first",
        "2,000 LCQMC dev pairs. LCQMC accuracy uses the",
        "threshold that is best on LCQMC dev. Twin-tower rows run inference with fp32 ONNX (the same",
        "embeddings as torch: cosine 1.0000, docs/speed.md).",
        "",
        "## Results",
        "",
        *table_lines(rows),
        "",
        *comparison_lines(rows),
        *target_lines(rows),
        "## Runs",
        "",
        *runs_lines(rows),
        "",
        "## Notes",
        "",
        "- The class-imbalance loss (`balanced-ce`) is logit adjustment by the training class priors",
        "  (Menon et al., ICLR 2021), not the Erlangshen propensity-corrected loss itself: the paper's",
        "  equation could not be retrieved, and its released code's correction term is computed from",
        "  `argmax` predictions and so carries no gradient (see `src/simmatch/losses/cross_encoder.py`).",
        "- What would close the gaps (not done: CPU time): QBQTC trains here on 18.5k pairs, a tenth",
        "  of the 180k behind the 64.1 reference, with a 21M-parameter encoder body (BERT-base: 86M),",
        "  one epoch and frozen word embeddings; more data helped most (+6 macro-F1 from 6k to 18.5k",
        "  pairs), so several epochs, unfrozen embeddings and a larger Chinese base on a GPU are the",
        "  next steps. AFQMC likewise. For LCQMC after CoSENT, WiSE-FT narrows the loss to a fraction",
        "  of a point; training CoSENT on STS-B plus LCQMC-style pairs would remove the shift.",
        "- References: QBQTC numbers from the CLUEbenchmark/QBQTC README and leaderboard; AFQMC from",
        "  the CLUE baseline table; text2vec-base-chinese from the shibing624/text2vec README.",
        "",
    ]
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text("\n".join(body), encoding="utf-8")


# ------------------------------------------------------------------------------------ main
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
        write_doc(rows)
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
        write_doc(rows)
        print(f"\nwrote {args.out} and {DOC.relative_to(ROOT)}")
    else:
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
