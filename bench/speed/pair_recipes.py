"""Which int8 recipes keep a trained cross-encoder's answers: label agreement and probability
differences against its fp32 ONNX graph (itself within 1e-6 of PyTorch), for simmatch's dynamic
int8 recipe, variants that keep parts of the graph fp32, and onnxruntime's weight-only 8-bit
``MatMulNBits`` (needs the ``onnx_ir`` package; skipped without it).

Fidelity only: pairs/s is printed for orientation (wall clock, the load average beside it) and is
not a speed result; ``run.py`` / ``cross_encoder.py`` measure speed on an idle machine.

    python bench/speed/pair_recipes.py --cross-encoder relevance-zh --pairs 300
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import OUT, load_average
from simmatch.models.onnx_export import Int8Recipe

DYNAMIC: dict[str, Int8Recipe] = {
    "dynamic int8, simmatch's recipe (MatMul + Attention, 7-bit)": Int8Recipe(),
    "dynamic int8, last layer fp32": Int8Recipe(keep_fp32=(r"layer\.5/", r"^Attention_5$")),
    "dynamic int8, feed-forward output fp32": Int8Recipe(keep_fp32=(r"layer\.\d+/output/dense",)),
    "dynamic int8, all output projections fp32": Int8Recipe(keep_fp32=(r"output/dense",)),
    "dynamic int8, attention only": Int8Recipe(op_types=("Attention",)),
}


def _probabilities(preds: list[Any]) -> np.ndarray:
    return np.array([[p.probabilities[k] for k in sorted(p.probabilities)] for p in preds])


def _weight_only(fp32_file: Path, out: Path, bits: int, block: int) -> Path | None:
    try:
        import onnx
        from onnxruntime.quantization.matmul_nbits_quantizer import (
            DefaultWeightOnlyQuantConfig,
            MatMulNBitsQuantizer,
        )
    except ImportError:
        return None
    config = DefaultWeightOnlyQuantConfig(block_size=block, is_symmetric=True, accuracy_level=4, bits=bits)
    quantizer = MatMulNBitsQuantizer(
        onnx.load(str(fp32_file)), bits=bits, block_size=block, is_symmetric=True, accuracy_level=4,
        algo_config=config,
    )  # fmt: skip
    quantizer.process()
    quantizer.model.save_model_to_file(str(out), use_external_data_format=True)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cross-encoder", default="relevance-zh", help="built-in name or directory")
    p.add_argument("--pairs", type=int, default=300, help="first N QBQTC test_public pairs")
    p.add_argument("--out", type=Path, default=OUT / "pair_recipes.json")
    args = p.parse_args(argv)

    from simmatch.data import resolve_dataset
    from simmatch.models import PairClassifier, onnx_export, onnx_pair
    from simmatch.models.registry import resolve_model

    pairs = [(e.sentence1, e.sentence2) for e in resolve_dataset("qbqtc:test_public", limit=args.pairs)]
    path = resolve_model(args.cross_encoder)
    clf = PairClassifier(args.cross_encoder, backend="onnx")
    ref = clf.predict(pairs, batch_size=32)
    fp32_file = onnx_pair.export_dir(path) / onnx_export.FP32_FILE

    def measure(name: str, session: Any) -> dict[str, Any]:
        clf._backend.session = session  # same tokenization and batching, another graph
        start = time.perf_counter()
        got = clf.predict(pairs, batch_size=32)
        seconds = time.perf_counter() - start
        diff = np.abs(_probabilities(got) - _probabilities(ref))
        row = {
            "recipe": name,
            "agreement": round(float(np.mean([a.label == b.label for a, b in zip(got, ref)])) * 100, 2),
            "mean_abs_diff": round(float(diff.mean()), 4),
            "max_abs_diff": round(float(diff.max()), 4),
            "pairs_per_s_orientation": round(len(pairs) / seconds, 1),
        }
        row["passes"] = row["agreement"] >= 99.5 and row["mean_abs_diff"] <= 0.02
        print(json.dumps(row, ensure_ascii=False), flush=True)
        return row

    load_before = load_average()
    rows = [measure("fp32 (reference graph)", onnx_export.open_session(fp32_file))]
    for name, recipe in DYNAMIC.items():
        backend = onnx_pair.OnnxPairBackend(path, quantize=True, recipe=recipe)
        rows.append(measure(name, backend.session))
    for bits, block in ((8, 32), (8, 128), (4, 32)):
        out = onnx_pair.export_dir(path) / f"model-w{bits}-b{block}.onnx"
        made = out if out.is_file() else _weight_only(fp32_file, out, bits, block)
        if made is None:
            print("weight-only rows skipped: pip install onnx_ir", flush=True)
            break
        rows.append(
            measure(f"weight-only {bits}-bit MatMulNBits, block {block}", onnx_export.open_session(made))
        )
    report = {
        "command": "python bench/speed/pair_recipes.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "model": args.cross_encoder,
        "pairs": len(pairs),
        "load_before": load_before,
        "load_after": load_average(),
        "rows": rows,
    }
    print("\n| recipe | label agreement | prob. mean / max abs diff | passes |\n|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['recipe']} | {r['agreement']:.2f} % | {r['mean_abs_diff']:.4f} / {r['max_abs_diff']:.4f} "
            f"| {'yes' if r['passes'] else 'no'} |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
