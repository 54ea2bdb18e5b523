from __future__ import annotations

from pathlib import Path

import pytest

from simmatch.settings import data_root

DATA = data_root()  # $SIMMATCH_DATA, else ../shared/data beside the project


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared benchmark data beside the project (see its README)."""
    if not DATA.is_dir():
        pytest.fail(f"benchmark data not found at {DATA.resolve()}")
    return DATA.resolve()


@pytest.fixture
def write(tmp_path):
    """Write text (bytes as given, no newline added) to a file under tmp_path and return its path."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        if isinstance(content, str):
            content = content.encode("utf-8")
        if name.endswith(".gz"):
            import gzip

            content = gzip.compress(content)
        path.write_bytes(content)
        return path

    return _write
