"""The cross-encoder recipe: layer pruning, the mean-pooling head, length-bucketed batches and
the speed record, on the tiny fixture models."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from simmatch.errors import InputError
from simmatch.training import train_cross_encoder
from tests.training.test_training import config, toy_pairs

CE = {"batch_size": 16, "max_steps": 20}


def _no_pooler_copy(src, dst):
    import torch
    from safetensors.torch import load_file, save_file

    shutil.copytree(src, dst)
    weights = load_file(str(dst / "model.safetensors"))
    for key in [k for k in weights if ".pooler." in k]:
        weights[key] = torch.zeros_like(weights[key])
    save_file(weights, str(dst / "model.safetensors"), metadata={"format": "pt"})
    return dst


def test_pruned_mean_head_trains_saves_and_loads_everywhere(tmp_path, tiny_cross3_dir):
    from sentence_transformers.cross_encoder import CrossEncoder
    from transformers import AutoConfig

    from simmatch.models import PairClassifier

    train, dev = toy_pairs(32, "class3"), toy_pairs(9, "class3", seed=1)
    result = train_cross_encoder(
        tiny_cross3_dir,
        train,
        dev=dev,
        config=config(tmp_path, "mean", head="mean", layers=1, eval_every=10, **CE),
    )
    record = json.loads((result.output_dir / "training.json").read_text(encoding="utf-8"))
    assert record["head"].startswith("mean head, standardized over 32")
    assert record["config"]["layers"] == 1 and record["length_buckets"] is True
    assert record["pairs_per_second"] > 0
    assert AutoConfig.from_pretrained(result.output_dir).num_hidden_layers == 1

    clf = PairClassifier(result.output_dir, device="cpu")
    assert clf.labels == ["0", "1", "2"]
    predictions = clf.predict(dev.pairs)
    # sentence-transformers loads the same directory and gives the same probabilities.
    probs = CrossEncoder(str(result.output_dir), device="cpu").predict(dev.pairs, apply_softmax=True)
    mine = np.array([[p.probabilities[k] for k in clf.labels] for p in predictions])
    np.testing.assert_allclose(mine, probs, atol=1e-5)
    ranked = clf.rank(dev.pairs[0][0], [b for _, b in dev.pairs], top_k=3)
    assert len(ranked) == 3


def test_auto_head_is_mean_without_a_trained_pooler_else_cls(tmp_path, tiny_cross3_dir):
    from sentence_transformers.sentence_transformer.modules import Pooling

    from simmatch.training.cross_encoder import _build_cross_encoder

    base = _no_pooler_copy(tiny_cross3_dir, tmp_path / "no-pooler")
    pairs = toy_pairs(16, "class3").pairs
    model, how = _build_cross_encoder(base, ["0", "1", "2"], device="cpu", init_pairs=pairs, head="auto")
    assert any(isinstance(m, Pooling) for m in model) and how.startswith("mean head")
    model, how = _build_cross_encoder(
        tiny_cross3_dir, ["0", "1", "2"], device="cpu", init_pairs=pairs, head="auto"
    )
    assert not any(isinstance(m, Pooling) for m in model) and how == "from the base model"


def test_mean_head_first_dense_sees_standardized_pooled_states(tiny_cross3_dir):
    import torch

    from simmatch.models.heads import pooled_states
    from simmatch.training.cross_encoder import _build_cross_encoder

    pairs = toy_pairs(32, "class3").pairs
    model, _ = _build_cross_encoder(
        tiny_cross3_dir, ["0", "1", "2"], device="cpu", init_pairs=pairs, head="mean"
    )
    z = model[2].linear(pooled_states(model, pairs))
    assert torch.allclose(z.mean(0), torch.zeros(z.shape[1]), atol=1e-3)
    assert torch.allclose(z.std(0), torch.ones(z.shape[1]), atol=1e-3)


def test_prune_layers_prunes_a_training_model_in_place(tiny_cross3_dir):
    from transformers import AutoModelForSequenceClassification

    from simmatch.models.pruning import prune_layers

    model = AutoModelForSequenceClassification.from_pretrained(tiny_cross3_dir)
    assert len(model.bert.encoder.layer) == 2
    assert prune_layers(model, 1) is model
    assert len(model.bert.encoder.layer) == 1 and model.config.num_hidden_layers == 1
    message = f"^{re.escape(str(tiny_cross3_dir))} has 1 encoder layers; cannot keep 3$"
    with pytest.raises(InputError, match=message):
        prune_layers(model, 3)
    with pytest.raises(InputError, match="layers must be a positive integer, got 0"):
        prune_layers(model, 0)


def test_prune_layers_finds_the_encoder_inside_a_sentence_transformer(tiny_embedder_dir, tmp_path):
    from simmatch.models import Embedder
    from simmatch.models.pruning import prune_layers
    from simmatch.training.embedder import load_sentence_transformer

    model = load_sentence_transformer(tiny_embedder_dir, device="cpu")
    encoder = model[0].auto_model
    assert len(encoder.encoder.layer) == 2
    assert prune_layers(model, 1) is model
    assert len(encoder.encoder.layer) == 1 and encoder.config.num_hidden_layers == 1
    model.save(str(tmp_path / "pruned"))
    assert json.loads((tmp_path / "pruned" / "config.json").read_text())["num_hidden_layers"] == 1
    assert Embedder(str(tmp_path / "pruned"), device="cpu").encode("你好").shape == (32,)


def test_length_buckets_cover_every_row_once_and_group_lengths():
    from simmatch.training.batching import LengthBucketBatchSampler

    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 120, size=1000).tolist()
    sampler = LengthBucketBatchSampler(
        list(range(1000)), 16, False, seed=3, lengths=lengths, chunk_batches=10
    )
    batches = list(sampler)
    assert len(batches) == len(sampler)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    spread = np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches])
    shuffled = rng.permutation(1000)
    random_spread = np.mean([np.ptp([lengths[i] for i in shuffled[s : s + 16]]) for s in range(0, 1000, 16)])
    assert spread < random_spread / 5
    assert batches == list(sampler)  # deterministic for a seed and epoch (resume sees the same batches)
    sampler.set_epoch(1)
    assert list(sampler) != batches
    dropped = LengthBucketBatchSampler(list(range(1000)), 16, True, lengths=lengths, chunk_batches=10)
    assert all(len(b) == 16 for b in dropped) and len(list(dropped)) == len(dropped)
