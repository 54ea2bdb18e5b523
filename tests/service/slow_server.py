"""A real service process for shut-down tests: ``python tests/service/slow_server.py MODEL_DIR
PORT GRACE``. It serves a tiny embedder through ``simmatch.service.runner.run_uvicorn`` (what
``simmatch serve`` runs), with one change: a text ``"sleep:S ..."`` makes its model call take S
seconds, so a test can build a backlog that outlasts the grace period."""

from __future__ import annotations

import sys
import time
from typing import Any


class SleepyEmbedder:
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def encode(self, texts: Any, **kwargs: Any) -> Any:
        for text in texts:
            if text.startswith("sleep:"):
                time.sleep(float(text.split()[0].split(":")[1]))
        return self._inner.encode(texts, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def main(model_dir: str, port: str, grace: str) -> None:
    from simmatch.models import Embedder
    from simmatch.service import LoadedModels, ServiceSettings, create_app
    from simmatch.service.runner import run_uvicorn

    settings = ServiceSettings(
        model=model_dir,
        port=int(port),
        shutdown_grace_s=float(grace),
        access_log=False,
        batching={"max_batch_size": 1, "max_wait_ms": 0},
    )
    models = LoadedModels(SleepyEmbedder(Embedder(model_dir, device="cpu")))
    run_uvicorn(create_app(settings, models=models), settings, log_level="warning")


if __name__ == "__main__":
    main(*sys.argv[1:])
