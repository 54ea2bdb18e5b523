"""Which store an index location names: a directory is the local store (SQLite + FAISS + bm25s);
a Milvus Lite file (``*.db``) or a Milvus server URI (``milvus://host:19530``,
``http(s)://host:19530``) is ``simmatch.index.milvus``. ``#name`` after either picks the collection
(default ``simmatch``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SCHEMES = ("milvus://", "http://", "https://")
DEFAULT_COLLECTION = "simmatch"


@dataclass(frozen=True)
class MilvusLocation:
    uri: str  # what MilvusClient takes: a .db path or an http(s) URI
    collection: str

    @property
    def is_lite(self) -> bool:
        return not self.uri.startswith(SCHEMES)

    @property
    def label(self) -> str:
        """``uri#collection``: how messages name the index."""
        return f"{self.uri}#{self.collection}"


def is_milvus(location: str | Path) -> bool:
    text = str(location).split("#", 1)[0]
    return (isinstance(location, str) and text.startswith(SCHEMES)) or text.endswith(".db")


def parse(location: str | Path) -> MilvusLocation:
    text, _, collection = str(location).partition("#")
    if text.startswith("milvus://"):
        text = "http://" + text[len("milvus://") :]
    elif not text.startswith(SCHEMES):
        text = str(Path(text).expanduser().resolve())
    return MilvusLocation(text, collection or DEFAULT_COLLECTION)
