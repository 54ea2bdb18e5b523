"""Options shared by several commands, declared once."""

from __future__ import annotations

import argparse

from simmatch.models.backends import BACKENDS
from simmatch.models.registry import DEFAULT_EMBEDDER


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from exc
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return number


def add_embedder_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        "-m",
        default=DEFAULT_EMBEDDER,
        help=f"embedding model: built-in name, local directory or hub id (default {DEFAULT_EMBEDDER})",
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="torch",
        help="inference backend of the embedder or the --cross-encoder (default torch)",
    )
    parser.add_argument(
        "--batch-size", type=positive_int, default=32, help="texts per model batch (default 32)"
    )
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")


def add_scoring_options(parser: argparse.ArgumentParser) -> None:
    """--backend, --batch-size (64) and --device of the commands that score a labeled data set with
    a model (``eval``, ``tune-decision``)."""
    parser.add_argument(
        "--backend", choices=BACKENDS, default="torch", help="inference backend (default torch)"
    )
    parser.add_argument("--batch-size", type=positive_int, default=64, help="model batch size (default 64)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")


def load_embedder(args: argparse.Namespace):
    from simmatch.models import Embedder

    return Embedder(args.model, backend=args.backend, device=args.device)
