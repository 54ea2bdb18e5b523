"""Hard-negative mining for retrieval training, two-stage as CoROM does it: stage 1 takes negatives
from BM25 (jieba tokens for Chinese), stage 2 from the stage-1 dense model, skipping candidates the
dense model scores too close to (or above) the positive, which are likely unlabeled positives.

The candidate pool is a list of texts (by default every distinct text of the training data). A
candidate is never the query itself nor one of the query's positives (compared after trimming
whitespace), whatever the method.

Mining runs on the index's own search functions (``LexicalIndex``, the one BM25;
``exact_search``, the one exact dense search), over the queries in blocks, each stage with a
progress bar on stderr (``progress=False`` turns them off; the result is the same either way).
Exact dense search costs one matrix product of queries by pool, about the time FAISS's flat index
takes for the same work, so mining stays exact rather than going through an ANN index. The model
encodes the queries and the pool once each; the guard reuses those vectors (a positive outside the
pool is encoded on its own).
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Literal, Protocol, cast

import numpy as np

from simmatch.data.dataset import PairDataset
from simmatch.data.examples import RetrievalExample
from simmatch.errors import InputError

logger = logging.getLogger(__name__)

Method = Literal["bm25", "dense"]
Pick = Literal["top", "random"]


# Texts tokenized and queries searched per step (and per progress-bar update).
SEARCH_BLOCK = 1024


class SupportsEncode(Protocol):
    def encode(
        self, texts: list[str], *, batch_size: int, normalize: bool, kind: str, show_progress: bool | None
    ) -> np.ndarray: ...


def _bar(total: int, desc: str, unit: str, progress: bool) -> Any:
    """A tqdm bar on stderr, as ``Embedder.encode`` and ``Index.add`` draw theirs."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not progress, leave=False)


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
    queries: list[str], corpus: list[str], k: int, tokenizer: str, *, progress: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` of ``corpus`` per query by BM25 (``simmatch.index.lexical``), zero scores
    included so every query gets ``k`` candidates."""
    from simmatch.index.lexical import LexicalIndex
    from simmatch.index.tokenize import get_tokenizer

    tokenize = get_tokenizer(tokenizer)
    tokens: list[list[str]] = []
    with _bar(len(corpus), "bm25 tokenize", "text", progress) as bar:
        for start in range(0, len(corpus), SEARCH_BLOCK):
            block = corpus[start : start + SEARCH_BLOCK]
            tokens.extend(tokenize(t) or [""] for t in block)
            bar.update(len(block))
    lexical = LexicalIndex.build(range(len(corpus)), tokens)
    depth = min(k, len(corpus))
    ids = np.zeros((len(queries), depth), dtype=np.int64)
    scores = np.zeros((len(queries), depth), dtype=np.float32)
    with _bar(len(queries), "bm25 search", "query", progress) as bar:
        for start in range(0, len(queries), SEARCH_BLOCK):
            block = queries[start : start + SEARCH_BLOCK]
            hits = lexical.search([tokenize(q) for q in block], depth, positive_only=False)
            for row, row_hits in enumerate(hits, start):
                ids[row] = [doc for doc, _ in row_hits]
                scores[row] = [score for _, score in row_hits]
            bar.update(len(block))
    return ids, scores


def _dense_search(
    q_vec: np.ndarray, pool_vec: np.ndarray, k: int, *, progress: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` of the pool per query by cosine (``simmatch.index.vectors.exact_search`` on unit
    vectors), a block of queries at a time."""
    from simmatch.index.vectors import exact_search

    depth = min(k, len(pool_vec))
    ids = np.zeros((len(q_vec), depth), dtype=np.int64)
    scores = np.zeros((len(q_vec), depth), dtype=np.float32)
    with _bar(len(q_vec), "dense search", "query", progress) as bar:
        for start in range(0, len(q_vec), SEARCH_BLOCK):
            stop = min(start + SEARCH_BLOCK, len(q_vec))
            scores[start:stop], ids[start:stop] = exact_search(q_vec[start:stop], pool_vec, depth, "ip")
            bar.update(stop - start)
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
    progress: bool = True,
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

    ``progress``: a bar on stderr for each stage (BM25 tokenizing and search, the model's
    encoding, dense search, the selection of negatives); the result does not depend on it.
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
        ids, scores = _bm25_candidates(queries, pool, depth, tokenizer, progress=progress)
    else:
        encoder = cast(SupportsEncode, model)  # not None: checked above

        def encode(texts: list[str], kind: str) -> np.ndarray:
            return encoder.encode(
                texts, batch_size=batch_size, normalize=True, kind=kind, show_progress=progress
            )

        q_vec = encode(queries, query_kind)
        pool_vec = encode(pool, passage_kind)
        ids, scores = _dense_search(q_vec, pool_vec, depth, progress=progress)
        # The guard scores positives with the pool's vectors; positives outside the pool are
        # encoded on their own.
        pool_index = {t: i for i, t in enumerate(pool)}
        missing = list(dict.fromkeys(p for ex in examples for p in ex.pos if p not in pool_index))
        extra_vec = encode(missing, passage_kind) if missing else pool_vec[:0]
        extra_index = {t: i for i, t in enumerate(missing)}

        def vector(text: str) -> np.ndarray:
            at = pool_index.get(text)
            return pool_vec[at] if at is not None else extra_vec[extra_index[text]]

        for ex in examples:
            s = [float(q_vec[row[ex.query]] @ vector(p)) for p in ex.pos]
            current = pos_threshold.get(ex.query, float("inf"))
            pos_threshold[ex.query] = min(current, min(s) - margin)

    rng = random.Random(seed)
    out: list[RetrievalExample] = []
    short = guarded = 0
    with _bar(len(examples), "select negatives", "example", progress) as bar:
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
            bar.update(1)
    logger.info(
        "mined %s negatives for %d examples (%d skipped by the false-negative guard, %d short)",
        method,
        len(out),
        guarded,
        short,
    )
    return out
