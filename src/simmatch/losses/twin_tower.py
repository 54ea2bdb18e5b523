"""Twin-tower (bi-encoder) losses: all from sentence-transformers, which already has the ones we need.

- :class:`CoSENTLoss` — pairs with a graded score; ranks every pair of pairs in the batch by label.
- :class:`ContrastiveLoss` with cosine distance — the CosineEmbeddingLoss-style margin loss for 0/1
  pairs: positives are pulled to cosine 1, negatives pushed below ``1 - margin`` (squared hinge).
- :class:`MultipleNegativesRankingLoss` — ``(anchor, positive, negative_1..n)`` columns; every other
  positive and negative in the batch is an extra negative.

None of them assumes that positives sit next to each other in the batch: CoSENT and the contrastive
loss read each row's own label, and MNRL reads the positive from its own column of the same row.
In-batch negatives can still be false negatives when a text appears twice in one batch, which is
why the training layer samples MNRL batches with sentence-transformers' ``NO_DUPLICATES`` sampler.
"""

from __future__ import annotations

from sentence_transformers.sentence_transformer.losses import (
    ContrastiveLoss,
    CoSENTLoss,
    MultipleNegativesRankingLoss,
    SiameseDistanceMetric,
)

__all__ = ["CoSENTLoss", "ContrastiveLoss", "MultipleNegativesRankingLoss", "SiameseDistanceMetric"]
