"""How long BM25 takes to rebuild from the tokens stored in SQLite, versus loading a saved one.

Fills an ``Index`` with ``--n`` synthetic documents (``--tokens`` Zipf-distributed words each, word
tokenizer, an 8-d random encoder: the model is beside the point), then times, through the public
API, the first BM25 search after the add (builds BM25 from the stored tokens and saves it) and the
first BM25 search after reopening (loads the saved ``bm25-g<generation>/``).

    nice -n 10 python bench/index_scale/bm25_rebuild.py --n 100000
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import ROOT


class RandomEncoder:
    """8-d vectors from a hash of the text; stands in for a model."""

    dim = 8
    model_name = "random-8"

    def encode(self, texts, batch_size=32, normalize=True, kind="passage"):
        rng = np.random.default_rng(abs(hash(tuple(texts))) % 2**32)
        vectors = rng.standard_normal((len(texts), self.dim)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--tokens", type=int, default=12)
    parser.add_argument("--vocab", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "bm25_rebuild.json")
    args = parser.parse_args(argv)
    from simmatch.index import Index

    rng = np.random.default_rng(0)
    words = rng.zipf(1.3, size=(args.n, args.tokens)) % args.vocab
    docs = [{"id": str(i), "text": " ".join(f"w{w}" for w in row)} for i, row in enumerate(words)]
    directory = Path(tempfile.mkdtemp(prefix="bm25-rebuild-"))
    try:
        with Index.create(directory / "idx", RandomEncoder(), tokenizer="word") as index:
            started = time.perf_counter()
            index.add(docs, batch_size=5000, show_progress=False)
            add_s = time.perf_counter() - started
            started = time.perf_counter()
            index.search("w1 w2", mode="bm25")
            build_s = time.perf_counter() - started
        with Index.open(directory / "idx", RandomEncoder()) as index:
            started = time.perf_counter()
            index.search("w1 w2", mode="bm25")
            load_s = time.perf_counter() - started
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    result = {
        "command": "python bench/index_scale/bm25_rebuild.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "n": args.n,
        "tokens_per_doc": args.tokens,
        "add_s": round(add_s, 2),
        "bm25_build_and_save_s": round(build_s, 2),
        "bm25_load_s": round(load_s, 3),
    }
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
