"""Real embeddings for ``bench/index_scale/run.py --data real``.

Collects distinct sentences from every data set in ../shared/data (AFQMC, BQ, LCQMC, PAWS-X zh,
QBQTC queries and titles, STS-B zh/en), shuffles them with a fixed seed, and encodes the first
``--n`` as passages (the database) and the next ``--queries`` as queries with the built-in
multilingual-e5-small, so the scale benchmark can measure ANN recall on the kind of vectors an
``Index`` really holds. Writes ``<out>/base.npy`` and ``<out>/queries.npy`` (float32, unit norm)
plus ``<out>/meta.json``.

    python bench/index_scale/embed_corpus.py --n 100000    # ~7 min with fp32 ONNX on two cores
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import ROOT

SCRIPT = "python bench/index_scale/embed_corpus.py"
SETS = [
    ("afqmc", "train"),
    ("afqmc", "dev"),
    ("bq", "dev"),
    ("lcqmc", "dev"),
    ("lcqmc", "test"),
    ("pawsx-zh", "dev"),
    ("qbqtc", "dev"),
    ("qbqtc", "test_public"),
    ("stsb-zh", "train"),
    ("stsb-zh", "dev"),
    ("stsb-zh", "test"),
    ("stsb-en", "train"),
    ("stsb-en", "dev"),
    ("stsb-en", "test"),
]


def distinct_sentences() -> list[str]:
    from simmatch.data import load_benchmark

    seen: dict[str, None] = {}
    for name, split in SETS:
        for example in load_benchmark(name, split):
            for text in (example.sentence1, example.sentence2):
                text = text.strip()
                if text:
                    seen.setdefault(text, None)
    return list(seen)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=100_000, help="database sentences")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--model", default="multilingual-e5-small")
    p.add_argument("--backend", default="onnx", choices=("torch", "onnx", "onnx-int8"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "real_vectors")
    args = p.parse_args(argv)
    from simmatch.models import Embedder

    texts = distinct_sentences()
    need = args.n + args.queries
    if len(texts) < need:
        p.error(f"only {len(texts)} distinct sentences in ../shared/data; ask for at most that many")
    random.Random(args.seed).shuffle(texts)
    embedder = Embedder(args.model, backend=args.backend)
    started = time.perf_counter()
    base = embedder.encode(texts[: args.n], kind="passage", batch_size=64, show_progress=True)
    queries = embedder.encode(texts[args.n : need], kind="query", batch_size=64)
    args.out.mkdir(parents=True, exist_ok=True)
    np.save(args.out / "base.npy", base.astype(np.float32))
    np.save(args.out / "queries.npy", queries.astype(np.float32))
    meta = {
        "command": " ".join([SCRIPT, *(sys.argv[1:] if argv is None else argv)]),
        "model": args.model,
        "backend": args.backend,
        "distinct_sentences": len(texts),
        "n": args.n,
        "queries": args.queries,
        "seconds": round(time.perf_counter() - started, 1),
    }
    (args.out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(meta))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
