"""``simmatch serve`` (and ``python -m simmatch.service``): run the HTTP service. The flags are
generated from ``simmatch.service.settings.ServiceSettings`` (``simmatch.cli._flags``)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from simmatch.cli._flags import Flag, add_config_arguments, config_from_args
from simmatch.errors import MissingExtraError

if TYPE_CHECKING:
    from simmatch.service.settings import ServiceSettings

DESCRIPTION = "Serve the models over HTTP (binds 127.0.0.1 unless --host says otherwise). See docs/serve.md."

# How a flag differs from the one generated from its ServiceSettings field.
FLAGS = {
    "model": Flag(aliases=("-m",)),
    "cross_encoder": Flag(aliases=("-c",)),
    "index": Flag(metavar="PATH"),
    "api_key": Flag(
        help="Bearer token required on every path but /health (default: $SIMMATCH_API_KEY; "
        "prefer the variable: a flag is visible in the process list)"
    ),
}
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def add_parser(sub: argparse._SubParsersAction) -> None:
    help = "run the HTTP service: /v1/embeddings, /similarity, /compare, /rerank, /search"
    try:
        from simmatch.service.settings import ServiceSettings
    except MissingExtraError as exc:
        # Without the extra there are no settings to generate flags from: any use says what to install.
        p = sub.add_parser(
            "serve", help=help, description=f"{DESCRIPTION} Needs: {exc}", prefix_chars="+", add_help=False
        )
        p.add_argument("ignored", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        p.set_defaults(func=_missing_extra(exc))
        return
    p = sub.add_parser("serve", help=help, description=DESCRIPTION)
    add_arguments(p, ServiceSettings)
    p.set_defaults(func=run)


def add_arguments(parser: argparse.ArgumentParser, settings_cls: type) -> None:
    """One flag per ``ServiceSettings`` field (nested limits and batching included), and
    ``--log-level``."""
    add_config_arguments(parser, settings_cls, flags=FLAGS)
    parser.add_argument(
        "--log-level", default="info", choices=LOG_LEVELS, help="uvicorn log level (default info)"
    )


def settings_from_args(args: argparse.Namespace) -> ServiceSettings:
    """The ``ServiceSettings`` the flags describe: flags given override the defaults; the API key
    falls back to ``$SIMMATCH_API_KEY``. Invalid values raise ``InputError`` naming the setting."""
    from simmatch.service.settings import ServiceSettings
    from simmatch.settings import service_api_key

    return config_from_args(
        ServiceSettings, args, fallback={"api_key": service_api_key()}, what="service settings"
    )


def run(args: argparse.Namespace) -> int:
    from simmatch.service import server

    server.serve(settings_from_args(args), log_level=args.log_level)
    return 0


def _missing_extra(exc: MissingExtraError) -> Any:
    def fail(args: argparse.Namespace) -> int:
        raise exc

    return fail
