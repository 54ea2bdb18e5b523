"""The twin-tower section of ``docs/quality.md``, rendered from the committed results of
``bench/quality/twin.py`` (``bench/quality/results/twin-*.json``); the text between the
``twin-tower`` markers is replaced, the rest of the file is kept.

    python bench/quality/twin_report.py
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DOC = HERE.parents[1] / "docs" / "quality.md"
START, END = "<!-- twin-tower:start -->", "<!-- twin-tower:end -->"
TASKS = ("qbqtc-retrieval/test_public", "lcqmc-retrieval/test")
METRICS = ("mrr@10", "recall@1", "recall@10")
SIMILARITY = ("afqmc/dev", "lcqmc/test", "stsb-zh/test")


def _f(x: Any) -> str:
    return "–" if x is None else f"{x:.2f}"


def load() -> dict[str, dict[str, Any]]:
    return {
        p.stem.removeprefix("twin-"): json.loads(p.read_text(encoding="utf-8"))
        for p in sorted(RESULTS.glob("twin-*.json"))
    }


def retrieval_rows(results: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(label, retrieval metrics) in recipe order, for the rows that have been run."""
    rows: list[tuple[str, dict[str, Any]]] = []
    if "zero-shot" in results:
        rows.append(("zero-shot (built-in e5-small)", results["zero-shot"]["retrieval"]))
    if "mnrl-inbatch" in results:
        rows.append(("(a) MNRL, in-batch negatives", results["mnrl-inbatch"]["retrieval"]))
    if "mnrl-two-stage" in results:
        r = results["mnrl-two-stage"]
        rows.append(("(b) + BM25 negatives (stage 1)", r["retrieval_stage1"]))
        rows.append(("(c) + negatives mined by stage 1 (stage 2)", r["retrieval"]))
    return rows


def _retrieval_table(rows: list[tuple[str, dict[str, Any]]], key: str) -> list[str]:
    head = " | ".join(f"{t.split('/')[0].removesuffix('-retrieval')} {m}" for t in TASKS for m in METRICS)
    lines = [f"| recipe | {head} |", "|---" * (1 + len(TASKS) * len(METRICS)) + "|"]
    for label, r in rows:
        cells = " | ".join(_f(r[t][key][m]) if t in r else "–" for t in TASKS for m in METRICS)
        lines.append(f"| {label} | {cells} |")
    return lines


def retrieval_verdicts(rows: list[tuple[str, dict[str, Any]]]) -> list[str]:
    if len(rows) < 4:
        return ["- Stage 2 > stage 1 > in-batch > zero-shot: not all four rows have been run yet."]
    out = []
    for key, what in (("all", "all queries"), ("overlap_free", "overlap-free")):
        for t in TASKS:
            values = [r[t][key]["mrr@10"] for _, r in rows]
            ordered = all(b > a for a, b in itertools.pairwise(values))
            chain = " < ".join(_f(v) for v in values)
            out.append(
                f"- {t} ({what}) MRR@10 zero-shot < (a) < (b) < (c): {chain} — "
                + ("met" if ordered else "**missed**")
            )
    return out


def cosent_lines(r: dict[str, Any], zero: dict[str, Any] | None) -> list[str]:
    base = (zero or {}).get("similarity", {})
    lines = [
        "| model | " + " | ".join(f"{s} Spearman ×100" for s in SIMILARITY) + " |",
        "|---" * (1 + len(SIMILARITY)) + "|",
        "| zero-shot | " + " | ".join(_f(base.get(s)) for s in SIMILARITY) + " |",
        "| CoSENT on AFQMC train (α = 1) | "
        + " | ".join(_f(r["test_fine_tuned"].get(s)) for s in SIMILARITY)
        + " |",
        f"| WiSE-FT α = {r['alpha']:g} (chosen on dev) | "
        + " | ".join(_f(r["test_chosen"].get(s)) for s in SIMILARITY)
        + " |",
        "",
        f"α rule: {r['alpha_rule']} (keep = {r['keep']}). Dev sets: "
        + ", ".join(r["dev"].values())
        + ". Zero-shot on dev: "
        + ", ".join(f"{k} {_f(v)}" for k, v in r["zero_shot_dev"].items())
        + "; per α: "
        + "; ".join(
            f"α {a}: " + ", ".join(f"{k} {_f(v)}" for k, v in s.items() if k != "dir")
            for a, s in r["wise_on_dev"].items()
        )
        + ".",
    ]
    if base:
        chosen = r["test_chosen"]
        ok_afqmc = (chosen.get("afqmc/dev") or 0) >= 40
        kept = all((chosen.get(s) or 0) >= base[s] - 0.5 for s in ("lcqmc/test", "stsb-zh/test"))
        lines += [
            "",
            f"- AFQMC dev Spearman ≥ 40: {_f(chosen.get('afqmc/dev'))} — "
            + ("met" if ok_afqmc else f"**missed by {40 - (chosen.get('afqmc/dev') or 0):.2f}**")
            + f" (trained on {r['train']['pairs']} AFQMC train pairs, {r['training']['steps']} steps)",
            "- LCQMC test and STS-B zh test within 0.5 of zero-shot: "
            + ", ".join(f"{s} {_f(base[s])} → {_f(chosen.get(s))}" for s in ("lcqmc/test", "stsb-zh/test"))
            + f" — {'met' if kept else '**missed**'}",
        ]
    return lines


def runs_table(results: dict[str, Any]) -> list[str]:
    lines = [
        "| row | command | code | wall | machine, load at start → end | training |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        m = r["machine"]
        t = r.get("training")
        train = (
            f"{t['steps']} steps, {t['train_seconds']} s, {t['pairs_per_second']} pairs/s (final stage)"
            if t
            else "–"
        )
        lines.append(
            f"| {name} | `{m['command']}` | {m['code']} | {r['wall_seconds']:.0f} s | "
            f"{m['cpu_count']} CPU cores, torch threads {m['torch_threads']}, load {m['load_at_start']} → "
            f"{m.get('load_at_end', '–')} | {train} |"
        )
    return lines


def section(results: dict[str, Any]) -> list[str]:
    rows = retrieval_rows(results)
    out = [
        START,
        "## Twin tower: the CoROM recipe and in-domain CoSENT (`bench/quality/twin.py`)",
        "",
        "MNRL learns from query–positive pairs of training splits only (QBQTC `dev.json` label 2, "
        "AFQMC train and LCQMC dev positives); evaluated as exact cosine search over the derived tasks' "
        "full corpora. No dev set chooses an MNRL checkpoint: each row is the model after its epoch. "
        "Stage 2 starts from the stage-1 model, so it has seen the pairs twice.",
        "",
    ]
    if rows:
        first = rows[0][1]
        overlap = ", ".join(
            f"{t}: {first[t]['overlap']} of {first[t]['queries']}" for t in TASKS if t in first
        )
        out += [f"Evaluation queries whose text occurs in the training pairs: {overlap}.", ""]
        out += ["All queries (×100):", "", *_retrieval_table(rows, "all"), ""]
        out += [
            "Overlap-free (those queries removed, ×100):",
            "",
            *_retrieval_table(rows, "overlap_free"),
            "",
        ]
        out += [*retrieval_verdicts(rows), ""]
        two = results.get("mnrl-two-stage")
        if two and two["training"].get("rows"):
            counts = two["training"]["rows"]
            kept, short = counts["rows"], counts["skipped_short_of_negatives"]
            m = two["mining"]
            out += [
                f"Stage 2 mining: top {m['candidates']} by the stage-1 model, false-negative guard margin "
                f"{m['margin']}, one negative sampled per query; {short} training queries had no candidate "
                f"left under the guard and were left out, so stage 2 trained on {kept} rows "
                f"(stage 1: {two['stage1']['rows']['rows']}).",
                "",
            ]
    if "afqmc-cosent" in results:
        out += ["### In-domain similarity: CoSENT on AFQMC train", ""]
        out += [*cosent_lines(results["afqmc-cosent"], results.get("zero-shot")), ""]
    out += ["### Runs", "", *runs_table(results), END]
    return out


def main() -> None:
    from builtin_report import splice

    text = DOC.read_text(encoding="utf-8")
    DOC.write_text(splice(text, section(load()), START, END), encoding="utf-8")
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
