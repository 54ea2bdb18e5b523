"""WiSE-FT weight interpolation: the endpoints reproduce the two models, the middle is their mean."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from simmatch.errors import InputError
from simmatch.models import Embedder
from simmatch.training import TrainingConfig, interpolate_weights, train_embedder

from .test_training import toy_pairs


@pytest.fixture(scope="module")
def tuned_dir(tmp_path_factory, tiny_embedder_dir):
    out = tmp_path_factory.mktemp("tuned")
    config = TrainingConfig(
        output_dir=str(out), max_steps=3, batch_size=8, lr=5e-2, warmup=0, progress=False, device="cpu"
    )
    return train_embedder(tiny_embedder_dir, toy_pairs(16, "score"), config=config).output_dir


def test_endpoints_and_midpoint(tmp_path, tiny_embedder_dir, tuned_dir):
    texts = ["今天天气怎么样", "小猫喝水", "hello world"]
    base = Embedder(str(tiny_embedder_dir), device="cpu").encode(texts)
    tuned = Embedder(str(tuned_dir), device="cpu").encode(texts)
    assert not np.allclose(base, tuned, atol=1e-4)  # training moved the weights
    at0 = Embedder(str(interpolate_weights(tiny_embedder_dir, tuned_dir, 0.0, tmp_path / "a0")), device="cpu")
    at1 = Embedder(str(interpolate_weights(tiny_embedder_dir, tuned_dir, 1.0, tmp_path / "a1")), device="cpu")
    np.testing.assert_allclose(at0.encode(texts), base, atol=1e-6)
    np.testing.assert_allclose(at1.encode(texts), tuned, atol=1e-6)

    from simmatch.training.embedder import load_sentence_transformer

    mid = interpolate_weights(tiny_embedder_dir, tuned_dir, 0.5, tmp_path / "mid")
    states = [
        load_sentence_transformer(p, device="cpu").state_dict() for p in (tiny_embedder_dir, tuned_dir, mid)
    ]
    for name, value in states[2].items():
        if value.is_floating_point():
            np.testing.assert_allclose(
                value.numpy(), (states[0][name] + states[1][name]).numpy() / 2, atol=1e-6
            )


def test_bad_alpha_and_mismatched_models(tmp_path, tiny_embedder_dir, tuned_dir):
    with pytest.raises(InputError, match=r"alpha must be in \[0, 1\]"):
        interpolate_weights(tiny_embedder_dir, tuned_dir, 1.5, tmp_path / "x")
    # The same model with one layer fewer: parameter names differ.
    shallow = tmp_path / "shallow"
    shutil.copytree(tiny_embedder_dir, shallow)
    config = json.loads((shallow / "config.json").read_text())
    (shallow / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 1}))
    with pytest.raises(InputError, match="differ in architecture"):
        interpolate_weights(tiny_embedder_dir, shallow, 0.5, tmp_path / "y")
