"""``Embedder(threads=N)``: the backend runs on N CPU threads (one per Ray actor), same vectors."""

from __future__ import annotations

import numpy as np
import pytest

from simmatch.errors import InputError
from simmatch.models import Embedder

TEXTS = ["吃完海鲜可以喝牛奶吗", "hello world", "柠檬水"]


def test_onnx_session_uses_the_threads_given(tiny_embedder_dir):
    pytest.importorskip("onnxruntime")
    one = Embedder(str(tiny_embedder_dir), backend="onnx", threads=1)
    assert one._backend.session.get_session_options().intra_op_num_threads == 1
    assert one.config.threads == 1
    default = Embedder(str(tiny_embedder_dir), backend="onnx")
    np.testing.assert_allclose(one.encode(TEXTS), default.encode(TEXTS), atol=1e-6)


def test_torch_runs_on_the_threads_given_and_restores_the_process_setting(tiny_embedder_dir, monkeypatch):
    import torch

    before = torch.get_num_threads()
    emb = Embedder(str(tiny_embedder_dir), device="cpu", threads=1)
    seen = []
    original = emb._backend._modules[0].forward

    def spy(features):
        seen.append(torch.get_num_threads())
        return original(features)

    monkeypatch.setattr(emb._backend._modules[0], "forward", spy)
    vectors = emb.encode(TEXTS)
    assert seen and set(seen) == {1}
    assert torch.get_num_threads() == before
    reference = Embedder(str(tiny_embedder_dir), device="cpu").encode(TEXTS)
    np.testing.assert_allclose(vectors, reference, atol=1e-6)


@pytest.mark.parametrize("threads", [0, -1, 1.5, True, "2"])
def test_bad_threads_are_refused(tiny_embedder_dir, threads):
    with pytest.raises(InputError, match="threads must be a positive integer or None"):
        Embedder(str(tiny_embedder_dir), threads=threads)
