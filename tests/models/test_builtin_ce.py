"""Built-in cross-encoders: the stored form (fp16 body + head, no word embeddings) and its atomic
assembly with the base model's word embeddings, on the tiny fixture models."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from simmatch.errors import ModelNotFoundError


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_embedder_dir):
    """A pruned mean-head cross-encoder on the tiny embedder (as training leaves it, untrained)."""
    from simmatch.training.cross_encoder import _build_cross_encoder

    pairs = [("你好吗", "我很好"), ("今天天气好", "天气不好"), ("小猫喝水", "小狗吃饭")]
    model, _ = _build_cross_encoder(
        tiny_embedder_dir, ["0", "1", "2"], device="cpu", init_pairs=pairs, head="mean", layers=1
    )
    out = tmp_path_factory.mktemp("trained") / "model"
    model.save(str(out))
    return out


def test_package_then_assemble_round_trip(tmp_path, trained, tiny_embedder_dir):
    from safetensors import safe_open

    from simmatch.models import PairClassifier
    from simmatch.models.builtin_ce import ensure_builtin_cross_encoder, is_assembled, package

    root = tmp_path / "pkg"
    manifest = package(
        trained, "tiny-rel", labels=["a", "b", "c"], card="# card\n", root=root, base_dir=tiny_embedder_dir
    )
    with safe_open(str(root / "tiny-rel" / "weights.safetensors"), "pt") as f:
        keys = list(f.keys())
        assert all(str(f.get_tensor(k).dtype) == "torch.float16" for k in keys if "LayerNorm" in k)
    assert not any(k.endswith("word_embeddings.weight") for k in keys)
    assert manifest["word_embeddings_key"] == "model.safetensors::embeddings.word_embeddings.weight"
    assert manifest["max_relative_fp16_error"] < 1e-3
    assert not (root / "tiny-rel" / "files" / "tokenizer.json").exists()

    target = tmp_path / "cache" / "tiny-rel"
    out = ensure_builtin_cross_encoder("tiny-rel", root=root, target=target, base_dir=tiny_embedder_dir)
    assert out == target and is_assembled("tiny-rel", target, root)
    assert (target / "README.md").read_text(encoding="utf-8") == "# card\n"
    stamp = (target / "model.safetensors").stat().st_mtime_ns
    assert (
        ensure_builtin_cross_encoder("tiny-rel", root=root, target=target, base_dir=tiny_embedder_dir)
        == target
    )
    assert (target / "model.safetensors").stat().st_mtime_ns == stamp  # assembled once

    # New weights of the same shape (a retrained built-in) must assemble again, not reuse the cache.
    import torch
    from safetensors.torch import load_file, save_file

    weights = root / "tiny-rel" / "weights.safetensors"
    tensors = load_file(str(weights))
    tensors = {k: (v + 1 if k.endswith("bias") else v) for k, v in tensors.items()}
    save_file(tensors, str(weights))
    changed = json.loads((root / "tiny-rel" / "manifest.json").read_text(encoding="utf-8"))
    changed["weights_sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    (root / "tiny-rel" / "manifest.json").write_text(json.dumps(changed), encoding="utf-8")
    assert manifest["weights_sha256"] != changed["weights_sha256"]
    assert not is_assembled("tiny-rel", target, root)
    ensure_builtin_cross_encoder("tiny-rel", root=root, target=target, base_dir=tiny_embedder_dir)
    assert is_assembled("tiny-rel", target, root)
    bias = next(k for k in tensors if k.endswith("bias"))
    rel, key = bias.split("::")
    with safe_open(str(target / rel), "pt") as f:
        assert torch.equal(f.get_tensor(key).half(), tensors[bias])
    package(  # the trained weights back, for the comparison below
        trained, "tiny-rel", labels=["a", "b", "c"], card="# card\n", root=root, base_dir=tiny_embedder_dir
    )
    ensure_builtin_cross_encoder("tiny-rel", root=root, target=target, base_dir=tiny_embedder_dir)
    assert PairClassifier(target, device="cpu").config.logit_offsets == ()

    pairs = [("吃完海鲜可以喝牛奶吗", "吃海鲜不能喝牛奶"), ("你好", "hello world")]
    assembled = PairClassifier(target, device="cpu")
    original = PairClassifier(trained, device="cpu")
    assert assembled.labels == ["a", "b", "c"] and original.labels == ["0", "1", "2"]
    np.testing.assert_allclose(assembled.logits(pairs), original.logits(pairs), atol=2e-3)


def test_decision_offsets_travel_with_the_stored_form(tmp_path, trained, tiny_embedder_dir):
    """A run's simmatch.json (its tuned logit offsets) is stored and assembled; the same weights with
    new offsets assemble again (the manifest names the small files' digest)."""
    import shutil

    from simmatch.models import PairClassifier
    from simmatch.models.builtin_ce import ensure_builtin_cross_encoder, is_assembled, package

    run = shutil.copytree(trained, tmp_path / "run")
    root, target = tmp_path / "store", tmp_path / "cache" / "tiny-rel"
    (run / "simmatch.json").write_text(json.dumps({"logit_offsets": [0.0, 0.25, -0.5]}), encoding="utf-8")
    first = package(run, "tiny-rel", root=root, base_dir=tiny_embedder_dir)
    ensure_builtin_cross_encoder("tiny-rel", root=root, target=target, base_dir=tiny_embedder_dir)
    assert PairClassifier(target, device="cpu").config.logit_offsets == (0.0, 0.25, -0.5)
    (run / "simmatch.json").write_text(json.dumps({"logit_offsets": [0.0, 0.5, 0.0]}), encoding="utf-8")
    second = package(run, "tiny-rel", root=root, base_dir=tiny_embedder_dir)
    assert first["weights_sha256"] == second["weights_sha256"]
    assert first["files_sha256"] != second["files_sha256"]
    assert not is_assembled("tiny-rel", target, root)
    ensure_builtin_cross_encoder("tiny-rel", root=root, target=target, base_dir=tiny_embedder_dir)
    assert PairClassifier(target, device="cpu").config.logit_offsets == (0.0, 0.5, 0.0)


def test_assembly_refuses_other_word_embeddings(tmp_path, trained, tiny_embedder_dir):
    from simmatch.models.builtin_ce import ensure_builtin_cross_encoder, package

    root = tmp_path / "pkg"
    package(trained, "tiny-rel", root=root, base_dir=tiny_embedder_dir)
    manifest = json.loads((root / "tiny-rel" / "manifest.json").read_text(encoding="utf-8"))
    manifest["word_embeddings_sha256"] = "0" * 64
    (root / "tiny-rel" / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ModelNotFoundError, match="was trained on another build of the built-in e5's word"):
        ensure_builtin_cross_encoder("tiny-rel", root=root, target=tmp_path / "t", base_dir=tiny_embedder_dir)
    assert not (tmp_path / "t").exists()
    with pytest.raises(ModelNotFoundError, match="'nope' is not packaged"):
        ensure_builtin_cross_encoder("nope", root=root, target=tmp_path / "t2")


def test_registry_lists_the_builtin_cross_encoders_with_labels():
    from simmatch.models import list_builtin_models

    rows = {r["name"]: r for r in list_builtin_models()}
    assert rows["relevance-zh"]["labels"] == ["0", "1", "2"]
    assert rows["paraphrase-zh"]["labels"] == ["not_similar", "similar"]
    assert rows["paraphrase-zh"]["family"] == "cross-encoder"
    assert rows["multilingual-e5-small"]["family"] == "embedder"
