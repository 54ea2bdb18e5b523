"""``simmatch embed``: texts → vectors, as .npy or JSON lines."""

from __future__ import annotations

import argparse

from simmatch.cli._common import add_embedder_options, load_embedder
from simmatch.cli._io import check_output_file, texts_from_args, write_jsonl
from simmatch.cli._ray import add_ray_options, ray_options


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("embed", help="embed texts (arguments, --file, or stdin) to .npy or JSON lines")
    p.add_argument("texts", nargs="*", help="texts to embed")
    p.add_argument(
        "--file", "-f", help="one text per line, or JSON lines with a 'text' field ('-' for stdin)"
    )
    p.add_argument(
        "--out", "-o", help="write a .npy matrix or .jsonl file here (default: JSON lines on stdout)"
    )
    p.add_argument(
        "--kind", choices=["query", "passage"], default="query", help="prompt side (default query)"
    )
    add_embedder_options(p)
    add_ray_options(p)
    p.set_defaults(func=run, backend=None)  # torch in-process, onnx-int8 with --ray


def run(args: argparse.Namespace) -> int:
    import sys

    import numpy as np

    from simmatch.errors import InputError
    from simmatch.models._inputs import check_texts

    if args.ray:
        return _run_ray(args)
    args.backend = args.backend or "torch"
    # Everything that can be wrong with the input or the output is checked before the model loads.
    if args.out:
        if not args.out.endswith((".npy", ".jsonl")):
            raise InputError(f"--out must end in .npy or .jsonl, got {args.out}")
        check_output_file(args.out)
    texts = check_texts(texts_from_args(args.texts, args.file))
    emb = load_embedder(args)
    # More than 256 texts always shows a bar; otherwise the library decides by the work (windows, tokens).
    show = True if len(texts) > 256 else None
    vectors = emb.encode(texts, batch_size=args.batch_size, kind=args.kind, show_progress=show)
    if args.out and args.out.endswith(".npy"):
        np.save(args.out, vectors)
        print(f"wrote {vectors.shape[0]} x {vectors.shape[1]} float32 to {args.out}", file=sys.stderr)
        return 0
    rows = ({"index": i, "text": t, "embedding": v.tolist()} for i, (t, v) in enumerate(zip(texts, vectors)))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            write_jsonl(rows, fh)
        print(f"wrote {len(texts)} embeddings to {args.out}", file=sys.stderr)
    else:
        write_jsonl(rows)
    return 0


def _run_ray(args: argparse.Namespace) -> int:
    """``--ray``: a corpus file or directory (``--file``) embedded on Ray into Parquet shards of
    (id, vector) in the directory ``--out``."""
    import json

    from simmatch.errors import InputError
    from simmatch.scale import embed_corpus

    if args.texts or not args.file or args.file == "-" or not args.out:
        raise InputError(
            "--ray embeds a corpus: give --file (JSONL/TSV/Parquet, file or directory) and --out DIR"
        )
    options = ray_options(args, args.backend, args.batch_size)
    summary = embed_corpus(args.file, args.out, args.model, kind=args.kind, options=options)
    print(json.dumps(summary, ensure_ascii=False))
    return 0
