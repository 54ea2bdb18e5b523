"""Data: pair and retrieval examples, documents, the one file reader, benchmarks, derived retrieval tasks.

Shapes: pairs are ``sentence1, sentence2, label`` (:class:`PairExample`); retrieval training data is
``{query, pos, neg}`` (:class:`RetrievalExample`); retrieval evaluation is query → relevant document
ids (:class:`RetrievalTask`); an index stores :class:`Document` (``id, text, metadata``).

Files: :func:`load_texts`, :func:`load_pairs`, :func:`load_documents` and :func:`load_retrieval` read
a path or stdin (``"-"``) through :mod:`simmatch.data.files`, which holds the one row policy, format
rule and column-name table; :func:`resolve_dataset` turns a ``NAME:SPLIT`` benchmark or a path into
data, as every door spells it.
"""

from simmatch.data.benchmarks import (
    BENCHMARKS,
    Benchmark,
    benchmark_path,
    get_benchmark,
    load_benchmark,
    resolve_dataset,
    same_data,
)
from simmatch.data.dataset import PairDataset, score_to_unit
from simmatch.data.examples import Document, PairExample, RetrievalExample, RetrievalTask
from simmatch.data.pairs import check_label_map, load_pairs, load_retrieval
from simmatch.data.retrieval import lcqmc_retrieval_task, qbqtc_retrieval_task
from simmatch.data.texts import DOCUMENT_FORMATS, TEXT_FORMATS, load_documents, load_texts

__all__ = [
    "BENCHMARKS",
    "DOCUMENT_FORMATS",
    "TEXT_FORMATS",
    "Benchmark",
    "Document",
    "PairDataset",
    "PairExample",
    "RetrievalExample",
    "RetrievalTask",
    "benchmark_path",
    "check_label_map",
    "get_benchmark",
    "lcqmc_retrieval_task",
    "load_benchmark",
    "load_documents",
    "load_pairs",
    "load_retrieval",
    "load_texts",
    "qbqtc_retrieval_task",
    "resolve_dataset",
    "same_data",
    "score_to_unit",
]
