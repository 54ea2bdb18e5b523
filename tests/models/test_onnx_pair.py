"""The single tower's ONNX backends against PyTorch on the tiny fixture cross-encoders (3-label,
regression, pruned), torch-free loading, the shared export cache, and the doors (CLI, index
rerank, service) running the backend they were asked for.

The export writes into ``<model dir>/onnx/``, so these tests work on their own copies of the
session-wide fixture models."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from simmatch.errors import InputError
from simmatch.models import PairClassifier, prune_layers
from simmatch.models.pair_classifier import encode_pairs

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from simmatch.models import onnx_export, onnx_pair

PAIRS = [
    ("吃完海鲜可以喝牛奶吗?", "吃海鲜不能同时喝牛奶"),
    ("hello world", "how are you"),
    ("你好", "牛奶"),
    ("柠檬水 lemon water 可以 喝 吗", "饭后 可以 吃 水果 吗 " * 3),
    ("我", "hello"),
]
LONG = ("你好" * 40, "牛奶" * 40)  # longer than the fixture's 64 positions: truncated


def _copy(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("onnx"))
    return dest


@pytest.fixture(scope="module")
def cross3(tiny_cross3_dir, tmp_path_factory) -> Path:
    return _copy(tiny_cross3_dir, tmp_path_factory.mktemp("onnx-pair") / "cross3")


@pytest.fixture(scope="module")
def regression(tiny_regression_dir, tmp_path_factory) -> Path:
    return _copy(tiny_regression_dir, tmp_path_factory.mktemp("onnx-pair") / "regression")


@pytest.fixture(scope="module")
def pruned(cross3, tmp_path_factory) -> Path:
    return prune_layers(cross3, 1, device="cpu").save(tmp_path_factory.mktemp("onnx-pair") / "pruned")


def _probabilities(preds) -> np.ndarray:
    return np.array([[p.probabilities[k] for k in sorted(p.probabilities)] for p in preds])


@pytest.mark.parametrize("which", ["cross3", "pruned"])
def test_classification_parity(which, request):
    path = request.getfixturevalue(which)
    ref = PairClassifier(path, device="cpu")
    expected = ref.predict([*PAIRS, LONG])
    for backend, tolerance in (("onnx", 1e-4), ("onnx-int8", 1e-2)):
        clf = PairClassifier(path, backend=backend)
        assert clf.backend == backend and clf.model is None
        assert clf.labels == ref.labels == ["0", "1", "2"] and not clf.is_regression
        assert clf.config == ref.config
        with pytest.warns(UserWarning, match="1 pair"):
            got = clf.predict([*PAIRS, LONG])
        assert [p.label for p in got] == [p.label for p in expected]
        np.testing.assert_allclose(_probabilities(got), _probabilities(expected), atol=tolerance)
        np.testing.assert_allclose([p.score for p in got], [p.score for p in expected], atol=tolerance)


def test_regression_parity(regression):
    ref = PairClassifier(regression, device="cpu")
    for backend, tolerance in (("onnx", 1e-4), ("onnx-int8", 1e-2)):
        clf = PairClassifier(regression, backend=backend)
        assert clf.is_regression and clf.labels == ref.labels
        got, expected = clf.predict(PAIRS), ref.predict(PAIRS)
        assert [p.label for p in got] == [p.label for p in expected]
        np.testing.assert_allclose([p.score for p in got], [p.score for p in expected], atol=tolerance)
        assert all(p.probabilities == {} for p in got)


def test_pruned_model_keeps_the_first_layers(cross3, pruned):
    source = PairClassifier(cross3, device="cpu")
    before = source.logits(PAIRS)
    cut = prune_layers(source, 1)
    assert cut.model is not source.model and cut.labels == source.labels
    assert len(cut.model.bert.encoder.layer) == 1 and cut.model.config.num_hidden_layers == 1
    assert len(source.model.bert.encoder.layer) == 2  # the source is left as it was
    np.testing.assert_array_equal(source.logits(PAIRS), before)
    # Layer 0's weights are the source's; the output changes (one layer fewer).
    for a, b in zip(
        cut.model.bert.encoder.layer[0].parameters(), source.model.bert.encoder.layer[0].parameters()
    ):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())
    assert not np.allclose(cut.logits(PAIRS), before)
    assert json.loads((pruned / "config.json").read_text())["num_hidden_layers"] == 1
    np.testing.assert_allclose(
        PairClassifier(pruned, device="cpu").logits(PAIRS), cut.logits(PAIRS), atol=1e-6
    )
    assert PairClassifier(pruned, backend="onnx")._backend.layers == 1
    with pytest.raises(InputError, match="has 2 encoder layers; cannot keep 3"):
        prune_layers(source, 3)
    with pytest.raises(InputError, match="layers must be a positive integer, got 0"):
        prune_layers(source, 0)


def test_tokenizers_give_the_same_ids(cross3):
    ref = PairClassifier(cross3, device="cpu")
    clf = PairClassifier(cross3, backend="onnx")
    assert isinstance(clf.tokenizer, onnx_export.FastTokenizer)
    assert clf.tokenizer.pad_token_id == ref.tokenizer.pad_token_id
    pairs = [*PAIRS, LONG, (" leading", "trailing  "), ("[UNK] ☃ 😀", "HELLO World")]
    for limit in (None, 64, 20):
        assert encode_pairs(clf.tokenizer, pairs, limit) == encode_pairs(ref.tokenizer, pairs, limit)
    ids, types = encode_pairs(clf.tokenizer, [LONG], 20)
    assert len(ids[0]) == 20 and set(types[0]) == {0, 1}


def test_input_order_kept_under_token_length_batches(cross3, monkeypatch):
    """Batches go longest first by token count (not characters, not input order); results come
    back in input order."""
    clf = PairClassifier(cross3, backend="onnx")
    # Characters and tokens disagree: "hello world ..." is long in characters, short in tokens.
    pairs = [
        ("hello world", "hello world hello"),
        ("你好吗", "牛奶"),
        ("我", "你"),
        ("吃完海鲜可以", "喝牛奶吗"),
    ]
    token_counts = [len(x) for x in encode_pairs(clf.tokenizer, pairs)[0]]
    char_counts = [len(a) + len(b) for a, b in pairs]
    assert np.argsort(token_counts).tolist() != np.argsort(char_counts).tolist()
    seen: list[int] = []
    real = clf._backend.logits

    def spy(features):
        seen.extend(features["attention_mask"].sum(axis=1).tolist())
        return real(features)

    monkeypatch.setattr(clf._backend, "logits", spy)
    one_by_one = clf.logits(pairs, batch_size=1)
    assert seen == sorted(token_counts, reverse=True)
    batched = clf.logits(pairs, batch_size=3)
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    for i, pair in enumerate(pairs):
        np.testing.assert_allclose(clf.logits([pair])[0], one_by_one[i], atol=1e-5)
    reordered = [pairs[i] for i in (2, 0, 3, 1)]
    np.testing.assert_allclose(clf.logits(reordered), one_by_one[[2, 0, 3, 1]], atol=1e-5)


def test_onnx_cross_encoder_loads_without_torch(cross3):
    """Once exported, the ONNX cross-encoder never imports PyTorch (nor transformers)."""
    expected = PairClassifier(cross3, backend="onnx-int8").scores(PAIRS[:2]).tolist()
    code = (
        "import sys, json\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'transformers'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from simmatch.models import PairClassifier\n"
        f"clf = PairClassifier({str(cross3)!r}, backend='onnx-int8')\n"
        f"print(json.dumps(clf.scores({PAIRS[:2]!r}).tolist()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    np.testing.assert_allclose(json.loads(out.stdout), expected, atol=1e-6)


def test_one_cache_mechanism_for_both_families(cross3, monkeypatch):
    clf = PairClassifier(cross3, backend="onnx-int8")
    export = clf._backend.export_dir
    assert export == onnx_pair.export_dir(str(cross3)) and export.parent == cross3 / "onnx"
    assert export.name.startswith("simmatch-pair-")
    int8 = onnx_export.int8_file_name(onnx_export.INT8_RECIPE)
    assert clf._backend.model_file == export / int8
    assert {p.name for p in export.iterdir()} >= {
        onnx_export.FP32_FILE,
        onnx_export.FP32_FILE + ".data",
        int8,
        onnx_export.META_FILE,
        onnx_export.TOKENIZER_DIR,
    }

    def fail(*args, **kwargs):
        raise AssertionError("export or quantization ran again")

    monkeypatch.setattr(onnx_pair, "_export_pair", fail)
    monkeypatch.setattr(onnx_export, "quantize_int8", fail)
    again = PairClassifier(cross3, backend="onnx-int8")
    np.testing.assert_array_equal(again.logits(PAIRS), clf.logits(PAIRS))
    # Another family's export in the same model folder leaves this one in place.
    other = onnx_export.ensure_export(str(cross3), "embedder", lambda path, out: {"fake": True})
    assert other.parent == export.parent and other != export and export.is_dir()


def test_bad_options(cross3, tiny_embedder_dir, tmp_path):
    with pytest.raises(InputError, match="unknown backend 'onnx-fp16'; choose one of torch, onnx, onnx-int8"):
        PairClassifier(cross3, backend="onnx-fp16")
    with pytest.raises(InputError, match="threads must be >= 1"):
        onnx_pair.OnnxPairBackend(str(cross3), threads=0)
    with pytest.raises(
        InputError, match=r"save\(\) writes PyTorch weights; this classifier runs on backend='onnx'"
    ):
        PairClassifier(cross3, backend="onnx").save(tmp_path / "out")
    # An embedder directory is refused by the ONNX door as by the torch one (untrained head).
    embedder = _copy(tiny_embedder_dir, tmp_path / "embedder")
    with pytest.raises(InputError, match=r"its classification head .* was never trained"):
        PairClassifier(embedder, backend="onnx")


class _Calls:
    """Counts the ONNX cross-encoder's model calls in this process."""

    def __init__(self, monkeypatch) -> None:
        self.n = 0
        real = onnx_pair.OnnxPairBackend.logits

        def counted(backend, features):
            self.n += 1
            return real(backend, features)

        monkeypatch.setattr(onnx_pair.OnnxPairBackend, "logits", counted)


def test_index_rerank_uses_the_chosen_backend(cross3, tiny_embedder_dir, tmp_path, capsys, monkeypatch):
    from simmatch.cli.main import main
    from simmatch.index import Index
    from simmatch.models import Embedder

    embedder = Embedder(str(tiny_embedder_dir), device="cpu")
    path = tmp_path / "idx"
    with Index.create(path, embedder, ann="flat") as index:
        index.add(
            [
                {"id": i, "text": t}
                for i, t in (("a", "吃完海鲜可以喝牛奶吗"), ("b", "hello world"), ("c", "牛奶"))
            ]
        )
    calls = _Calls(monkeypatch)
    reranker = PairClassifier(cross3, backend="onnx")
    with Index.open(path, embedder, read_only=True) as index:
        hits = index.search("牛奶", rerank=reranker, rerank_top_k=3)
    assert calls.n == 1
    expected = reranker.scores([("牛奶", h.text) for h in hits])
    assert [h.scores["rerank"] for h in hits] == pytest.approx(expected.tolist(), abs=1e-6)
    capsys.readouterr()
    calls.n = 0
    assert main(["index", "search", str(path), "牛奶", "--rerank", str(cross3), "--backend", "onnx"]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert calls.n == 1
    assert [h["id"] for h in printed] == [h.id for h in hits]
    assert [h["scores"]["rerank"] for h in printed] == pytest.approx(expected.tolist(), abs=1e-6)


@pytest.mark.parametrize("command", ["similarity", "rank"])
def test_cli_backend_reaches_the_cross_encoder(command, cross3, capsys, monkeypatch):
    from simmatch.cli.main import main

    calls = _Calls(monkeypatch)
    texts = ["吃完海鲜可以喝牛奶吗", "牛奶"] if command == "similarity" else ["你好", "牛奶", "hello"]
    assert main([command, *texts, "-c", str(cross3), "--backend", "onnx-int8"]) == 0
    assert calls.n == 1
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    clf = PairClassifier(cross3, backend="onnx-int8")
    if command == "similarity":
        assert printed[0]["label"] == clf.predict([tuple(texts)])[0].label
    else:
        assert [r["index"] for r in printed] == [r.index for r in clf.rank(texts[0], texts[1:])]


def test_eval_backend_reaches_the_cross_encoder(cross3, tmp_path, capsys, monkeypatch):
    from simmatch.cli.main import main
    from simmatch.evaluation import evaluate_dataset

    data = tmp_path / "pairs.tsv"
    data.write_text("".join(f"{a}\t{b}\t{i % 3}\n" for i, (a, b) in enumerate(PAIRS)), encoding="utf-8")
    calls = _Calls(monkeypatch)
    assert main(["eval", "cross-encoder", "-m", str(cross3), "-d", str(data), "--backend", "onnx"]) == 0
    assert calls.n == 1
    record = json.loads(capsys.readouterr().out)
    assert record == evaluate_dataset(str(cross3), str(data), family="cross-encoder", backend="onnx")


def test_service_reranks_with_the_chosen_backend(cross3, tiny_embedder_dir, tmp_path, monkeypatch):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from simmatch.service import LoadedModels, ServiceSettings, create_app

    embedder = _copy(tiny_embedder_dir, tmp_path / "embedder")
    settings = ServiceSettings(model=str(embedder), cross_encoder=str(cross3), backend="onnx", device="cpu")
    models = LoadedModels.load(settings)
    assert models.cross_encoder is not None and models.cross_encoder.backend == "onnx"
    calls = _Calls(monkeypatch)
    docs = ["你好", "牛奶", "hello world"]
    with TestClient(create_app(settings, models=models)) as client:
        response = client.post("/rerank", json={"query": "牛奶", "documents": docs})
        cards = client.get("/models").json()["data"]
    assert response.status_code == 200, response.text
    assert calls.n == 1
    expected = PairClassifier(cross3, backend="onnx").rank("牛奶", docs)
    got = response.json()["results"]
    assert [r["index"] for r in got] == [r.index for r in expected]
    assert [r["relevance_score"] for r in got] == pytest.approx([r.score for r in expected], abs=1e-6)
    assert [c["backend"] for c in cards] == ["onnx", "onnx"]


def test_count_tokens_is_the_same_for_every_backend(cross3):
    """What the service charges a request (``PairClassifier.count_tokens``) is the transformers
    tokenizer's pair length capped at ``max_length``, whichever backend's tokenizer counts it."""
    from transformers import AutoTokenizer

    pairs = [*PAIRS, LONG]
    torch_clf = PairClassifier(cross3, device="cpu")
    limit = torch_clf.config.max_length
    reference = AutoTokenizer.from_pretrained(cross3)([a for a, _ in pairs], [b for _, b in pairs])
    expected = [min(len(ids), limit) for ids in reference["input_ids"]]
    assert expected[-1] == limit  # the long pair is capped
    assert torch_clf.count_tokens(pairs) == expected
    assert PairClassifier(cross3, backend="onnx").count_tokens(pairs) == expected
    with pytest.raises(InputError, match=r"pairs\[0\]"):
        torch_clf.count_tokens([("", "x")])
