from __future__ import annotations

import numpy as np
import pytest

from simmatch.errors import InputError
from simmatch.models import Embedder


def test_encode_shapes_dtype_and_norm(tiny_embedder):
    vecs = tiny_embedder.encode(["吃完海鲜可以喝牛奶吗?", "hello world"])
    assert vecs.shape == (2, tiny_embedder.dim) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    single = tiny_embedder.encode("hello world")
    assert single.shape == (tiny_embedder.dim,)
    np.testing.assert_allclose(single, vecs[1], atol=1e-6)


def test_unnormalized_output_is_the_mean_pooled_state(tiny_embedder, tiny_embedder_dir):
    """normalize=False gives the model's mean-pooled hidden state of "query: " + text (computed
    here with transformers directly); normalize=True gives that vector at unit length."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_embedder_dir)
    model = AutoModel.from_pretrained(tiny_embedder_dir).eval()
    with torch.no_grad():
        hidden = model(**tokenizer(["query: 牛奶 milk"], return_tensors="pt")).last_hidden_state
    want = hidden[0].mean(0).numpy()
    raw = tiny_embedder.encode(["牛奶 milk"], normalize=False)
    np.testing.assert_allclose(raw[0], want, atol=1e-5)
    assert abs(float(np.linalg.norm(raw)) - 1.0) > 0.1
    np.testing.assert_allclose(tiny_embedder.encode(["牛奶 milk"])[0], want / np.linalg.norm(want), atol=1e-6)


def test_padding_does_not_change_embedding(tiny_embedder):
    """Pooling respects the attention mask: a short text alone equals it batched with a long one."""
    short = "你好"
    long = "吃完海鲜可以喝牛奶吗 " * 5
    alone = tiny_embedder.encode([short])
    batched = tiny_embedder.encode([short, long], batch_size=2)
    np.testing.assert_allclose(alone[0], batched[0], atol=1e-5)


def test_prompts_change_the_vector(tiny_embedder):
    q = tiny_embedder.encode("牛奶", kind="query")
    p = tiny_embedder.encode("牛奶", kind="passage")
    n = tiny_embedder.encode("牛奶", kind=None)
    assert not np.allclose(q, p) and not np.allclose(q, n)
    assert tiny_embedder.prompt_for("query") == "query: "
    assert tiny_embedder.prompt_for("passage") == "passage: "


def test_similarity_and_compare(tiny_embedder):
    s = tiny_embedder.similarity("你好", "你好")
    assert isinstance(s, float) and s == pytest.approx(1.0, abs=1e-5)
    m = tiny_embedder.similarity(["你好", "牛奶"], ["你好", "海鲜", "水果"])
    assert m.shape == (2, 3)
    out = tiny_embedder.compare(["你好"], ["你好", "牛奶"])
    assert out["text_embedding"].shape == (3, tiny_embedder.dim)
    assert len(out["scores"]) == 2 and out["scores"][0] == pytest.approx(1.0, abs=1e-5)
    expected = out["text_embedding"][1:] @ out["text_embedding"][0]
    np.testing.assert_allclose(out["scores"], expected, atol=1e-6)


def test_similarity_pairwise_is_the_diagonal(tiny_embedder):
    a = ["你好", "吃完海鲜可以喝牛奶吗?", "cat"]
    b = ["你好", "吃海鲜不能同时喝牛奶吃水果", "dog"]
    got = tiny_embedder.similarity_pairwise(a, b)
    assert got.shape == (3,) and got.dtype == np.float32
    np.testing.assert_allclose(got, np.diag(tiny_embedder.similarity(a, b)), atol=1e-6)
    assert got[0] == pytest.approx(1.0, abs=1e-6)
    assert [tiny_embedder.similarity(x, y) for x, y in zip(a, b)] == pytest.approx(got.tolist(), abs=1e-6)
    passage = tiny_embedder.similarity_pairwise(a, b, kind="passage")
    want = np.einsum(
        "ij,ij->i", tiny_embedder.encode(a, kind="passage"), tiny_embedder.encode(b, kind="passage")
    )
    np.testing.assert_allclose(passage, want, atol=1e-6)
    with pytest.raises(InputError, match="a and b must have the same length, got 3 and 2"):
        tiny_embedder.similarity_pairwise(a, b[:2])
    with pytest.raises(InputError, match=r"b\[1\] is empty"):
        tiny_embedder.similarity_pairwise(a[:2], ["x", " "])


def test_rank_orders_by_cosine(tiny_embedder):
    docs = ["牛奶", "你好", "海鲜"]
    ranked = tiny_embedder.rank("你好", docs)
    scores = [d.score for d in ranked]
    assert scores == sorted(scores, reverse=True)
    q = tiny_embedder.encode("你好", kind="query")
    d = tiny_embedder.encode(docs, kind="passage")
    assert ranked[0].index == int(np.argmax(d @ q))
    assert len(tiny_embedder.rank("你好", docs, top_k=2)) == 2


def test_long_text_windows_match_manual_average(tiny_embedder):
    """Windowing: a text over the window is the token-weighted mean of its windows' vectors."""
    emb = tiny_embedder
    long_text = "吃完海鲜可以喝牛奶吗" * 12  # 120 content tokens > 62-token window
    ids = emb._content_ids([long_text], "query")[0]
    assert len(ids) > emb._window
    chunks = [ids[i : i + emb._window] for i in range(0, len(ids), emb._window)]
    pooled = [emb._backend.embed(*emb._pad([c]))[0] for c in chunks]
    manual = sum(len(c) * p for c, p in zip(chunks, pooled)) / len(ids)
    manual /= np.linalg.norm(manual)
    np.testing.assert_allclose(emb.encode(long_text), manual, atol=1e-5)
    assert emb.count_tokens(long_text)[0] == len(ids) + 2 * len(chunks)


def test_truncate_policy_warns(tiny_embedder_dir):
    emb = Embedder(str(tiny_embedder_dir), device="cpu", long_text="truncate")
    with pytest.warns(UserWarning, match="truncated"):
        emb.encode("吃完海鲜可以喝牛奶吗" * 12)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ([], "empty; pass at least one text"),
        (["ok", ""], r"texts\[1\] is empty or whitespace"),
        (["ok", "   "], r"texts\[1\] is empty or whitespace"),
        (["ok", None], r"texts\[1\] is None"),
        (["ok", 3], r"texts\[1\] must be a string, got int"),
        ("", "text is empty"),
        (None, "texts is None"),
    ],
)
def test_bad_input_messages(tiny_embedder, bad, match):
    with pytest.raises(InputError, match=match):
        tiny_embedder.encode(bad)


def test_bad_options(tiny_embedder, tiny_embedder_dir):
    with pytest.raises(InputError, match="kind must be"):
        tiny_embedder.encode("x", kind="document")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="batch_size"):
        tiny_embedder.encode("x", batch_size=0)
    with pytest.raises(InputError, match="unknown backend"):
        Embedder(str(tiny_embedder_dir), backend="tensorrt")
    with pytest.raises(InputError, match="source_sentence must be one text"):
        tiny_embedder.compare(["a", "b"], ["c"])


def test_a_builtin_cross_encoder_is_refused_as_an_embedder():
    """sentence-transformers would load it as an embedder with a made-up pooling (a silent wrong
    answer); the message names the class to use."""
    with pytest.raises(
        InputError, match=r"paraphrase-zh is a built-in cross-encoder .*PairClassifier\('paraphrase-zh'\)"
    ):
        Embedder("paraphrase-zh")
