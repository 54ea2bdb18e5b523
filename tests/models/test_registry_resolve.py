"""``resolve_model``, the one place every door (library, CLI, service, index) resolves a model:
directories without weights and hub ids missing from the local cache fail at once, with one line
naming what is missing; a hub id in the local Hugging Face cache loads from there."""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from simmatch.errors import ModelNotFoundError
from simmatch.models import Embedder, PairClassifier, resolve_model


@pytest.fixture
def hf_home(tmp_path, monkeypatch) -> Path:
    """An empty Hugging Face cache of the test's own; downloads and offline switches unset."""
    home = tmp_path / "hf-home"
    monkeypatch.setenv("HF_HOME", str(home))
    for name in ("HF_HUB_CACHE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "SIMMATCH_ALLOW_DOWNLOAD"):
        monkeypatch.delenv(name, raising=False)
    return home


def cache_model(hf_home: Path, repo_id: str, model_dir: Path, revision: str = "main") -> Path:
    """Put ``model_dir`` into the hub cache layout, as ``snapshot_download`` leaves it."""
    repo = hf_home / "hub" / f"models--{repo_id.replace('/', '--')}"
    commit = hashlib.sha1(f"{repo_id}@{revision}".encode()).hexdigest()
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / revision).write_text(commit)
    snapshot = repo / "snapshots" / commit
    shutil.copytree(model_dir, snapshot)
    return snapshot


def without_weights(model_dir: Path, target: Path) -> Path:
    shutil.copytree(model_dir, target)
    for name in ("model.safetensors", "pytorch_model.bin"):
        (target / name).unlink(missing_ok=True)
    return target


def test_directory_without_weights(tmp_path, tiny_cross3_dir, tiny_embedder_dir):
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.json").write_text('{"model_type": "bert"}')
    message = rf"model directory {bare} has no weights: expected model.safetensors or pytorch_model.bin"
    with pytest.raises(ModelNotFoundError, match=message):
        resolve_model(bare)
    with pytest.raises(ModelNotFoundError, match="has no weights"):
        PairClassifier(without_weights(tiny_cross3_dir, tmp_path / "cross"))
    st_dir = without_weights(tiny_embedder_dir, tmp_path / "st")  # a sentence-transformers directory
    with pytest.raises(ModelNotFoundError, match=rf"{st_dir} has no weights"):
        Embedder(str(st_dir))
    assert resolve_model(tiny_embedder_dir) == str(tiny_embedder_dir)


def test_sharded_weights_count(tmp_path, tiny_cross3_dir):
    sharded = without_weights(tiny_cross3_dir, tmp_path / "sharded")
    (sharded / "model.safetensors.index.json").write_text("{}")
    assert resolve_model(sharded) == str(sharded)


def test_unknown_hub_id_fails_at_once(hf_home):
    start = time.perf_counter()
    with pytest.raises(ModelNotFoundError) as err:
        resolve_model("someone/no-such-model")
    assert time.perf_counter() - start < 5
    message = str(err.value)
    assert (
        "'someone/no-such-model' is not a built-in, a local directory, or in the Hugging Face cache"
        in message
    )
    assert str(hf_home / "hub") in message and "SIMMATCH_ALLOW_DOWNLOAD=1" in message
    assert "\n" not in message


@pytest.mark.parametrize("switch", ["HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"])
def test_unknown_hub_id_offline_says_so(hf_home, monkeypatch, switch):
    monkeypatch.setenv(switch, "1")
    monkeypatch.setenv("SIMMATCH_ALLOW_DOWNLOAD", "1")  # offline wins
    with pytest.raises(ModelNotFoundError, match=rf"and {switch} is set \(offline\)"):
        resolve_model("someone/no-such-model")


def test_hub_id_loads_from_the_local_cache(hf_home, tiny_embedder_dir, tiny_embedder, tiny_cross3_dir):
    snapshot = cache_model(hf_home, "someone/tiny-embedder", tiny_embedder_dir)
    assert resolve_model("someone/tiny-embedder") == str(snapshot)
    emb = Embedder("someone/tiny-embedder", device="cpu")
    assert emb.model_name == "someone/tiny-embedder"
    np.testing.assert_allclose(
        emb.encode(["你好", "牛奶"]), tiny_embedder.encode(["你好", "牛奶"]), atol=1e-6
    )
    cache_model(hf_home, "someone/tiny-cross", tiny_cross3_dir)
    clf = PairClassifier("someone/tiny-cross", device="cpu")
    direct = PairClassifier(tiny_cross3_dir, device="cpu")
    np.testing.assert_allclose(clf.scores([("你好", "牛奶")]), direct.scores([("你好", "牛奶")]), atol=1e-6)


def test_hub_revision_and_incomplete_snapshot(hf_home, tmp_path, tiny_cross3_dir):
    tagged = cache_model(hf_home, "someone/cross", tiny_cross3_dir, revision="v1.0.0")
    assert resolve_model("someone/cross", revision="v1.0.0") == str(tagged)
    with pytest.raises(ModelNotFoundError, match=r"'someone/cross@v2' is not a built-in"):
        resolve_model("someone/cross", revision="v2")
    cache_model(hf_home, "someone/partial", without_weights(tiny_cross3_dir, tmp_path / "partial"))
    with pytest.raises(ModelNotFoundError, match=r"someone/partial \(cached at .*\) has no weights"):
        resolve_model("someone/partial")


def test_download_only_when_allowed(hf_home, monkeypatch, tiny_cross3_dir):
    """With ``SIMMATCH_ALLOW_DOWNLOAD=1`` a missing hub id goes to ``snapshot_download`` (faked
    here: no network), whose folder is then checked like any model directory."""
    import huggingface_hub

    calls: list[dict] = []
    real = huggingface_hub.snapshot_download

    def fake(repo_id, **kwargs):
        calls.append(kwargs)
        if kwargs.get("local_files_only"):
            return real(repo_id, **kwargs)
        return str(cache_model(hf_home, repo_id, tiny_cross3_dir))

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake)
    with pytest.raises(ModelNotFoundError, match="does not download by default"):
        resolve_model("someone/remote")
    assert [c["local_files_only"] for c in calls] == [True]
    monkeypatch.setenv("SIMMATCH_ALLOW_DOWNLOAD", "1")
    path = resolve_model("someone/remote")
    assert Path(path).is_dir() and calls[-1].get("local_files_only") is None
    assert calls[-1]["cache_dir"] == hf_home / "hub"
