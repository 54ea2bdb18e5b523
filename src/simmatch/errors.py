"""Error types. Every error a user can cause is a ``SimmatchError``: the CLI prints its message on
one line and exits 2, the HTTP service maps it to a 4xx envelope. Nothing here is for bugs."""

from __future__ import annotations

from pathlib import Path


class SimmatchError(ValueError):
    """Base class for errors caused by input, configuration or environment, not by a bug."""


class InputError(SimmatchError):
    """Bad texts, pairs or options passed to a library call."""


class ModelNotFoundError(SimmatchError):
    """A model name that is neither built in, a local directory, nor loadable from a hub."""


class MissingExtraError(SimmatchError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, package: str, extra: str):
        super().__init__(f"{package} is not installed: pip install 'simmatch[{extra}]'")


class DataFormatError(SimmatchError):
    """A malformed row in a data file, located by file, line and field."""

    def __init__(self, path: str | Path, line: int | None, reason: str, field: str | None = None):
        self.path = str(path)
        self.line = line
        self.field = field
        self.reason = reason
        where = self.path if line is None else f"{self.path}:{line}"
        what = f"field '{field}': {reason}" if field else reason
        super().__init__(f"{where}: {what}")


def require(package: str, extra: str):
    """Import an optional package or raise ``MissingExtraError`` naming the extra."""
    import importlib

    try:
        return importlib.import_module(package)
    except ImportError as exc:
        raise MissingExtraError(package, extra) from exc


class StorageError(SimmatchError):
    """The file system refused a write or an open (disk full, permission denied, read-only
    media). The message names the path, the reason and what was kept."""

    def __init__(self, path: str | Path, reason: str, kept: str):
        self.path = str(path)
        self.reason = reason
        self.kept = kept
        super().__init__(f"cannot write {self.path}: {reason}; {kept}")
