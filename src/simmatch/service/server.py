"""Running the service: ``serve(settings)`` (uvicorn) and the command-line mapping used by
``simmatch serve`` and ``python -m simmatch.service``. This module imports only argparse at import
time, so ``simmatch --help`` works without the ``serve`` extra."""

from __future__ import annotations

import argparse
import ipaddress
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simmatch.service.settings import ServiceSettings

logger = logging.getLogger(__name__)

# Nested settings exposed as flags: (group, field) → --field-with-dashes. Help and defaults come
# from the pydantic fields, so each setting is declared once (in settings.py).
_NESTED_FLAGS = (
    ("limits", "max_items_per_request", int),
    ("limits", "max_chars_per_text", int),
    ("limits", "max_body_bytes", int),
    ("limits", "max_tokens_per_request", int),
    ("batching", "max_batch_size", int),
    ("batching", "max_wait_ms", float),
    ("batching", "max_queue", int),
    ("batching", "max_batch_tokens", int),
)


def _field_help(group: str | None, name: str) -> str:
    """A field's description and default, or a pointer to the extra when pydantic is missing."""
    try:
        from simmatch.service import settings as st
    except ImportError:
        return "(needs: pip install 'simmatch[serve]')"
    groups: dict[str, Any] = {"limits": st.LimitSettings, "batching": st.BatchingSettings}
    model = groups.get(group or "", st.ServiceSettings)
    info = model.model_fields[name]
    default = info.get_default(call_default_factory=True)
    return f"{info.description} (default {default})" if default is not None else str(info.description)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``serve`` flags; ``settings_from_args`` maps them onto ``ServiceSettings``."""
    parser.add_argument("--model", "-m", default=None, help=_field_help(None, "model"))
    parser.add_argument("--cross-encoder", "-c", default=None, help=_field_help(None, "cross_encoder"))
    parser.add_argument("--index", default=None, metavar="PATH", help=_field_help(None, "index"))
    parser.add_argument("--host", default=None, help=_field_help(None, "host"))
    parser.add_argument("--port", type=int, default=None, help=_field_help(None, "port"))
    parser.add_argument(
        "--api-key",
        default=None,
        help="Bearer token required on every path but /health (default: $SIMMATCH_API_KEY; "
        "prefer the variable: a flag is visible in the process list)",
    )
    parser.add_argument("--device", default=None, help=_field_help(None, "device"))
    parser.add_argument("--backend", default=None, help=_field_help(None, "backend"))
    parser.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=_field_help(None, "access_log"),
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn log level (default info)",
    )
    parser.add_argument(
        "--malloc-trim-interval-s", type=float, default=None, help=_field_help(None, "malloc_trim_interval_s")
    )
    parser.add_argument(
        "--shutdown-grace-s", type=float, default=None, help=_field_help(None, "shutdown_grace_s")
    )
    for group, name, kind in _NESTED_FLAGS:
        flag = "--" + name.replace("_", "-")
        parser.add_argument(flag, type=kind, default=None, help=_field_help(group, name))


def settings_from_args(args: argparse.Namespace) -> ServiceSettings:
    """Flags given on the command line override the ``ServiceSettings`` defaults; the API key falls
    back to ``$SIMMATCH_API_KEY``. Invalid values raise ``InputError`` naming the setting."""
    from pydantic import ValidationError

    from simmatch.errors import InputError
    from simmatch.service.settings import ServiceSettings
    from simmatch.settings import service_api_key

    top: dict[str, Any] = {}
    top_level = ("model", "cross_encoder", "index", "host", "port", "device", "backend", "access_log")
    for name in (*top_level, "malloc_trim_interval_s", "shutdown_grace_s"):
        value = getattr(args, name, None)
        if value is not None:
            top[name] = value
    api_key = getattr(args, "api_key", None) or service_api_key()
    if api_key:
        top["api_key"] = api_key
    nested: dict[str, dict[str, Any]] = {"limits": {}, "batching": {}}
    for group, name, _ in _NESTED_FLAGS:
        value = getattr(args, name, None)
        if value is not None:
            nested[group][name] = value
    try:
        return ServiceSettings.model_validate({**top, **nested})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise InputError(f"invalid service settings: {problems}") from exc


def serve(settings: ServiceSettings, *, log_level: str = "info") -> None:
    """Load the models and serve until interrupted (uvicorn, one process)."""
    from simmatch.errors import require

    require("uvicorn", "serve")
    from simmatch.service.app import LoadedModels, create_app
    from simmatch.service.runner import run_uvicorn

    if settings.api_key is None and not _is_loopback(settings.host):
        logger.warning(
            "serving on %s without an API key: anyone who can reach it can use it "
            "(set $SIMMATCH_API_KEY or --api-key)",
            settings.host,
        )
    # Loaded before uvicorn starts, so a bad model path is a one-line error (exit 2), not a
    # start-up traceback from inside the server.
    models = LoadedModels.load(settings)
    run_uvicorn(create_app(settings, models=models), settings, log_level=log_level)


def run_from_args(args: argparse.Namespace) -> int:
    """What ``simmatch serve`` runs."""
    serve(settings_from_args(args), log_level=getattr(args, "log_level", "info"))
    return 0


def serve_main(argv: Sequence[str] | None = None) -> int:
    """``python -m simmatch.service [flags]``: the same flags as ``simmatch serve``."""
    import sys

    from simmatch.errors import SimmatchError

    parser = argparse.ArgumentParser(
        prog="python -m simmatch.service", description="Run the simmatch HTTP service."
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_from_args(args)
    except SimmatchError as exc:
        print(f"simmatch: error: {exc}", file=sys.stderr)
        return 2


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
