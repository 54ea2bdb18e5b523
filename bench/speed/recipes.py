"""How the ``onnx-int8`` recipe was chosen: fidelity and single-core speed of alternative
dynamic-int8 recipes on the same ONNX export, plus the kernel measurement behind the export's
choice of ``Add + LayerNormalization`` over ``SkipLayerNormalization``.

For every recipe: the export is quantized (cached in the export folder under a file name of its
own), the short and long benchmark sets of ``run.py`` are encoded, and cosine to the PyTorch fp32
vectors (same tokenization) is reported. Throughput is sentences per CPU-second with ONE
onnxruntime thread (``time.process_time``), which the other jobs on a shared machine disturb far
less than wall-clock time; it ranks recipes, it is not the headline number (``run.py`` is).

    python bench/speed/recipes.py            # writes bench/out/speed_recipes.json
    python bench/speed/recipes.py --short 300 --long 40   # quick
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from texts import fidelity, long_texts, short_sentences

from _common import DATA_ROOT, ROOT, load_average
from simmatch.models.onnx_export import INT8_RECIPE, Int8Recipe

RECIPES: dict[str, Int8Recipe | None] = {
    "fp32 (no quantization)": None,
    "int8 8-bit weights, all MatMul+Attention": Int8Recipe(reduce_range=False),
    "int8 8-bit weights, layer 0 fp32": Int8Recipe(
        reduce_range=False, keep_fp32=(r"layer\.0/", r"^Attention_0$")
    ),
    "int8 uint8 weights (u8u8 kernels)": Int8Recipe(reduce_range=False, weight_type="QUInt8"),
    "int8 7-bit weights (reduce_range) = INT8_RECIPE": INT8_RECIPE,
    "int8 7-bit, layer 0 FFN input fp32": Int8Recipe(keep_fp32=(r"layer\.0/intermediate/",)),
    "INT8_RECIPE + word embeddings uint8": dataclasses.replace(
        INT8_RECIPE, op_types=(*INT8_RECIPE.op_types, "EmbedLayerNormalization")
    ),
}


def kernel_times(repeats: int = 50) -> dict[str, float]:
    """ms per call, one thread: SkipLayerNormalization vs Add + LayerNormalization, 64x16x384."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    shape = [64, 16, 384]
    gamma = numpy_helper.from_array(np.ones(384, np.float32), "g")
    beta = numpy_helper.from_array(np.zeros(384, np.float32), "b")
    graphs = {
        "SkipLayerNormalization": [
            helper.make_node(
                "SkipLayerNormalization", ["x", "s", "g", "b"], ["y"], domain="com.microsoft", epsilon=1e-12
            )
        ],
        "Add + LayerNormalization": [
            helper.make_node("Add", ["x", "s"], ["t"]),
            helper.make_node("LayerNormalization", ["t", "g", "b"], ["y"], axis=-1, epsilon=1e-12),
        ],
    }
    feeds = {n: np.random.default_rng(0).random(shape, dtype=np.float32) for n in ("x", "s")}
    out = {}
    for name, nodes in graphs.items():
        graph = helper.make_graph(
            nodes,
            name,
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in ("x", "s")],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
            [gamma, beta],
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)],
            ir_version=9,
        )
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(
            model.SerializeToString(),
            options,
            providers=["CPUExecutionProvider"],
            disabled_optimizers=["SkipLayerNormFusion"],
        )
        for _ in range(5):
            session.run(None, feeds)
        t0 = time.process_time()
        for _ in range(repeats):
            session.run(None, feeds)
        out[name] = (time.process_time() - t0) / repeats * 1000
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="multilingual-e5-small")
    parser.add_argument("--short", type=int, default=2000)
    parser.add_argument("--long", type=int, default=500)
    parser.add_argument("--long-tokens", type=int, default=200)
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "speed_recipes.json")
    args = parser.parse_args(argv)

    from simmatch.models import Embedder, resolve_model
    from simmatch.models.onnx_backend import OnnxBackend

    path = resolve_model(args.model)
    reference = Embedder(path, backend="torch", device="cpu")
    short = short_sentences(args.data_root, args.short)
    long = long_texts(args.data_root, args.long, args.long_tokens, reference.tokenizer)
    ref = {
        "short": reference.encode(short, batch_size=64, show_progress=False),
        "long": reference.encode(long, batch_size=64, show_progress=False),
    }
    del reference
    emb = Embedder(path, backend="onnx")  # its backend is swapped per recipe below
    load_before = load_average()
    rows = []
    for name, recipe in RECIPES.items():
        print(f"{name} ...", file=sys.stderr, flush=True)
        backend = OnnxBackend(path, quantize=recipe is not None, recipe=recipe, threads=1)
        emb._backend = backend
        row: dict[str, Any] = {"recipe": name, "settings": dataclasses.asdict(recipe) if recipe else None}
        files = [backend.model_file, backend.model_file.with_name(backend.model_file.name + ".data")]
        row["file_mb"] = sum(f.stat().st_size for f in files if f.exists()) / 2**20
        for part, texts in (("short", short), ("long", long)):
            vecs = emb.encode(texts, batch_size=64, show_progress=False)
            cos = (vecs.astype(np.float64) * ref[part]).sum(axis=1)
            row[f"{part}_cos_mean"] = float(cos.mean())
            row[f"{part}_cos_min"] = float(cos.min())
        emb.encode(short[:64], batch_size=64, show_progress=False)
        t0 = time.process_time()
        emb.encode(short, batch_size=64, show_progress=False)
        row["short_per_cpu_s"] = len(short) / (time.process_time() - t0)
        row["fidelity"] = fidelity(row)
        rows.append(row)
    report = {
        "command": "python bench/speed/recipes.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "model_path": path,
        "short_n": len(short),
        "long_n": len(long),
        "load_avg_before": load_before,
        "load_avg_after": load_average(),
        "rows": rows,
        "kernels_ms": kernel_times(),
    }
    print(format_recipes(report))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return report


def format_recipes(report: dict[str, Any]) -> str:
    lines = [
        "| recipe | short sent per CPU-s (1 thread) | cos short mean / min | cos long mean / min "
        "| file MB | fidelity |",
        "|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        lines.append(
            f"| {r['recipe']} | {r['short_per_cpu_s']:.0f} | {r['short_cos_mean']:.4f} / "
            f"{r['short_cos_min']:.4f} | {r['long_cos_mean']:.4f} / {r['long_cos_min']:.4f} | "
            f"{r['file_mb']:.0f} | {r['fidelity']} |"
        )
    kernels = ", ".join(f"{k} {v:.2f} ms" for k, v in report["kernels_ms"].items())
    lines.append("")
    lines.append(f"One call on a 64×16×384 tensor, one thread: {kernels}.")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
