"""Length-bucketed training batches: little compute goes to padding.

Each epoch the examples are shuffled, cut into chunks of ``batch_size * chunk_batches``, each chunk is
sorted by token length and split into batches, and the batches are shuffled. Batches hold pairs of
similar length (so little padding) while the data order stays random across epochs — the scheme of
transformers' ``LengthGroupedSampler``, as a sentence-transformers batch sampler (its trainers take
a ``DefaultBatchSampler`` subclass in ``batch_sampler``). Deterministic for a seed and epoch, so a
resumed run sees the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

import torch
from sentence_transformers.base.sampler import DefaultBatchSampler


class LengthBucketBatchSampler(DefaultBatchSampler):
    """Batches of indices grouped by ``lengths`` (one per dataset row), see the module docstring."""

    def __init__(
        self,
        dataset: Any,
        batch_size: int,
        drop_last: bool,
        valid_label_columns: list[str] | None = None,
        generator: torch.Generator | None = None,
        seed: int = 0,
        *,
        lengths: Sequence[int],
        chunk_batches: int = 50,
    ) -> None:
        super().__init__(dataset, batch_size, drop_last, valid_label_columns, generator, seed)
        if len(lengths) != len(dataset):
            raise ValueError(f"{len(lengths)} lengths for {len(dataset)} rows")
        self.lengths = list(lengths)
        self.chunk = max(1, int(chunk_batches)) * batch_size

    def __iter__(self) -> Iterator[list[int]]:
        g = torch.Generator()
        g.manual_seed(int(self.seed) + int(self.epoch))
        order = torch.randperm(len(self.lengths), generator=g).tolist()
        batches: list[list[int]] = []
        for start in range(0, len(order), self.chunk):
            chunk = sorted(order[start : start + self.chunk], key=lambda i: self.lengths[i])
            for b in range(0, len(chunk), self.batch_size):
                batch = chunk[b : b + self.batch_size]
                if len(batch) == self.batch_size or not self.drop_last:
                    batches.append(batch)
        for i in torch.randperm(len(batches), generator=g).tolist():
            yield batches[i]

    def __len__(self) -> int:
        n = len(self.lengths)
        if self.drop_last:
            full = 0
            for start in range(0, n, self.chunk):
                full += min(self.chunk, n - start) // self.batch_size
            return full
        return sum(-(-min(self.chunk, n - s) // self.batch_size) for s in range(0, n, self.chunk))


def length_bucket_sampler(lengths: Sequence[int], chunk_batches: int = 50) -> Any:
    """A ``batch_sampler`` for sentence-transformers' training arguments (picklable, so
    checkpoints that store the arguments still save)."""
    return partial(
        LengthBucketBatchSampler, lengths=tuple(int(x) for x in lengths), chunk_batches=chunk_batches
    )


def pair_token_lengths(tokenizer: Any, pairs: Sequence[tuple[str, str]], max_length: int | None) -> list[int]:
    """Tokens per pair as the model will see them (special tokens included, capped at ``max_length``)."""
    out: list[int] = []
    for start in range(0, len(pairs), 1024):
        part = pairs[start : start + 1024]
        enc = tokenizer([a for a, _ in part], [b for _, b in part], truncation=False, verbose=False)
        out.extend(len(ids) for ids in enc["input_ids"])
    return [min(n, max_length) for n in out] if max_length else out
