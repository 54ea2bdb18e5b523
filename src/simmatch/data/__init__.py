"""Data: pair and retrieval examples, loaders for benchmark and generic files, derived retrieval tasks.

Shapes: pairs are ``sentence1, sentence2, label`` (:class:`PairExample`); retrieval training data is
``{query, pos, neg}`` (:class:`RetrievalExample`); retrieval evaluation is query → relevant document
ids (:class:`RetrievalTask`).
"""

from simmatch.data.benchmarks import BENCHMARKS, Benchmark, benchmark_path, get_benchmark, load_benchmark
from simmatch.data.examples import PairExample, RetrievalExample, RetrievalTask
from simmatch.data.loaders import PairDataset, load_pairs, load_retrieval, score_to_unit
from simmatch.data.retrieval import lcqmc_retrieval_task, qbqtc_retrieval_task

__all__ = [
    "BENCHMARKS",
    "Benchmark",
    "PairDataset",
    "PairExample",
    "RetrievalExample",
    "RetrievalTask",
    "benchmark_path",
    "get_benchmark",
    "lcqmc_retrieval_task",
    "load_benchmark",
    "load_pairs",
    "load_retrieval",
    "qbqtc_retrieval_task",
    "score_to_unit",
]
