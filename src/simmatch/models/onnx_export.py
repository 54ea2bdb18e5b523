"""The one ONNX mechanism behind both model families' ``"onnx"`` / ``"onnx-int8"`` backends (the
twin tower's ``onnx_backend`` and the single tower's ``onnx_pair``): export a PyTorch module once,
cache it beside the model, quantize it to int8 once, open it with onnxruntime, and tokenize
without importing PyTorch. A family supplies only what differs: the module to export and the
metadata its backend reads back.

Export cache. An export lives in ``<model dir>/onnx/<prefix>-<key>/`` (``model.onnx`` and
``model-int8-<recipe digest>.onnx``, each with its weights in a ``.data`` file beside it, which
onnxruntime memory-maps instead of copying: loading does not hold two copies of the weights,
and processes serving the same model share those pages; the tokenizer; ``export.json``), or under
``<simmatch cache dir>/onnx/`` when the model directory is not writable or the model is a hub id.
The prefix names the family (``simmatch`` for embedders, ``simmatch-pair`` for cross-encoders), so
the two never replace each other's export. ``<key>`` fingerprints the family's export recipe and
the model files (names, sizes, modification times), so editing or retraining the model
re-exports it. Every file appears atomically (written under a temporary name, then renamed:
``simmatch._fs``), and export and quantization run under a file lock beside the export folder, so
concurrent processes export once. Once exported, loading needs neither PyTorch nor the weights.

Int8. Dynamic quantization (``onnxruntime.quantization.quantize_dynamic``): weights int8 per
output channel, activations quantized per call. What is quantized is ``INT8_RECIPE`` below,
chosen by measurement on the built-in e5 model (``bench/speed/recipes.py``).

fp16 weights are not offered: onnxruntime's CPU provider has no fp16 matrix kernels on x86, so
fp16 weights only shrink the file and are cast back to fp32 when the session opens.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simmatch._fs import FileLock, atomic_directory, remove, remove_temps, replace_file, temp_name
from simmatch.errors import InputError, require

logger = logging.getLogger(__name__)

FP32_FILE = "model.onnx"
META_FILE = "export.json"
TOKENIZER_DIR = "tokenizer"
# Each family: (folder prefix, recipe version). Bump a version when that family's export or the
# shared quantization recipe changes: its old caches are then rebuilt.
FAMILIES: dict[str, tuple[str, int]] = {"embedder": ("simmatch", 4), "pair": ("simmatch-pair", 1)}
# Model types whose graphs onnxruntime's BERT fusion script understands.
_BERT_LIKE = ("bert", "roberta", "xlm-roberta", "camembert", "ernie", "electra")


@dataclass(frozen=True)
class Int8Recipe:
    """What dynamic int8 quantization touches.

    op_types: ONNX ops to quantize (``MatMul`` = feed-forward and output projections;
    ``Attention`` = the fused attention with its QKV projection; ``EmbedLayerNormalization`` =
    the word-embedding table, uint8 per tensor). reduce_range: 7-bit weights, which keeps the
    u8×s8 multiply-adds of x86 CPUs without VNNI (AVX2, AVX-512F) from saturating 16-bit
    intermediates. keep_fp32: regular expressions; nodes whose name matches stay fp32.
    """

    op_types: tuple[str, ...] = ("MatMul", "Attention")
    per_channel: bool = True
    reduce_range: bool = True
    weight_type: str = "QInt8"
    keep_fp32: tuple[str, ...] = ()


# Measured on the built-in e5 by bench/speed/recipes.py (cosine to fp32 on 2,000 short / 500
# long texts, mean / min; table in docs/speed.md):
#   8-bit weights, all MatMul+Attention       short 0.9957 / 0.9768  long 0.9962 / 0.9930  FAIL
#   8-bit weights, layer 0 kept fp32           short 0.9974 / 0.9938  long 0.9970 / 0.9936
#   7-bit weights (reduce_range), all layers   short 0.9969 / 0.9922  long 0.9964 / 0.9933  chosen
#   7-bit, layer 0 feed-forward input fp32     short 0.9970 / 0.9922  long 0.9965 / 0.9933
# The passing recipes run within measurement noise of each other on one core (~220-235
# sentences per CPU-second vs 137 for fp32); the chosen one is the simplest and the one
# onnxruntime recommends for x86 without VNNI: 7-bit weights keep the u8×s8 multiply-adds of
# AVX2 from saturating their 16-bit intermediate sums (what breaks the first row's minimum).
# Cross-encoders use the same recipe; their fidelity guard (label agreement, probabilities) is
# bench/speed/cross_encoder.py.
INT8_RECIPE = Int8Recipe()


def int8_file_name(recipe: Int8Recipe) -> str:
    """``model-int8-<digest of the recipe>.onnx``: a changed recipe never reuses an old file."""
    digest = hashlib.sha256(json.dumps(asdict(recipe), sort_keys=True).encode()).hexdigest()[:12]
    return f"model-int8-{digest}.onnx"


# ---------------------------------------------------------------------------------------- cache
def _family(family: str) -> tuple[str, int]:
    if family not in FAMILIES:
        raise InputError(f"unknown export family {family!r}; choose one of {', '.join(FAMILIES)}")
    return FAMILIES[family]


def _fingerprint(path: str, family: str = "embedder") -> str:
    prefix, version = _family(family)
    # The embedder's salt predates the families; kept so its caches stay valid.
    salt = f"simmatch-onnx-v{version}" if family == "embedder" else f"{prefix}-onnx-v{version}"
    h = hashlib.sha256(salt.encode())
    root = Path(path)
    if root.is_dir():
        for f in sorted(root.rglob("*")):
            rel = f.relative_to(root)
            if rel.parts[0] == "onnx" or not f.is_file():
                continue
            st = f.stat()
            h.update(f"{rel.as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    else:  # a hub id: the id is all we know without downloading
        h.update(path.encode())
    return h.hexdigest()[:16]


def _writable_dir(candidate: Path) -> bool:
    try:
        candidate.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=candidate, prefix=".probe-"):
            pass
    except OSError:
        return False
    return True


def export_root(path: str) -> Path:
    """The folder holding this model's exports."""
    local = Path(path)
    if local.is_dir() and _writable_dir(local / "onnx"):
        return local / "onnx"
    from simmatch.settings import cache_dir

    name = re.sub(r"[^A-Za-z0-9._-]+", "_", local.name or path)[:64]
    digest = hashlib.sha256(str(local.resolve() if local.is_dir() else path).encode()).hexdigest()[:12]
    return cache_dir() / "onnx" / f"{name}-{digest}"


def export_dir(path: str, family: str = "embedder") -> Path:
    """Where the ``family`` export of the model at ``path`` is (or will be) cached."""
    prefix, _ = _family(family)
    return export_root(path) / f"{prefix}-{_fingerprint(path, family)}"


def _export_lock(target: Path) -> FileLock:
    """The lock held while exporting or quantizing into the export folder ``target``."""
    return FileLock(target.parent / f".{target.name}.lock")


def ensure_export(path: str, family: str, exporter: Callable[[str, Path], dict[str, Any]]) -> Path:
    """Export the model at ``path`` with ``exporter(path, folder) -> metadata`` unless a valid
    export is cached; returns the export folder. Concurrent callers (threads or processes) export
    once: the others wait for the lock and find the export done."""
    target = export_dir(path, family)
    if (target / META_FILE).is_file():
        return target
    root = target.parent
    root.mkdir(parents=True, exist_ok=True)
    with _export_lock(target):
        if (target / META_FILE).is_file():  # exported by another caller while we waited
            return target
        remove_temps(target)
        logger.info("exporting %s to ONNX in %s (once)", path, target)
        with atomic_directory(target, replace=True) as tmp:
            meta = exporter(path, tmp)
            (tmp / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
            _make_readable(tmp)
    stale = re.compile(re.escape(_family(family)[0]) + r"-[0-9a-f]{16}")
    for old in root.iterdir():
        if old != target and old.is_dir() and stale.fullmatch(old.name):
            shutil.rmtree(old, ignore_errors=True)  # old recipe or old weights
    return target


def _make_readable(folder: Path) -> None:
    """Files as readable as the model they come from (some writers create them 0600)."""
    for f in folder.rglob("*"):
        f.chmod(0o755 if f.is_dir() else 0o644)


def read_meta(folder: Path) -> dict[str, Any]:
    return dict(json.loads((folder / META_FILE).read_text()))


def model_file(folder: Path, source: str, quantize: bool, recipe: Int8Recipe | None) -> Path:
    """The graph to run from the export ``folder``: fp32, or int8 with ``recipe`` (default
    ``INT8_RECIPE``), quantized once under the export lock."""
    if not quantize:
        return folder / FP32_FILE
    out = folder / int8_file_name(recipe or INT8_RECIPE)
    if not out.is_file():
        with _export_lock(folder):
            if not out.is_file():  # not quantized by another caller meanwhile
                logger.info("quantizing %s to int8 (once)", source)
                quantize_int8(folder / FP32_FILE, out, recipe or INT8_RECIPE)
    return out


# ---------------------------------------------------------------------------------------- export
def export_module(
    module: Any, sample: dict[str, np.ndarray], output_name: str, out_dir: Path, config: Any
) -> bool:
    """Trace ``module`` (called with ``sample``'s arrays as positional tensors, in order) to
    ``out_dir/model.onnx`` with dynamic batch and sequence axes; apply onnxruntime's transformer
    fusions to BERT-family graphs (``config`` is the transformers config). Returns whether the
    graph was fused. The caller checks the graph against PyTorch."""
    torch = require("torch", "onnx")
    onnx = require("onnx", "onnx")
    tmp_fp32 = out_dir / ("raw-" + FP32_FILE)
    axes = {name: {0: "batch", 1: "sequence"} for name in sample}
    with warnings.catch_warnings():
        # The tracer warns about shape comparisons that are constant for our inputs (mask width ==
        # sequence width); callers check the export against PyTorch on other shapes.
        warnings.simplefilter("ignore")
        with torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(
                module.eval(),
                tuple(torch.from_numpy(v) for v in sample.values()),
                str(tmp_fp32),
                dynamo=False,
                input_names=list(sample),
                output_names=[output_name],
                dynamic_axes={**axes, output_name: {0: "batch"}},
                opset_version=17,
                do_constant_folding=True,
            )
    fused = False
    if str(getattr(config, "model_type", "")) in _BERT_LIKE and config is not None:
        from onnxruntime.transformers.fusion_options import FusionOptions
        from onnxruntime.transformers.optimizer import optimize_model

        fusion = FusionOptions("bert")
        # onnxruntime's SkipLayerNormalization CPU kernel measured 6x slower than Add +
        # LayerNormalization here (2.3 ms vs 0.37 ms on 64x16x384), ~13% of int8 inference.
        fusion.enable_skip_layer_norm = False
        fusion.enable_bias_skip_layer_norm = False
        opt = optimize_model(
            str(tmp_fp32),
            model_type="bert",
            num_heads=int(config.num_attention_heads),
            hidden_size=int(config.hidden_size),
            optimization_options=fusion,
            opt_level=0,
            use_gpu=False,
        )
        opt.save_model_to_file(str(out_dir / FP32_FILE), use_external_data_format=True)
        fused = True
    else:
        onnx.save_model(
            onnx.load(str(tmp_fp32)),
            str(out_dir / FP32_FILE),
            save_as_external_data=True,
            location=FP32_FILE + ".data",
        )
    tmp_fp32.unlink()
    onnx.checker.check_model(str(out_dir / FP32_FILE))
    return fused


def sample_inputs(
    config: Any, shape: tuple[int, int], seed: int, pads: dict[int, int]
) -> dict[str, np.ndarray]:
    """Random token ids and an attention mask of ``shape``; row r is padded from ``pads[r]``."""
    vocab = int(getattr(config, "vocab_size", 100) or 100)
    ids = np.random.default_rng(seed).integers(5, min(vocab, 1000), size=shape).astype(np.int64)
    mask = np.ones_like(ids)
    for row, start in pads.items():
        mask[row, start:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def export_meta(tokenizer: Any, **fields: Any) -> dict[str, Any]:
    """The metadata every export records: what the torch-free tokenizer and the backend need."""
    torch = require("torch", "onnx")
    return {
        "format": "simmatch-onnx-export",
        **fields,
        "pad_token_id": tokenizer.pad_token_id,
        "model_input_names": list(getattr(tokenizer, "model_input_names", [])),
        "model_max_length": int(min(getattr(tokenizer, "model_max_length", 10**6), 10**6)),
        "torch": torch.__version__,
        "onnxruntime": require("onnxruntime", "onnx").__version__,
    }


def quantize_int8(fp32_file: Path, out_file: Path, recipe: Int8Recipe = INT8_RECIPE) -> Path:
    """Dynamic int8 quantization of an exported graph, written atomically to ``out_file``."""
    onnx = require("onnx", "onnx")
    require("onnxruntime", "onnx")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(fp32_file), load_external_data=False).graph
    patterns = [re.compile(p) for p in recipe.keep_fp32]
    exclude = [node.name for node in graph.node if any(p.search(node.name) for p in patterns)]
    tmp_dir = temp_name(out_file)
    tmp_dir.mkdir()
    try:
        quantize_dynamic(
            str(fp32_file),
            str(tmp_dir / out_file.name),
            op_types_to_quantize=list(recipe.op_types),
            per_channel=recipe.per_channel,
            reduce_range=recipe.reduce_range,
            weight_type=getattr(QuantType, recipe.weight_type),
            nodes_to_exclude=exclude,
            use_external_data_format=True,
            # Shape inference cannot type the outputs of the fused contrib ops; they are float.
            extra_options={"MatMulConstBOnly": True, "DefaultTensorType": onnx.TensorProto.FLOAT},
        )
        # The weights first, then the graph that names them: a reader that finds the graph
        # finds its weights.
        _make_readable(tmp_dir)
        data = out_file.name + ".data"
        if (tmp_dir / data).exists():  # absent when every tensor is small enough to stay inline
            replace_file(tmp_dir / data, out_file.with_name(data))
        replace_file(tmp_dir / out_file.name, out_file)
    finally:
        remove(tmp_dir)
    return out_file


# ---------------------------------------------------------------------------------------- runtime
@dataclass(frozen=True)
class OpenedExport:
    """What both ONNX backends open the same way: the export (made once, under the lock), its
    metadata, the model file for the precision asked for, the torch-free tokenizer and a session."""

    export_dir: Path
    meta: dict[str, Any]
    model_file: Path
    recipe: Int8Recipe | None
    tokenizer: Any
    session: Any


def open_export(
    path: str,
    family: str,
    exporter: Callable[[str, Path], dict[str, Any]],
    quantize: bool,
    threads: int | None,
    recipe: Int8Recipe | None,
) -> OpenedExport:
    """Export ``path`` for ``family`` unless cached, then open it (fp32, or int8 with ``recipe``)."""
    check_options(threads, quantize, recipe)
    folder = ensure_export(path, family, exporter)
    meta = read_meta(folder)
    file = model_file(folder, path, quantize, recipe)
    return OpenedExport(
        export_dir=folder,
        meta=meta,
        model_file=file,
        recipe=(recipe or INT8_RECIPE) if quantize else None,
        tokenizer=load_tokenizer(folder / TOKENIZER_DIR, meta),
        session=open_session(file, threads),
    )


def physical_cores() -> int:
    """Physical cores this process may run on (hyper-threads share one core's matrix units)."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        import psutil
    except ImportError:
        return max(1, usable)
    physical = psutil.cpu_count(logical=False) or usable
    return max(1, min(usable, physical))


def check_options(threads: int | None, quantize: bool, recipe: Int8Recipe | None) -> None:
    if threads is not None and threads < 1:
        raise InputError(f"threads must be >= 1, got {threads}")
    if recipe is not None and not quantize:
        raise InputError("an int8 recipe needs quantize=True")
    require("onnxruntime", "onnx")


def open_session(model_path: Path, threads: int | None = None) -> Any:
    ort = require("onnxruntime", "onnx")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or physical_cores()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(
        str(model_path),
        options,
        providers=["CPUExecutionProvider"],
        disabled_optimizers=["SkipLayerNormFusion"],  # see export_module
    )


def int64_feeds(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.ascontiguousarray(v, dtype=np.int64) for k, v in arrays.items()}


# ---------------------------------------------------------------------------------------- tokenizer
class FastTokenizer:
    """What the models ask of a tokenizer (calling it for ``input_ids``; ``pad_token_id``; text
    pairs for cross-encoders), served by the ``tokenizers`` library directly from the
    ``tokenizer.json`` that the transformers tokenizer wraps, so the ids are the same (tested).
    Written because importing transformers imports PyTorch (about 250 MB of RSS and 2 s), which
    the ONNX backends otherwise never need."""

    def __init__(self, tokenizer_file: Path, meta: dict[str, Any]) -> None:
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._tokenizer.no_truncation()  # Embedder cuts long texts into windows itself
        self._tokenizer.no_padding()
        self._truncating: dict[int, Any] = {}
        self.pad_token_id: int | None = meta.get("pad_token_id")
        self.model_input_names: list[str] = list(meta.get("model_input_names", []))
        self.model_max_length: int = int(meta.get("model_max_length", 512))

    def __call__(
        self,
        text: str | list[str],
        *,
        add_special_tokens: bool = True,
        truncation: bool = False,
        verbose: bool = True,
    ) -> dict[str, Any]:
        if truncation:
            raise InputError("FastTokenizer does not truncate; Embedder splits long texts itself")
        if isinstance(text, str):
            return {"input_ids": self._tokenizer.encode(text, add_special_tokens=add_special_tokens).ids}
        encoded = self._tokenizer.encode_batch(list(text), add_special_tokens=add_special_tokens)
        return {"input_ids": [e.ids for e in encoded]}

    def encode_pairs(
        self, first: list[str], second: list[str], max_length: int | None = None
    ) -> tuple[list[list[int]], list[list[int]]]:
        """Token ids and token type ids of each pair with special tokens; ``max_length`` cuts
        the longer side first (transformers' ``truncation="longest_first"``)."""
        tokenizer: Any = self._tokenizer
        if max_length is not None:
            tokenizer = self._truncating.get(max_length)
            if tokenizer is None:
                from tokenizers import Tokenizer

                tokenizer = Tokenizer.from_str(self._tokenizer.to_str())
                tokenizer.enable_truncation(max_length, strategy="longest_first")
                self._truncating[max_length] = tokenizer
        encoded = tokenizer.encode_batch(list(zip(first, second)))
        return [e.ids for e in encoded], [e.type_ids for e in encoded]

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return str(self._tokenizer.decode(ids, skip_special_tokens=skip_special_tokens))


def load_tokenizer(folder: Path, meta: dict[str, Any]) -> Any:
    """``FastTokenizer`` when the export has a ``tokenizer.json``, else transformers' loader."""
    if (folder / "tokenizer.json").is_file() and "pad_token_id" in meta:
        return FastTokenizer(folder / "tokenizer.json", meta)
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder))
