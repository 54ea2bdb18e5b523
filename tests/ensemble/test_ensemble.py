"""The ensemble: its combiners against their formulas, the save/load round trip through
``PairClassifier(dir)``, and the CLI / index rerank using it like one model."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from simmatch.errors import InputError
from tests.training.test_training import toy_pairs


@pytest.fixture(scope="module")
def two_members(tmp_path_factory, tiny_cross3_dir):
    """Two different 3-label cross-encoders: the fixture and a copy with perturbed head weights."""
    import torch
    from safetensors.torch import load_file, save_file

    other = tmp_path_factory.mktemp("ens") / "member-b"
    shutil.copytree(tiny_cross3_dir, other)
    weights = load_file(str(other / "model.safetensors"))
    torch.manual_seed(5)
    weights["classifier.weight"] = weights["classifier.weight"] + torch.randn_like(
        weights["classifier.weight"]
    )
    save_file(weights, str(other / "model.safetensors"), metadata={"format": "pt"})
    return [str(tiny_cross3_dir), str(other)]


def test_mean_combiner_averages_member_probabilities(two_members):
    from simmatch.ensemble import fit_ensemble
    from simmatch.models import PairClassifier

    pairs = toy_pairs(12, "class3").pairs
    ens = fit_ensemble(two_members, None, combiner="mean")
    expected = np.mean(
        [
            [[p.probabilities[k] for k in ("0", "1", "2")] for p in PairClassifier(m).predict(pairs)]
            for m in two_members
        ],
        axis=0,
    )
    np.testing.assert_allclose(ens.predict_proba(pairs), expected, atol=1e-5)


def test_logistic_stacker_round_trips_through_pair_classifier(tmp_path, two_members, tiny_embedder_dir):
    from sklearn.linear_model import LogisticRegression

    from simmatch.ensemble import fit_ensemble
    from simmatch.ensemble.features import token_overlap
    from simmatch.models import PairClassifier

    dev, test = toy_pairs(30, "class3"), toy_pairs(12, "class3", seed=2)
    members = [two_members[0], str(shutil.copytree(two_members[1], tmp_path / "b"))]
    ens = fit_ensemble(members, dev, features=["overlap", "cosine"], embedder=str(tiny_embedder_dir))
    # The stacker is scikit-learn's LogisticRegression on [member probabilities, features].
    x = ens.design(dev.pairs)
    assert x.shape == (30, 3 + 3 + 2)
    np.testing.assert_allclose(x[:, 6], token_overlap(dev.pairs), atol=1e-6)
    reference = LogisticRegression(max_iter=1000).fit(x, [int(e.label) for e in dev])
    np.testing.assert_allclose(
        ens.predict_proba(test.pairs), reference.predict_proba(ens.design(test.pairs)), atol=1e-6
    )
    balanced = fit_ensemble(members, dev, features=["overlap"], class_weight="balanced")
    ref = LogisticRegression(class_weight="balanced", max_iter=1000).fit(
        x[:, :7], [int(e.label) for e in dev]
    )
    np.testing.assert_allclose(
        balanced.predict_proba(test.pairs), ref.predict_proba(balanced.design(test.pairs)), atol=1e-6
    )

    out = ens.save(tmp_path / "ens")
    saved = json.loads((out / "simmatch.json").read_text(encoding="utf-8"))
    assert saved["kind"] == "ensemble" and saved["members"] == ["members/0", "members/1"]
    assert saved["embedder"] == "embedder"
    shutil.rmtree(members[1])  # the saved ensemble is self-contained
    clf = PairClassifier(out)
    assert clf.labels == ["0", "1", "2"]
    got = clf.predict(test.pairs)
    want = ens.predict_proba(test.pairs)
    np.testing.assert_allclose([[p.probabilities[k] for k in clf.labels] for p in got], want, atol=1e-5)
    assert [p.label for p in got] == [clf.labels[i] for i in want.argmax(1)]
    ranked = clf.rank("吃完海鲜可以喝牛奶吗", ["吃海鲜不能喝牛奶", "你好吗", "今天天气好"], top_k=2)
    assert len(ranked) == 2


def test_ensemble_errors(two_members, tiny_regression_dir):
    from simmatch.ensemble import PairEnsemble, fit_ensemble

    with pytest.raises(InputError, match="ensemble members must be classifiers with the same labels"):
        fit_ensemble([two_members[0], str(tiny_regression_dir)], None, combiner="mean")
    with pytest.raises(InputError, match="the 'cosine' feature needs an embedder"):
        fit_ensemble(two_members, None, combiner="mean", features=["cosine"])
    with pytest.raises(InputError, match="unknown ensemble feature 'bm42'"):
        fit_ensemble(two_members, None, combiner="mean", features=["bm42"])
    with pytest.raises(InputError, match="combiner must be one of mean, logistic, got 'vote'"):
        fit_ensemble(two_members, toy_pairs(9, "class3"), combiner="vote")
    with pytest.raises(InputError, match="PairEnsemble takes loaded PairClassifier members"):
        PairEnsemble(two_members)


def test_cosine_feature_runs_on_the_ensembles_backend(tmp_path, two_members, tiny_embedder_dir):
    """``PairClassifier(dir, backend="onnx")`` runs the "cosine" feature's embedder on ONNX too,
    with torch's probabilities."""
    pytest.importorskip("onnxruntime")
    from simmatch.ensemble import fit_ensemble
    from simmatch.models import PairClassifier

    dev, test = toy_pairs(30, "class3"), toy_pairs(12, "class3", seed=2)
    out = fit_ensemble(
        two_members, dev, features=["overlap", "cosine"], embedder=str(tiny_embedder_dir)
    ).save(tmp_path / "ens")
    torch_clf = PairClassifier(out, device="cpu")
    onnx_clf = PairClassifier(out, backend="onnx")
    want = torch_clf.model.predict_proba(test.pairs)
    got = onnx_clf.model.predict_proba(test.pairs)
    assert torch_clf.model._embedder().config.backend == "torch"
    assert onnx_clf.model._embedder().config.backend == "onnx"
    assert [m.backend for m in onnx_clf.model.members] == ["onnx", "onnx"]
    np.testing.assert_allclose(got, want, atol=1e-5)
    # fit_ensemble takes the backend of loaded members for the embedder it loads by name
    onnx_members = [PairClassifier(m, backend="onnx") for m in two_members]
    fitted = fit_ensemble(onnx_members, dev, features=["cosine"], embedder=str(tiny_embedder_dir))
    assert fitted._embedder().config.backend == "onnx"


def test_a_builtin_embedder_is_saved_by_name(tmp_path, two_members, tiny_embedder_dir):
    """An embedder object of a built-in is recorded by name, not copied (1.3 GB for e5)."""
    from types import SimpleNamespace

    from simmatch.ensemble import PairEnsemble
    from simmatch.models import PairClassifier

    embedder = SimpleNamespace(
        model_name="multilingual-e5-small", path=str(tiny_embedder_dir), similarity_pairwise=None
    )
    members = [PairClassifier(m) for m in two_members]
    out = PairEnsemble(members, features=["cosine"], embedder=embedder).save(tmp_path / "ens")
    saved = json.loads((out / "simmatch.json").read_text(encoding="utf-8"))
    assert saved["embedder"] == "multilingual-e5-small"
    assert not (out / "embedder").exists()


def test_an_ensembles_logit_offsets_are_saved_beside_its_combiner(tmp_path, two_members):
    from dataclasses import replace

    from simmatch.ensemble import fit_ensemble
    from simmatch.models import PairClassifier

    pairs = toy_pairs(9, "class3").pairs
    fit_ensemble(two_members, None, combiner="mean").save(tmp_path / "ens")
    clf = PairClassifier(tmp_path / "ens")
    plain = clf.predict(pairs)
    clf.config = replace(clf.config, logit_offsets=(0.0, 0.0, 8.0))
    clf.save_settings()
    saved = json.loads((tmp_path / "ens" / "simmatch.json").read_text(encoding="utf-8"))
    assert saved["kind"] == "ensemble" and saved["combiner"] == "mean"
    assert saved["logit_offsets"] == [0.0, 0.0, 8.0]
    again = PairClassifier(tmp_path / "ens")
    moved = again.predict(pairs)
    assert {p.label for p in moved} == {"2"} and {p.label for p in plain} != {"2"}
    # The offsets act on the ensemble's log-probabilities: p' = softmax(log p + offsets).
    z = np.log([[p.probabilities[k] for k in ("0", "1", "2")] for p in plain]) + np.array([0.0, 0.0, 8.0])
    expected = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    got = [[p.probabilities[k] for k in ("0", "1", "2")] for p in moved]
    np.testing.assert_allclose(got, expected, atol=1e-5)
