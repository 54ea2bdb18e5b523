"""``simmatch serve``: run the HTTP service (flags defined in ``simmatch.service.server``)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    from simmatch.service.server import add_arguments

    p = sub.add_parser(
        "serve",
        help="run the HTTP service: /v1/embeddings, /similarity, /compare, /rerank, /search",
        description="Serve the models over HTTP (binds 127.0.0.1 unless --host says otherwise). "
        "See docs/serve.md.",
    )
    add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from simmatch.service.server import run_from_args

    return run_from_args(args)
