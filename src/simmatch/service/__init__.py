"""The HTTP service: a FastAPI app factory (``create_app``) over the library, dynamic batching,
request limits and one error envelope. Needs the ``serve`` extra (fastapi, uvicorn).

>>> from simmatch.service import ServiceSettings, create_app
>>> app = create_app(ServiceSettings(model="multilingual-e5-small"))

Names load on first use. The command line (``simmatch serve``, ``python -m simmatch.service``)
lives in ``simmatch.cli.serve``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

_LAZY = {
    "create_app": "simmatch.service.app",
    "Engine": "simmatch.service.engine",
    "LoadedModels": "simmatch.service.engine",
    "ServiceSettings": "simmatch.service.settings",
    "LimitSettings": "simmatch.service.settings",
    "BatchingSettings": "simmatch.service.settings",
    "serve": "simmatch.service.server",
}

if TYPE_CHECKING:
    from simmatch.service.app import create_app
    from simmatch.service.engine import Engine, LoadedModels
    from simmatch.service.server import serve
    from simmatch.service.settings import BatchingSettings, LimitSettings, ServiceSettings

__all__ = [
    "BatchingSettings",
    "Engine",
    "LimitSettings",
    "LoadedModels",
    "ServiceSettings",
    "create_app",
    "serve",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'simmatch.service' has no attribute {name!r}")
