"""ONNX Runtime backend for the twin tower: the model's transformer and pooling (and any Dense
layers) exported once to ONNX and run with onnxruntime on the CPU.

Backends (the ``backend=`` argument of ``Embedder``):

``"torch"``
    sentence-transformers modules in PyTorch, fp32. The reference.
``"onnx"``
    The same computation exported to ONNX (fp32), with onnxruntime's transformer fusions
    (fused attention, bias-GELU, embedding-LayerNorm; residual Add + LayerNormalization left
    unfused, see ``_export_fp32``) applied offline for BERT-family models, and the rest of ORT's
    graph optimizations applied when the session opens. Numerically the same as ``"torch"``
    (cosine > 0.99999).
``"onnx-int8"``
    The fp32 graph with dynamic int8 quantization (``onnxruntime.quantization.quantize_dynamic``):
    weights int8 per output channel, activations quantized per call. What is quantized is
    ``INT8_RECIPE`` below, chosen by measurement on the built-in e5 model
    (``bench/speed/recipes.py``) so that cosine to fp32 stays >= 0.99 mean and >= 0.98 min on
    real Chinese sentences. The recommended backend for CPU serving; numbers in
    ``docs/speed.md``.

fp16 weights are not offered: onnxruntime's CPU provider has no fp16 matrix kernels on x86, so
fp16 weights only shrink the file and are cast back to fp32 when the session opens.

Export cache. The export lives in ``<model dir>/onnx/simmatch-<key>/`` (``model.onnx`` and
``model-int8-<recipe digest>.onnx``, each with its weights in a ``.data`` file beside it, which
onnxruntime memory-maps instead of copying: loading does not hold two copies of the weights,
and processes serving the same model share those pages; the tokenizer; ``export.json``), or under
``<simmatch cache dir>/onnx/`` when the model directory is not writable or the model is a hub id.
``<key>`` fingerprints the export recipe and the model files (names, sizes, modification times),
so editing or retraining the model re-exports it. Every file appears atomically (written under a
temporary name, then renamed: ``simmatch._fs``), and export and quantization run under a file lock
beside the export folder, so concurrent processes export once. Once exported, loading needs
neither PyTorch nor the weights.
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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simmatch._fs import FileLock, atomic_directory, remove, remove_temps, replace_file, temp_name
from simmatch.errors import InputError, SimmatchError, require

logger = logging.getLogger(__name__)

# Bump when the export or quantization recipe changes: old caches are then rebuilt.
EXPORT_VERSION = 4
FP32_FILE = "model.onnx"
META_FILE = "export.json"
TOKENIZER_DIR = "tokenizer"
OUTPUT_NAME = "sentence_embedding"
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
INT8_RECIPE = Int8Recipe()


# ---------------------------------------------------------------------------------------- cache
def _fingerprint(path: str) -> str:
    h = hashlib.sha256(f"simmatch-onnx-v{EXPORT_VERSION}".encode())
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
    """The folder holding this model's ``simmatch-<key>`` exports."""
    local = Path(path)
    if local.is_dir() and _writable_dir(local / "onnx"):
        return local / "onnx"
    from simmatch.settings import cache_dir

    name = re.sub(r"[^A-Za-z0-9._-]+", "_", local.name or path)[:64]
    digest = hashlib.sha256(str(local.resolve() if local.is_dir() else path).encode()).hexdigest()[:12]
    return cache_dir() / "onnx" / f"{name}-{digest}"


def export_dir(path: str) -> Path:
    """Where the export of the model at ``path`` is (or will be) cached."""
    return export_root(path) / f"simmatch-{_fingerprint(path)}"


# ---------------------------------------------------------------------------------------- export
def _export_fp32(path: str, out_dir: Path) -> dict[str, Any]:
    """Export transformer + pooling (+ Dense) to ``out_dir``; returns the metadata."""
    torch = require("torch", "onnx")
    onnx = require("onnx", "onnx")
    from simmatch.models.torch_backend import TorchBackend

    ref = TorchBackend(path, device="cpu")
    modules = torch.nn.ModuleList(ref._modules)
    transformer = ref._modules[0]
    auto_model = getattr(transformer, "auto_model", None)
    config = getattr(auto_model, "config", None)
    if auto_model is not None and hasattr(auto_model, "set_attn_implementation"):
        # The eager attention graph is the pattern onnxruntime's fusion recognises.
        auto_model.set_attn_implementation("eager")
    needs_token_types = ref._needs_token_types

    class _Pooled(torch.nn.Module):  # type: ignore[name-defined]  # torch is imported lazily here
        def __init__(self) -> None:
            super().__init__()
            self.stack = modules

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            features: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
            if needs_token_types:
                features["token_type_ids"] = torch.zeros_like(input_ids)
            for module in self.stack:
                features = module(features)
            return features["sentence_embedding"]

    wrapper = _Pooled().eval()
    vocab = int(getattr(config, "vocab_size", 100) or 100)
    gen = np.random.default_rng(0)
    trace_ids = gen.integers(5, min(vocab, 1000), size=(2, 8)).astype(np.int64)
    trace_mask = np.ones_like(trace_ids)
    trace_mask[1, 5:] = 0
    tmp_fp32 = out_dir / ("raw-" + FP32_FILE)
    with warnings.catch_warnings():
        # The tracer warns about shape comparisons that are constant for our inputs (mask width ==
        # sequence width); the export is checked against PyTorch on other shapes below.
        warnings.simplefilter("ignore")
        with torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(
                wrapper,
                (torch.from_numpy(trace_ids), torch.from_numpy(trace_mask)),
                str(tmp_fp32),
                dynamo=False,
                input_names=["input_ids", "attention_mask"],
                output_names=[OUTPUT_NAME],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "sequence"},
                    "attention_mask": {0: "batch", 1: "sequence"},
                    OUTPUT_NAME: {0: "batch"},
                },
                opset_version=17,
                do_constant_folding=True,
            )
    model_type = str(getattr(config, "model_type", ""))
    fused = False
    if model_type in _BERT_LIKE and config is not None:
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

    # Check on shapes other than the traced ones, padding included.
    check_ids = gen.integers(5, min(vocab, 1000), size=(3, 13)).astype(np.int64)
    check_mask = np.ones_like(check_ids)
    check_mask[1, 4:] = 0
    check_mask[2, 9:] = 0
    expected = ref.embed(check_ids, check_mask)
    got = _session(out_dir / FP32_FILE, threads=1).run([OUTPUT_NAME], _feeds(check_ids, check_mask))[0]
    cos = _row_cosine(expected, got)
    if float(cos.min()) < 0.9999:
        raise SimmatchError(
            f"ONNX export of {path} does not reproduce PyTorch (min cosine {cos.min():.6f}); "
            "use backend='torch' for this model"
        )
    ref.tokenizer.save_pretrained(str(out_dir / TOKENIZER_DIR))
    return {
        "format": "simmatch-onnx-export",
        "version": EXPORT_VERSION,
        "source": str(path),
        "prompts": ref.prompts,
        "max_seq_length": ref.max_seq_length,
        "dim": ref.dim,
        "pad_token_id": ref.tokenizer.pad_token_id,
        "model_input_names": list(getattr(ref.tokenizer, "model_input_names", [])),
        "model_max_length": int(min(getattr(ref.tokenizer, "model_max_length", 10**6), 10**6)),
        "model_type": model_type,
        "fused": fused,
        "check_min_cosine": float(cos.min()),
        "torch": torch.__version__,
        "onnxruntime": require("onnxruntime", "onnx").__version__,
    }


def _export_lock(target: Path) -> FileLock:
    """The lock held while exporting or quantizing into the export folder ``target``."""
    return FileLock(target.parent / f".{target.name}.lock")


def ensure_export(path: str) -> Path:
    """Export the model at ``path`` unless a valid export is cached; returns the export folder.
    Concurrent callers (threads or processes) export once: the others wait for the lock and
    find the export done."""
    target = export_dir(path)
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
            meta = _export_fp32(path, tmp)
            (tmp / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
            _make_readable(tmp)
    for stale in root.glob("simmatch-*"):
        if stale != target and stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)  # old recipe or old weights
    return target


def _make_readable(folder: Path) -> None:
    """Files as readable as the model they come from (some writers create them 0600)."""
    for f in folder.rglob("*"):
        f.chmod(0o755 if f.is_dir() else 0o644)


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
def physical_cores() -> int:
    """Physical cores this process may run on (hyper-threads share one core's matrix units)."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        import psutil
    except ImportError:
        return max(1, usable)
    physical = psutil.cpu_count(logical=False) or usable
    return max(1, min(usable, physical))


def _session(model_file: Path, threads: int | None = None) -> Any:
    ort = require("onnxruntime", "onnx")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or physical_cores()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(
        str(model_file),
        options,
        providers=["CPUExecutionProvider"],
        disabled_optimizers=["SkipLayerNormFusion"],  # see _export_fp32
    )


def _feeds(input_ids: np.ndarray, attention_mask: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "input_ids": np.ascontiguousarray(input_ids, dtype=np.int64),
        "attention_mask": np.ascontiguousarray(attention_mask, dtype=np.int64),
    }


def _row_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    num = (a * b).sum(axis=1)
    return num / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-30)


class OnnxBackend:
    """Pooled sentence vectors from an ONNX export of a sentence-transformers model.

    ``quantize=True`` runs the int8 graph made with ``recipe`` (default ``INT8_RECIPE``; other
    recipes are cached under their own file name). ``threads`` defaults to the physical cores
    available to this process.
    """

    def __init__(
        self,
        path: str,
        quantize: bool = False,
        *,
        threads: int | None = None,
        recipe: Int8Recipe | None = None,
    ) -> None:
        if threads is not None and threads < 1:
            raise InputError(f"threads must be >= 1, got {threads}")
        if recipe is not None and not quantize:
            raise InputError("an int8 recipe needs quantize=True")
        require("onnxruntime", "onnx")
        self.export_dir = ensure_export(path)
        meta = json.loads((self.export_dir / META_FILE).read_text())
        model_file = self.export_dir / FP32_FILE
        if quantize:
            recipe = recipe or INT8_RECIPE
            model_file = self.export_dir / int8_file_name(recipe)
            if not model_file.is_file():
                with _export_lock(self.export_dir):
                    if not model_file.is_file():  # not quantized by another caller meanwhile
                        logger.info("quantizing %s to int8 (once)", path)
                        quantize_int8(self.export_dir / FP32_FILE, model_file, recipe)
        self.model_file = model_file
        self.recipe = recipe
        self.tokenizer = load_tokenizer(self.export_dir / TOKENIZER_DIR, meta)
        self.prompts: dict[str, str] = dict(meta["prompts"])
        self.max_seq_length = int(meta["max_seq_length"])
        self.dim = int(meta["dim"])
        self.session = _session(model_file, threads)

    def embed(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        out = self.session.run([OUTPUT_NAME], _feeds(input_ids, attention_mask))[0]
        return np.asarray(out, dtype=np.float32)


class FastTokenizer:
    """What ``Embedder`` asks of a tokenizer (calling it for ``input_ids``; ``pad_token_id``),
    served by the ``tokenizers`` library directly from the ``tokenizer.json`` that the
    transformers tokenizer wraps, so the ids are the same (tested). Written because importing
    transformers imports PyTorch (about 250 MB of RSS and 2 s), which the ONNX backend otherwise
    never needs."""

    def __init__(self, tokenizer_file: Path, meta: dict[str, Any]) -> None:
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._tokenizer.no_truncation()  # Embedder cuts long texts into windows itself
        self._tokenizer.no_padding()
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

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return str(self._tokenizer.decode(ids, skip_special_tokens=skip_special_tokens))


def load_tokenizer(folder: Path, meta: dict[str, Any]) -> Any:
    """``FastTokenizer`` when the export has a ``tokenizer.json``, else transformers' loader."""
    if (folder / "tokenizer.json").is_file() and "pad_token_id" in meta:
        return FastTokenizer(folder / "tokenizer.json", meta)
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder))


def int8_file_name(recipe: Int8Recipe) -> str:
    """``model-int8-<digest of the recipe>.onnx``: a changed recipe never reuses an old file."""
    digest = hashlib.sha256(json.dumps(asdict(recipe), sort_keys=True).encode()).hexdigest()[:12]
    return f"model-int8-{digest}.onnx"
