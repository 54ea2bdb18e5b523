"""The ``simmatch`` command. Each subcommand lives in its own module with ``add_parser(subparsers)``
that sets ``func``; commands only parse arguments, call library functions and print results."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from simmatch.errors import SimmatchError

# Module names under simmatch.cli, in help order. Add a command by adding its module here.
COMMAND_MODULES = ["models", "embed", "similarity", "rank", "train", "evaluate", "decide", "index", "serve"]


def build_parser() -> argparse.ArgumentParser:
    from simmatch import __version__

    parser = argparse.ArgumentParser(
        prog="simmatch",
        description="Chinese/English semantic text matching: embed, compare, rank, train, search, serve.",
    )
    parser.add_argument("--version", action="version", version=f"simmatch {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"simmatch.cli.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.INFO if args.verbose else logging.WARNING
    # The handler has the level too: libraries that set their own logger to DEBUG (jieba, bm25s)
    # would otherwise reach stderr through it with every DEBUG line.
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter("simmatch: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    if not args.verbose:
        _quiet_libraries()
    try:
        return int(args.func(args) or 0)
    except SimmatchError as exc:
        print(f"simmatch: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("simmatch: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def _quiet_libraries() -> None:
    """Library chatter (weight-loading bars, hub notices) is noise on a CLI's stderr."""
    import os

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass


if __name__ == "__main__":
    raise SystemExit(main())
