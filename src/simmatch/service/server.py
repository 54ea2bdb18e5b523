"""Running the service: ``serve(settings)`` loads the models and runs uvicorn. ``simmatch serve``
(``simmatch.cli.serve``) maps its flags onto ``ServiceSettings`` and calls it. Nothing heavy is
imported at import time."""

from __future__ import annotations

import ipaddress
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simmatch.service.settings import ServiceSettings

logger = logging.getLogger(__name__)


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


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
