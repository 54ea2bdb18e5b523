"""Cross-encoder (single tower) losses, in sentence-transformers' ``Loss(model, **hp)`` form.

Plain cross-entropy is sentence-transformers' own ``CrossEntropyLoss``; the regression loss is its
``MSELoss`` with a sigmoid on the logit, because ``PairClassifier`` reads a one-output head as
``sigmoid(logit)`` in [0, 1]. What sentence-transformers lacks is a loss for skewed label
distributions (QBQTC: 63 % of pairs are "1", 13 % are "2"), which is :class:`ClassBalancedCrossEntropyLoss`.

About the Erlangshen "propensity-corrected loss" (arXiv 2208.02959): the public code released with
it (IDEA-CCNL Fengshenbang-LM, ``fengshen/examples/clue_sim/loss.py``,
``LabelSmoothingCorrectionCrossEntropy``) returns label-smoothed cross-entropy (eps 0.1) plus a
"correction" term computed from ``argmax`` predictions as a plain Python float. A float added to a
loss carries no gradient, so what that code optimizes is label-smoothed cross-entropy alone; the
correction only shifts the logged value. That is :class:`LabelSmoothedCrossEntropyLoss` here
(``lsce``). For a differentiable remedy for class imbalance we add
:class:`ClassBalancedCrossEntropyLoss` (``balanced-ce``): logit adjustment by the class priors
(Menon et al., "Long-tail learning via logit adjustment", ICLR 2021) or inverse-frequency
("propensity") weighting, each with optional label smoothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

import torch
from sentence_transformers.cross_encoder import CrossEncoder
from sentence_transformers.cross_encoder.losses import CrossEntropyLoss, MSELoss
from sentence_transformers.util import batch_to_device
from torch import Tensor, nn

from simmatch.errors import InputError

BalanceMethod = Literal["logit-adjustment", "inverse-frequency"]
BALANCE_METHODS = ("logit-adjustment", "inverse-frequency")


class SigmoidMSELoss(MSELoss):
    """Regression: mean squared error between ``sigmoid(logit)`` and a target in [0, 1].

    Labels on another scale (STS-B's 0–5) must be rescaled first; ``PairDataset.to_hf_dataset(
    unit_scores=True)`` does that. The model needs a one-output head (``labels=None``).
    """

    def __init__(self, model: CrossEncoder) -> None:
        super().__init__(model, activation_fn=nn.Sigmoid())

    def forward(
        self, inputs: list[list[str]], labels: Tensor, prompt: str | None = None, task: str | None = None
    ) -> Tensor:
        lo, hi = (float(labels.min()), float(labels.max())) if labels.numel() else (0.0, 0.0)
        if lo < 0.0 or hi > 1.0:
            raise InputError(
                f"SigmoidMSELoss targets must lie in [0, 1], got [{lo}, {hi}]; "
                "rescale scores first (to_hf_dataset(unit_scores=True))"
            )
        return super().forward(inputs, labels, prompt=prompt, task=task)


def class_priors(counts: Sequence[float] | Mapping[int, float], num_labels: int) -> torch.Tensor:
    """Class frequencies normalized to sum to one, as a float tensor of length ``num_labels``."""
    if isinstance(counts, Mapping):
        values = [float(counts.get(i, 0.0)) for i in range(num_labels)]
    else:
        values = [float(c) for c in counts]
    if len(values) != num_labels:
        raise InputError(f"class_counts has {len(values)} entries but the model has {num_labels} labels")
    if any(v <= 0 or not math.isfinite(v) for v in values):
        raise InputError(f"class_counts must be positive and finite for every class, got {values}")
    total = sum(values)
    return torch.tensor([v / total for v in values], dtype=torch.float32)


class _PairLogitsLoss(nn.Module):
    """A loss computed from the head's logits of each pair and its integer label only (no batch
    neighbours): subclasses implement :meth:`loss_from_logits`."""

    model: CrossEncoder

    def loss_from_logits(self, logits: Tensor, labels: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(
        self, inputs: list[list[str]], labels: Tensor, prompt: str | None = None, task: str | None = None
    ) -> Tensor:
        if len(inputs) != 2:
            raise InputError(f"{type(self).__name__} expects two text columns, got {len(inputs)}")
        pairs = list(zip(inputs[0], inputs[1], strict=True))
        tokens = batch_to_device(self.model.preprocess(pairs, prompt=prompt, task=task), self.model.device)
        logits = self.model(tokens)["scores"]
        return self.loss_from_logits(logits, labels)


class LabelSmoothedCrossEntropyLoss(_PairLogitsLoss):
    """Label-smoothed cross-entropy (``lsce``) for a classification head:

    ``loss = mean_i [ -(1 - eps) * log p(y_i | x_i) - (eps / C) * sum_c log p(c | x_i) ]``

    i.e. cross-entropy against the target ``(1 - eps) * onehot(y) + eps / C``. This is what the
    Erlangshen similarity model's released training code optimizes (eps 0.1): its extra
    "correction" term is a float computed from ``argmax`` predictions and carries no gradient.

    Requirements: a head with two or more labels. Inputs: ``sentence1``, ``sentence2`` (text),
    ``label`` (integer class id).
    """

    def __init__(self, model: CrossEncoder, eps: float = 0.1) -> None:
        super().__init__()
        if not (isinstance(eps, (int, float)) and 0.0 <= eps < 1.0):
            raise InputError(f"eps must be in [0, 1), got {eps!r}")
        if int(model.num_labels) < 2:
            raise InputError("LabelSmoothedCrossEntropyLoss needs a classification head (two or more labels)")
        self.model = model
        self.eps = float(eps)

    def loss_from_logits(self, logits: Tensor, labels: Tensor) -> Tensor:
        """The loss for given logits (n, C) and integer labels (n,)."""
        log_p = torch.log_softmax(logits.float(), dim=-1)
        nll = -log_p.gather(1, labels.view(-1, 1).long()).squeeze(1)
        uniform = -log_p.mean(dim=-1)
        return ((1.0 - self.eps) * nll + self.eps * uniform).mean()

    def get_config_dict(self) -> dict[str, object]:
        return {"eps": self.eps}


class ClassBalancedCrossEntropyLoss(_PairLogitsLoss):
    """Cross-entropy corrected for skewed class priors, for a classification head.

    ``method="logit-adjustment"`` trains on ``logits + tau * log(prior)``: the model then has to
    out-score a frequent class by its prior ratio, and its raw logits (what ``PairClassifier``
    uses at inference) approximate the balanced, prior-free decision — good for macro-F1.
    ``method="inverse-frequency"`` weights each example by ``prior[y] ** -tau`` (normalized so the
    average weight over the training distribution is 1), the propensity weighting of the IPS
    literature. ``label_smoothing`` mixes the one-hot target with the uniform distribution.

    ``class_counts``: examples per class in label-id order (or ``{label_id: count}``), usually the
    training set's counts. The loss never looks at batch order or neighbours: each example's term
    depends only on its own logits and label.
    """

    log_prior: Tensor
    class_weight: Tensor

    def __init__(
        self,
        model: CrossEncoder,
        class_counts: Sequence[float] | Mapping[int, float],
        method: BalanceMethod = "logit-adjustment",
        tau: float = 1.0,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        if method not in BALANCE_METHODS:
            raise InputError(f"method must be one of {', '.join(BALANCE_METHODS)}, got {method!r}")
        if not 0.0 <= label_smoothing < 1.0:
            raise InputError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        if tau < 0:
            raise InputError(f"tau must be >= 0, got {tau}")
        num_labels = int(model.num_labels)
        if num_labels < 2:
            raise InputError("ClassBalancedCrossEntropyLoss needs a classification head (two or more labels)")
        self.model = model
        self.method = method
        self.tau = float(tau)
        self.label_smoothing = float(label_smoothing)
        priors = class_priors(class_counts, num_labels)
        # Buffers follow the module to the model's device and are not trained.
        self.register_buffer("log_prior", priors.log(), persistent=False)
        weights = priors.pow(-self.tau)
        weights = weights / (weights * priors).sum()
        self.register_buffer("class_weight", weights, persistent=False)

    def loss_from_logits(self, logits: Tensor, labels: Tensor) -> Tensor:
        """The loss for given logits (n, num_labels) and integer labels (n,)."""
        labels = labels.view(-1).long()
        if self.method == "logit-adjustment":
            adjusted = logits + self.tau * self.log_prior.to(logits.dtype)
            return nn.functional.cross_entropy(adjusted, labels, label_smoothing=self.label_smoothing)
        return nn.functional.cross_entropy(
            logits, labels, weight=self.class_weight.to(logits.dtype), label_smoothing=self.label_smoothing
        )

    def get_config_dict(self) -> dict[str, object]:
        return {"method": self.method, "tau": self.tau, "label_smoothing": self.label_smoothing}


__all__ = [
    "BALANCE_METHODS",
    "ClassBalancedCrossEntropyLoss",
    "CrossEntropyLoss",
    "LabelSmoothedCrossEntropyLoss",
    "SigmoidMSELoss",
    "class_priors",
]
