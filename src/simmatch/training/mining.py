"""Hard-negative mining for retrieval training, two-stage as CoROM does it: stage 1 takes negatives
from BM25 (jieba tokens for Chinese), stage 2 from the stage-1 dense model, skipping candidates the
dense model scores too close to (or above) the positive, which are likely unlabeled positives.

The candidate pool is a list of texts (by default every distinct text of the training data). A
candidate is never the query itself nor one of the query's positives (compared after trimming
whitespace), whatever the method.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np

from simmatch.data.dataset import PairDataset
from simmatch.data.examples import RetrievalExample
from simmatch.errors import InputError

logger = logging.getLogger(__name__)

Method = Literal["bm25", "dense"]
Pick = Literal["top", "random"]


class SupportsEncode(Protocol):
    def encode(self, texts: list[str], *, batch_size: int, normalize: bool, kind: str) -> np.ndarray: ...


def pairs_to_retrieval_examples(data: PairDataset) -> list[RetrievalExample]:
    """Positive pairs of a binary dataset as retrieval examples: ``sentence1`` is the query,
    every ``sentence2`` it is paired with positively is a positive (one example per query)."""
    if not data.is_binary:
        raise InputError(f"{data.name}: retrieval examples need binary class labels, got {data.label_type}")
    positive = data.positive_label
    grouped: dict[str, list[str]] = defaultdict(list)
    for e in data:
        if str(e.label) == positive and e.sentence2 not in grouped[e.sentence1]:
            grouped[e.sentence1].append(e.sentence2)
    if not grouped:
        raise InputError(f"{data.name} has no positive pair")
    return [RetrievalExample(query=q, pos=pos) for q, pos in grouped.items()]


def default_corpus(examples: Sequence[RetrievalExample]) -> list[str]:
    """Every distinct query, positive and negative text, in first-seen order."""
    seen: dict[str, None] = {}
    for ex in examples:
        for text in (ex.query, *ex.pos, *ex.neg):
            seen.setdefault(text, None)
    return list(seen)


def _bm25_candidates(
    queries: list[str], corpus: list[str], k: int, tokenizer: str
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` of ``corpus`` per query by BM25 (``simmatch.index.lexical``), zero scores
    included so every query gets ``k`` candidates."""
    from simmatch.index.lexical import LexicalIndex
    from simmatch.index.tokenize import get_tokenizer

    tokenize = get_tokenizer(tokenizer)
    lexical = LexicalIndex.build(range(len(corpus)), [tokenize(t) or [""] for t in corpus])
    hits = lexical.search([tokenize(q) for q in queries], min(k, len(corpus)), positive_only=False)
    ids = np.array([[row for row, _ in row_hits] for row_hits in hits], dtype=np.int64)
    scores = np.array([[score for _, score in row_hits] for row_hits in hits], dtype=np.float32)
    return ids, scores


def _dense_candidates(
    model: SupportsEncode,
    queries: list[str],
    corpus: list[str],
    k: int,
    *,
    batch_size: int,
    query_kind: str,
    passage_kind: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` of ``corpus`` per query by cosine (``simmatch.index.vectors.exact_search``)."""
    from simmatch.index.vectors import exact_search

    q = model.encode(queries, batch_size=batch_size, normalize=True, kind=query_kind)
    d = model.encode(corpus, batch_size=batch_size, normalize=True, kind=passage_kind)
    scores, ids = exact_search(q, d, k, "ip")
    return ids, scores


def mine_hard_negatives(
    examples: Sequence[RetrievalExample] | PairDataset,
    corpus: Sequence[str] | None = None,
    *,
    method: Method = "bm25",
    model: SupportsEncode | None = None,
    num_negatives: int = 1,
    candidates: int = 30,
    margin: float = 0.05,
    pick: Pick = "random",
    tokenizer: str = "auto",
    seed: int = 0,
    batch_size: int = 64,
    query_kind: str = "query",
    passage_kind: str = "passage",
) -> list[RetrievalExample]:
    """``{query, pos, neg}`` examples whose ``neg`` holds up to ``num_negatives`` mined negatives
    (replacing any negatives the input had).

    ``method="bm25"``: the top ``candidates`` by BM25 (``tokenizer``: ``auto`` uses jieba for text
    with Chinese characters). ``method="dense"``: the top ``candidates`` by cosine under ``model``
    (an ``Embedder`` or anything with its ``encode``), minus the false-negative guard: a candidate
    scoring above ``min(score(query, positive)) - margin`` is skipped. ``pick``: ``top`` keeps the
    hardest survivors, ``random`` samples among them (seeded), which is less likely to keep an
    unlabeled positive. An example left with fewer than ``num_negatives`` is returned with what was
    found; the caller decides whether that is enough.
    """
    if isinstance(examples, PairDataset):
        examples = pairs_to_retrieval_examples(examples)
    examples = list(examples)
    if not examples:
        raise InputError("no examples to mine negatives for")
    if method not in ("bm25", "dense"):
        raise InputError(f"method must be 'bm25' or 'dense', got {method!r}")
    if pick not in ("top", "random"):
        raise InputError(f"pick must be 'top' or 'random', got {pick!r}")
    if num_negatives < 1 or candidates < num_negatives:
        raise InputError(f"need 1 <= num_negatives <= candidates, got {num_negatives} and {candidates}")
    if method == "dense" and model is None:
        raise InputError("method='dense' needs a model to score candidates with")
    pool = list(dict.fromkeys(corpus if corpus is not None else default_corpus(examples)))
    if not pool:
        raise InputError("the candidate corpus is empty")

    # Everything known to be relevant to a query text, across examples that share it.
    positives: dict[str, set[str]] = defaultdict(set)
    for ex in examples:
        positives[ex.query.strip()].update(p.strip() for p in ex.pos)
    queries = list(dict.fromkeys(ex.query for ex in examples))
    row = {q: i for i, q in enumerate(queries)}
    depth = candidates + max(len(s) for s in positives.values()) + 1

    pos_threshold: dict[str, float] = {}
    if method == "bm25":
        ids, scores = _bm25_candidates(queries, pool, depth, tokenizer)
    else:
        ids, scores = _dense_candidates(
            model,  # type: ignore[arg-type]
            queries,
            pool,
            depth,
            batch_size=batch_size,
            query_kind=query_kind,
            passage_kind=passage_kind,
        )
        pos_texts = list(dict.fromkeys(p for ex in examples for p in ex.pos))
        pos_vec = model.encode(pos_texts, batch_size=batch_size, normalize=True, kind=passage_kind)  # type: ignore[union-attr]
        pos_index = {t: i for i, t in enumerate(pos_texts)}
        q_vec = model.encode(queries, batch_size=batch_size, normalize=True, kind=query_kind)  # type: ignore[union-attr]
        for ex in examples:
            s = [float(q_vec[row[ex.query]] @ pos_vec[pos_index[p]]) for p in ex.pos]
            current = pos_threshold.get(ex.query, float("inf"))
            pos_threshold[ex.query] = min(current, min(s) - margin)

    rng = random.Random(seed)
    out: list[RetrievalExample] = []
    short = guarded = 0
    for ex in examples:
        i = row[ex.query]
        banned = positives[ex.query.strip()] | {ex.query.strip()}
        survivors: list[str] = []
        for j, s in zip(ids[i], scores[i]):
            text = pool[int(j)]
            if text.strip() in banned or text in survivors:
                continue
            if method == "dense" and float(s) > pos_threshold[ex.query]:
                guarded += 1
                continue
            survivors.append(text)
            if len(survivors) >= candidates:
                break
        if pick == "top" or len(survivors) <= num_negatives:
            negs = survivors[:num_negatives]
        else:
            negs = rng.sample(survivors, num_negatives)
        short += len(negs) < num_negatives
        out.append(RetrievalExample(query=ex.query, pos=list(ex.pos), neg=negs))
    logger.info(
        "mined %s negatives for %d examples (%d skipped by the false-negative guard, %d short)",
        method,
        len(out),
        guarded,
        short,
    )
    return out
