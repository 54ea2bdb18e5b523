"""``simmatch similarity``: two texts, or a file of pairs → scores (and labels)."""

from __future__ import annotations

import argparse

from simmatch.cli._common import add_embedder_options, load_embedder
from simmatch.cli._io import refuse_file_names, write_jsonl
from simmatch.models.registry import DEFAULT_EMBEDDER, DEFAULT_PARAPHRASE_MODEL


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "similarity",
        help="score text pairs: label + probabilities with a cross-encoder (default: the built-in "
        "paraphrase model), or the embedder's cosine with --cosine",
    )
    p.add_argument("texts", nargs="*", metavar="TEXT", help="two texts to compare")
    p.add_argument(
        "--file",
        "-f",
        help="pairs: TSV/CSV (a, b[, label], or a header) or JSON lines; '-' for stdin (docs/training.md)",
    )
    p.add_argument(
        "--cross-encoder",
        "-c",
        help=f"cross-encoder: built-in name or PairClassifier directory (default {DEFAULT_PARAPHRASE_MODEL})",
    )
    p.add_argument(
        "--cosine",
        action="store_true",
        help="score with the embedder's cosine instead (implied by --model)",
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="label pairs with score >= threshold as '1' (cosine or regression score)",
    )
    add_embedder_options(p)
    # --model names an embedder, so giving it means cosine; left out, the cross-encoder scores.
    p.set_defaults(func=run, model=None)


def run(args: argparse.Namespace) -> int:
    from simmatch.errors import InputError

    if args.file and args.texts:
        raise InputError("give two texts or --file, not both")
    if args.file:
        from simmatch.data import load_pairs

        dataset = load_pairs(args.file)  # gold: the label as the library reads it (class name or score)
        pairs = [{"text_a": e.sentence1, "text_b": e.sentence2, "gold": e.label} for e in dataset]
    elif len(args.texts) == 2:
        refuse_file_names(args.texts, "text", "--file", reads="pairs")
        pairs = [{"text_a": args.texts[0], "text_b": args.texts[1], "gold": None}]
    else:
        raise InputError(f"similarity needs exactly two texts or --file, got {len(args.texts)} text(s)")
    cosine = args.cosine or args.model is not None
    if cosine and args.cross_encoder:
        raise InputError(
            "--cross-encoder scores with a cross-encoder; it cannot be combined with --cosine/--model"
        )
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0 and not cosine:
        raise InputError(f"--threshold must be in [0, 1] for a cross-encoder, got {args.threshold}")
    from simmatch.models._inputs import check_pairs

    checked = check_pairs([(p["text_a"], p["text_b"]) for p in pairs])  # before the model loads
    results = score_pairs(args, checked)
    for p, r in zip(pairs, results):
        if p["gold"] is not None:
            r["gold"] = p["gold"]
    write_jsonl(results)
    return 0


def score_pairs(args: argparse.Namespace, pairs: list[tuple[str, str]]) -> list[dict]:
    show = True if len(pairs) > 256 else None  # else the library decides by the amount of work
    if not (args.cosine or args.model is not None):
        from simmatch.models import PairClassifier

        model = args.cross_encoder or DEFAULT_PARAPHRASE_MODEL
        clf = PairClassifier(model, device=args.device, threshold=args.threshold, backend=args.backend)
        out = []
        for (a, b), pred in zip(pairs, clf.predict(pairs, batch_size=args.batch_size, show_progress=show)):
            row = {"text_a": a, "text_b": b, "label": pred.label, "score": round(pred.score, 6)}
            if pred.probabilities:
                row["probabilities"] = {k: round(v, 6) for k, v in pred.probabilities.items()}
            out.append(row)
        return out
    from simmatch.models import labels_by_threshold

    args.model = args.model or DEFAULT_EMBEDDER
    emb = load_embedder(args)
    scores = emb.similarity_pairwise(
        [a for a, _ in pairs], [b for _, b in pairs], batch_size=args.batch_size, show_progress=show
    )
    labels = labels_by_threshold(scores, args.threshold) if args.threshold is not None else None
    out = []
    for i, ((a, b), s) in enumerate(zip(pairs, scores)):
        row = {"text_a": a, "text_b": b, "score": round(float(s), 6)}
        if labels is not None:
            row["label"] = labels[i]
        out.append(row)
    return out
