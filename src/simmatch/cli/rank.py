"""``simmatch rank``: a query and candidates → candidates ranked best first."""

from __future__ import annotations

import argparse

from simmatch.cli._common import add_embedder_options, load_embedder, positive_int
from simmatch.cli._io import refuse_file_names, write_jsonl


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rank", help="rank candidate texts against a query (twin tower, or --cross-encoder)")
    p.add_argument("query", help="the query text")
    p.add_argument(
        "candidates",
        nargs="*",
        help="candidate texts (or --candidates-file FILE; a file name here is refused, not ranked)",
    )
    p.add_argument(
        "--candidates-file",
        "--file",
        "-f",
        dest="file",
        help="one candidate per line or JSON lines with 'text' ('-' for stdin)",
    )
    p.add_argument("--top-k", "-k", type=positive_int, default=None, help="keep the best k (default all)")
    p.add_argument(
        "--cross-encoder",
        "-c",
        help="rank with a cross-encoder instead: built-in name (relevance-zh) or PairClassifier directory",
    )
    p.add_argument("--format", choices=["jsonl", "table"], default="jsonl", help="output format")
    add_embedder_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from simmatch.errors import InputError

    if args.file and args.candidates:
        raise InputError("give candidates as arguments or with --candidates-file, not both")
    if args.file:
        from simmatch.data import load_texts

        candidates = load_texts(args.file)
    else:
        candidates = args.candidates
        refuse_file_names(candidates, "candidate", "--candidates-file", reads="candidates")
    if not candidates:
        raise InputError("no candidates: pass them as arguments or with --candidates-file")
    from simmatch.models._inputs import check_text, check_texts

    check_text(args.query, "query")
    check_texts(candidates, "candidates")  # before the model loads
    rows = rank_candidates(args, args.query, candidates)
    if args.format == "table":
        print(f"query: {args.query}")
        for r in rows:
            print(f"{r['rank']:>3}  {r['score']:.4f}  {r['text']}")
    else:
        write_jsonl(rows)
    return 0


def rank_candidates(args: argparse.Namespace, query: str, candidates: list[str]) -> list[dict]:
    if args.cross_encoder:
        from simmatch.models import PairClassifier

        ranked = PairClassifier(args.cross_encoder, device=args.device, backend=args.backend).rank(
            query, candidates, top_k=args.top_k, batch_size=args.batch_size
        )
    else:
        ranked = load_embedder(args).rank(query, candidates, top_k=args.top_k, batch_size=args.batch_size)
    return [
        {"rank": r + 1, "index": d.index, "score": round(d.score, 6), "text": d.text}
        for r, d in enumerate(ranked)
    ]
