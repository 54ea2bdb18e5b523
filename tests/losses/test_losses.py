"""Losses: the registry's errors, the imbalance loss against its formula, and the batch-order trap
(no loss may depend on which rows sit next to each other)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from simmatch.errors import InputError
from simmatch.losses import LOSSES, build_loss, get_loss_spec

A = ["吃完海鲜可以喝牛奶吗", "你好吗", "今天天气好", "我想吃水果", "小猫喝水", "他在学中文"]
B = ["吃海鲜不能喝牛奶", "我很好", "天气不好", "水果很好吃", "小狗吃饭", "她会说中文"]
C = ["柠檬水可以喝吗", "你是谁", "明天下雨", "蔬菜和水果", "小猫吃鱼", "学生在上课"]


@pytest.fixture(scope="module")
def st_model(tiny_embedder_dir):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tiny_embedder_dir), device="cpu")
    model.eval()
    return model


@pytest.fixture(scope="module")
def cross3(tiny_cross3_dir):
    from simmatch.training.cross_encoder import new_cross_encoder

    model = new_cross_encoder(tiny_cross3_dir, ["0", "1", "2"], device="cpu")
    model.eval()
    return model


def _features(model, *columns):
    return [model.preprocess(list(col)) for col in columns]


def test_registry_names_families_and_errors(st_model):
    assert set(LOSSES) == {"ce", "lsce", "balanced-ce", "mse", "cosent", "contrastive", "mnrl"}
    assert get_loss_spec("cosent", "embedder").data == "score"
    with pytest.raises(
        InputError, match="unknown cross-encoder loss 'cosent'; choose one of ce, lsce, balanced-ce, mse"
    ):
        get_loss_spec("cosent", "cross-encoder")
    with pytest.raises(InputError, match="unknown loss 'nope'"):
        build_loss("nope", st_model)
    with pytest.raises(InputError, match="loss 'cosent' takes no option 'margin'; valid options: scale"):
        build_loss("cosent", st_model, margin=0.3)


def test_contrastive_is_cosine_margin(st_model):
    from sentence_transformers.sentence_transformer.losses import SiameseDistanceMetric

    loss = build_loss("contrastive", st_model, margin=0.3)
    assert loss.margin == 0.3
    assert loss.distance_metric == SiameseDistanceMetric.COSINE_DISTANCE


def test_balanced_ce_matches_its_formula(cross3):
    from simmatch.losses import ClassBalancedCrossEntropyLoss

    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-1.0, 1.0, 0.0], [0.0, 0.0, 3.0]])
    labels = torch.tensor([0, 1, 2, 2])
    counts = [25, 63, 12]
    prior = torch.tensor(counts, dtype=torch.float32) / 100
    adjust = ClassBalancedCrossEntropyLoss(cross3, counts, method="logit-adjustment", tau=1.0)
    expected = F.cross_entropy(logits + prior.log(), labels)
    assert torch.allclose(adjust.loss_from_logits(logits, labels), expected, atol=1e-6)
    # A rare class (2) costs more under logit adjustment than under plain CE for the same logits.
    assert float(adjust.loss_from_logits(logits[3:], labels[3:])) > float(
        F.cross_entropy(logits[3:], labels[3:])
    )

    weigh = ClassBalancedCrossEntropyLoss(cross3, counts, method="inverse-frequency", label_smoothing=0.1)
    w = 1 / prior
    w = w / (w * prior).sum()
    expected = F.cross_entropy(logits, labels, weight=w, label_smoothing=0.1)
    assert torch.allclose(weigh.loss_from_logits(logits, labels), expected, atol=1e-6)

    x = logits.clone().requires_grad_(True)
    adjust.loss_from_logits(x, labels).backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


def test_balanced_ce_rejects_bad_options(cross3):
    from simmatch.losses import ClassBalancedCrossEntropyLoss

    with pytest.raises(InputError, match="class_counts has 2 entries but the model has 3 labels"):
        ClassBalancedCrossEntropyLoss(cross3, [1, 2])
    with pytest.raises(InputError, match="positive and finite"):
        ClassBalancedCrossEntropyLoss(cross3, [1, 0, 2])
    with pytest.raises(InputError, match="method must be one of logit-adjustment, inverse-frequency"):
        ClassBalancedCrossEntropyLoss(cross3, [1, 1, 1], method="focal")  # type: ignore[arg-type]


def test_sigmoid_mse_rejects_unscaled_targets(tiny_regression_dir):
    from simmatch.training.cross_encoder import new_cross_encoder

    model = new_cross_encoder(tiny_regression_dir, None, device="cpu")
    loss = build_loss("mse", model)
    value = loss([A[:2], B[:2]], torch.tensor([0.2, 0.9]))
    assert value.ndim == 0 and float(value.detach()) >= 0
    with pytest.raises(InputError, match=r"targets must lie in \[0, 1\], got \[0.0, 4.0\]"):
        loss([A[:2], B[:2]], torch.tensor([0.0, 4.0]))


# ------------------------------------------------------------------ the batch-order trap
PERM = [3, 0, 5, 1, 4, 2]


def _shuffled(rows, perm=PERM):
    return [rows[i] for i in perm]


@pytest.mark.parametrize("name", ["cosent", "contrastive"])
def test_pair_losses_do_not_depend_on_row_order(st_model, name):
    loss = build_loss(name, st_model)
    labels = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0, 1.0])
    with torch.no_grad():
        base = loss(_features(st_model, A, B), labels)
        moved = loss(_features(st_model, _shuffled(A), _shuffled(B)), labels[PERM])
    assert torch.allclose(base, moved, atol=1e-5)


def test_mnrl_with_hard_negatives_does_not_depend_on_row_order(st_model):
    loss = build_loss("mnrl", st_model)
    with torch.no_grad():
        base = loss(_features(st_model, A, B, C), None)
        moved = loss(_features(st_model, _shuffled(A), _shuffled(B), _shuffled(C)), None)
        # Swapping which positive belongs to which anchor must change it: the pairing is by row.
        broken = loss(_features(st_model, A, _shuffled(B), C), None)
    assert torch.allclose(base, moved, atol=1e-5)
    assert not torch.allclose(base, broken, atol=1e-3)


@pytest.mark.parametrize("name", ["ce", "lsce", "balanced-ce"])
def test_cross_encoder_losses_do_not_depend_on_row_order(cross3, name):
    options = {"class_counts": [3, 2, 1]} if name == "balanced-ce" else {}
    loss = build_loss(name, cross3, **options)
    labels = torch.tensor([0, 1, 2, 0, 1, 0])
    with torch.no_grad():
        base = loss([A, B], labels)
        moved = loss([_shuffled(A), _shuffled(B)], labels[PERM])
    assert torch.allclose(base, moved, atol=1e-5)


def test_lsce_value_equals_its_formula(cross3):
    """-(1-eps) log p_y - eps/C sum_c log p_c, averaged: written out by hand, and equal to torch's
    label_smoothing (the same objective); the Erlangshen argmax 'correction' adds no gradient."""
    from simmatch.losses import LabelSmoothedCrossEntropyLoss

    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-1.0, 1.0, 0.0], [0.0, 0.0, 3.0]])
    labels = torch.tensor([0, 1, 2, 2])
    eps = 0.2
    loss = build_loss("lsce", cross3, "cross-encoder", eps=eps)
    assert isinstance(loss, LabelSmoothedCrossEntropyLoss) and loss.eps == eps
    expected = 0.0
    for row, y in zip(logits.tolist(), labels.tolist(), strict=True):
        z = sum(torch.tensor(row).exp().tolist())
        log_p = [v - torch.log(torch.tensor(z)).item() for v in row]
        expected += -(1 - eps) * log_p[y] - eps / 3 * sum(log_p)
    expected /= 4
    got = loss.loss_from_logits(logits, labels)
    assert abs(float(got) - expected) < 1e-5
    assert torch.allclose(got, F.cross_entropy(logits, labels, label_smoothing=eps), atol=1e-6)
    assert build_loss("lsce", cross3).eps == 0.1  # the released code's default
    with pytest.raises(InputError, match=r"eps must be in \[0, 1\), got 1.5"):
        build_loss("lsce", cross3, eps=1.5)
