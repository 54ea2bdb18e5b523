"""A cross-encoder whose classification head was never trained (an embedder directory, or a bare
base model) is refused with a message saying what the directory is and what to pass instead, by
every door: ``PairClassifier``, ``pipeline``, ``simmatch similarity -c`` and ``simmatch serve -c``.
Before, transformers initialized the head at random and every pair got the same label."""

from __future__ import annotations

import re

import pytest

from simmatch.cli.main import main
from simmatch.errors import InputError
from simmatch.models import PairClassifier, pipeline
from tests.conftest import _bert_config, build_tokenizer

HEAD = r"its classification head \(classifier\.bias, classifier\.weight\) was never trained"
INSTEAD = (
    "Pass a trained cross-encoder, load this model as an embedder (Embedder, CLI --model), "
    "or train a cross-encoder from it (PairClassifier.create(...), CLI simmatch train cross-encoder)"
)


@pytest.fixture(scope="module")
def base_model_dir(tmp_path_factory):
    """A bare encoder (``BertModel``) with its tokenizer: what a hub base model looks like."""
    from transformers import BertModel

    out = tmp_path_factory.mktemp("models") / "tiny-base"
    _, vocab = build_tokenizer(out)
    BertModel(_bert_config(len(vocab))).save_pretrained(out)
    return out


def test_embedder_directory_is_refused(tiny_embedder_dir):
    with pytest.raises(InputError) as exc:
        PairClassifier(tiny_embedder_dir, device="cpu")
    message = str(exc.value)
    assert message.startswith(
        f"{tiny_embedder_dir} is an embedding model (sentence-transformers directory), not a cross-encoder: "
    )
    assert re.search(HEAD, message) and message.endswith(INSTEAD) and "\n" not in message


def test_base_model_is_refused(base_model_dir):
    with pytest.raises(InputError) as exc:
        PairClassifier(base_model_dir, device="cpu")
    message = str(exc.value)
    assert message.startswith(
        f"{base_model_dir} is a base model without a trained classification head, not a cross-encoder: "
    )
    assert re.search(HEAD, message) and message.endswith(INSTEAD)


@pytest.mark.parametrize("task", ["sentence-similarity", "text-ranking"])
def test_pipelines_refuse_it(task, tiny_embedder_dir):
    with pytest.raises(InputError, match=HEAD):
        pipeline(task, model=str(tiny_embedder_dir), device="cpu")


def test_create_still_gives_a_fresh_head_to_train(base_model_dir, tmp_path):
    """``create`` is how a head is started; once saved, the head is part of the checkpoint."""
    clf = PairClassifier.create(base_model_dir, ["0", "1"], device="cpu")
    pairs = [("你好", "牛奶"), ("hello", "world")]
    saved = clf.save(tmp_path / "ce")
    again = PairClassifier(saved, device="cpu")
    assert again.labels == ["0", "1"]
    assert [p.probabilities for p in again.predict(pairs)] == [p.probabilities for p in clf.predict(pairs)]


def test_trained_cross_encoders_load(tiny_cross3_dir, tiny_regression_dir):
    assert PairClassifier(tiny_cross3_dir, device="cpu").labels == ["0", "1", "2"]
    assert PairClassifier(tiny_regression_dir, device="cpu").is_regression


def test_cli_similarity_exits_2_with_one_line(capsys, tiny_embedder_dir):
    code = main(["similarity", "你好", "牛奶", "--cross-encoder", str(tiny_embedder_dir), "--device", "cpu"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert (
        err.startswith(f"simmatch: error: {tiny_embedder_dir} is an embedding model") and err.count("\n") == 1
    )
    assert re.search(HEAD, err)


def test_serve_refuses_it_before_the_server_starts(capsys, tiny_embedder_dir, monkeypatch):
    uvicorn = pytest.importorskip("uvicorn")

    def started(*args, **kwargs):
        raise AssertionError("the server started with an untrained cross-encoder")

    monkeypatch.setattr(uvicorn, "run", started)
    monkeypatch.delenv("SIMMATCH_API_KEY", raising=False)
    argv = [
        "serve",
        "-m",
        str(tiny_embedder_dir),
        "-c",
        str(tiny_embedder_dir),
        "--device",
        "cpu",
        "--port",
        "0",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith(f"simmatch: error: {tiny_embedder_dir} is an embedding model") and err.count("\n") == 1
    )
