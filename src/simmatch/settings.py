"""Environment variables, read in one place. Functions, not import-time constants, so a test or a
long-running process that changes the environment sees the change."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Where converted built-in models live: ``$SIMMATCH_CACHE`` or the user cache directory."""
    env = os.environ.get("SIMMATCH_CACHE")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("simmatch"))


def default_device() -> str:
    """``$SIMMATCH_DEVICE`` or CUDA when available, else CPU."""
    env = os.environ.get("SIMMATCH_DEVICE")
    if env:
        return env
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def data_root() -> Path:
    """Where the benchmark data sets live: ``$SIMMATCH_DATA`` or ``<project root>/../shared/data``."""
    env = os.environ.get("SIMMATCH_DATA")
    if env:
        return Path(env).expanduser()
    # src/simmatch/settings.py -> parents[2] is the project root of a source checkout.
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


def service_api_key() -> str | None:
    """``$SIMMATCH_API_KEY``: the Bearer token ``simmatch serve`` requires, when set."""
    return os.environ.get("SIMMATCH_API_KEY") or None


_TRUE = ("1", "true", "yes", "on")


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache hub ids resolve from: ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``,
    else ``$XDG_CACHE_HOME/huggingface/hub``, else ``~/.cache/huggingface/hub`` (the hub's own rule)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "huggingface" / "hub"


def hub_offline_variable() -> str | None:
    """The name of the set offline switch (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE``), if any."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(name, "").strip().lower() in _TRUE:
            return name
    return None


def hub_downloads_allowed() -> bool:
    """``$SIMMATCH_ALLOW_DOWNLOAD``: fetch a hub id missing from the local cache (off by default:
    simmatch works offline, and an unknown id fails at once instead of retrying the network)."""
    return os.environ.get("SIMMATCH_ALLOW_DOWNLOAD", "").strip().lower() in _TRUE


def milvus_token() -> str | None:
    """``$MILVUS_TOKEN``: the token a Milvus server index connects with (``user:password`` or an
    API key), when set."""
    return os.environ.get("MILVUS_TOKEN") or None
