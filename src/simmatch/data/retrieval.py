"""Retrieval evaluation tasks derived from pair benchmarks, built deterministically.

Ids are assigned by order of first appearance in the files (``q0, q1, ...`` for queries,
``d0, d1, ...`` for documents), texts are compared after the loaders' whitespace stripping, and
duplicates are merged, so building a task twice from the same files gives an equal task.
"""

from __future__ import annotations

from pathlib import Path

from simmatch.data.benchmarks import load_benchmark
from simmatch.data.examples import RetrievalTask


class _Interner:
    """Assigns ``<prefix><n>`` ids to distinct texts in order of first appearance."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.ids: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        found = self.ids.get(text)
        if found is None:
            found = self.ids[text] = f"{self.prefix}{len(self.ids)}"
        return found

    def mapping(self) -> dict[str, str]:
        """id → text."""
        return {i: t for t, i in self.ids.items()}


def qbqtc_retrieval_task(split: str = "test_public", *, root: str | Path | None = None) -> RetrievalTask:
    """QBQTC as retrieval: each distinct query of ``split`` against the pool of all QBQTC titles.

    Rules:
    - corpus: every title of ``dev`` then ``test_public`` (the two splits available), deduplicated by
      text; ``d<n>`` numbers titles in that order of first appearance;
    - queries: the distinct query texts of ``split``, ``q<n>`` by first appearance;
    - relevant: the titles labelled ``"2"`` (very relevant) for that query text in ``split``; labels
      of the other split are not used. Queries with no label-2 title are dropped.
    Titles of the pool that were never judged against a query count as not relevant.
    """
    docs = _Interner("d")
    datasets = {s: load_benchmark("qbqtc", s, root=root) for s in ("dev", "test_public")}
    if split not in datasets:
        # load_benchmark gives the standard "no split" error for an unknown name.
        load_benchmark("qbqtc", split, root=root)
    for s in ("dev", "test_public"):
        for example in datasets[s]:
            docs(example.sentence2)
    queries = _Interner("q")
    relevant: dict[str, set[str]] = {}
    for example in datasets[split]:
        qid = queries(example.sentence1)
        if example.label == "2":
            relevant.setdefault(qid, set()).add(docs.ids[example.sentence2])
    query_texts = queries.mapping()
    return RetrievalTask(
        name=f"qbqtc-retrieval/{split}",
        queries={qid: query_texts[qid] for qid in relevant},
        corpus=docs.mapping(),
        relevant=relevant,
    )


def lcqmc_retrieval_task(split: str = "test", *, root: str | Path | None = None) -> RetrievalTask:
    """LCQMC as retrieval: each sentence1 of a positive pair against all sentences of ``split``.

    Rules:
    - corpus: both columns of every row of ``split`` (sentence1 then sentence2, row by row),
      deduplicated by text, ``d<n>`` by first appearance;
    - queries: distinct sentence1 texts of pairs labelled ``"1"``, ``q<n>`` by first appearance;
    - relevant: the sentence2 documents of that query's positive pairs;
    - exclude: the query's own text is in the corpus, so its document is listed in
      ``task.exclude[qid]`` and must be removed from rankings before scoring; a positive pair whose
      two sentences are identical therefore contributes no relevant document, and a query left with
      none is dropped.
    """
    dataset = load_benchmark("lcqmc", split, root=root)
    docs = _Interner("d")
    for example in dataset:
        docs(example.sentence1)
        docs(example.sentence2)
    queries = _Interner("q")
    relevant: dict[str, set[str]] = {}
    for example in dataset:
        if example.label != "1":
            continue
        qid = queries(example.sentence1)
        if example.sentence2 != example.sentence1:
            relevant.setdefault(qid, set()).add(docs.ids[example.sentence2])
    query_texts = queries.mapping()
    return RetrievalTask(
        name=f"lcqmc-retrieval/{split}",
        queries={qid: query_texts[qid] for qid in relevant},
        corpus=docs.mapping(),
        relevant=relevant,
        exclude={qid: {docs.ids[query_texts[qid]]} for qid in relevant},
    )
