"""The shared training layer on the tiny fixture models: every loss trains (its loss falls), the
saved model loads back through the library and predicts, resume reproduces an uninterrupted run."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from simmatch.data import PairDataset, PairExample, RetrievalExample
from simmatch.errors import InputError
from simmatch.training import TrainingConfig, train_cross_encoder, train_embedder

_CHARS = list("我你他她们的是不了在有人这个上来到时大地为子中说生国年着就那和要出也得里后以会家可下")


def _sentence(rng: random.Random, n: int = 6) -> str:
    return "".join(rng.choices(_CHARS, k=n))


def toy_pairs(n: int, kind: str, seed: int = 0) -> PairDataset:
    """Pairs whose label follows how much of sentence1 sentence2 repeats, so it is learnable."""
    rng = random.Random(seed)
    examples = []
    for i in range(n):
        a = _sentence(rng)
        grade = i % 3 if kind == "class3" else i % 2
        b = a if grade == 2 else a[:4] + _sentence(rng, 2) if grade == 1 else _sentence(rng)
        if kind == "score":
            examples.append(PairExample(a, b, float(grade * 2.5)))
        else:
            examples.append(PairExample(a, b, str(grade)))
    if kind == "score":
        return PairDataset(examples, name=f"toy-{kind}", label_type="score", score_range=(0.0, 5.0))
    labels = ["0", "1", "2"] if kind == "class3" else ["0", "1"]
    return PairDataset(examples, name=f"toy-{kind}", label_type="class", label_set=labels)


def config(tmp_path: Path, name: str, **kw) -> TrainingConfig:
    values = {
        "output_dir": str(tmp_path / name),
        "max_steps": 12,
        "batch_size": 8,
        "lr": 1e-2,
        "warmup": 0,
        "logging_steps": 1,
        "progress": False,
        "device": "cpu",
        "save_total_limit": 1,
    }
    values.update(kw)
    return TrainingConfig(**values)


def assert_loss_falls(result) -> None:
    losses = [loss for _, loss in result.train_loss]
    assert len(losses) >= 6, result.train_loss
    first, last = np.mean(losses[:3]), np.mean(losses[-3:])
    assert last < first * 0.9, f"loss did not fall: {losses}"


# ------------------------------------------------------------------ cross-encoder
# The random tiny BERT needs full batches and a few more steps before a 3-way head moves.
CE = {"batch_size": 16, "max_steps": 20}


def test_cross_encoder_three_labels_trains_and_reloads(tmp_path, tiny_cross3_dir):
    from simmatch.models import PairClassifier
    from simmatch.training._views import pair_classifier_view
    from simmatch.training.cross_encoder import new_cross_encoder

    train = toy_pairs(16, "class3")
    dev = toy_pairs(9, "class3", seed=1)
    result = train_cross_encoder(
        tiny_cross3_dir,
        train,
        dev=dev,
        config=config(tmp_path, "ce", eval_every=10, save_total_limit=2, **CE),
    )
    assert_loss_falls(result)
    assert result.metric_name == "eval_dev_macro_f1"
    assert [h["step"] for h in result.history] == [10.0, 20.0]
    assert result.best_metric == max(h["eval_dev_macro_f1"] for h in result.history)
    record = json.loads((result.output_dir / "training.json").read_text(encoding="utf-8"))
    assert record["labels"] == ["0", "1", "2"] and record["config"]["max_steps"] == 20

    clf = PairClassifier(result.output_dir, device="cpu")
    assert clf.labels == ["0", "1", "2"]
    predictions = clf.predict(dev.pairs)
    assert {p.label for p in predictions} <= {"0", "1", "2"}
    assert all(abs(sum(p.probabilities.values()) - 1) < 1e-5 for p in predictions)
    # The view used for dev evaluation during training gives what the saved model gives.
    view = pair_classifier_view(new_cross_encoder(result.output_dir, ["0", "1", "2"], device="cpu"))
    assert view.labels == clf.labels
    for mine, theirs in zip(view.predict(dev.pairs), predictions, strict=True):
        assert mine.label == theirs.label
        assert mine.probabilities == pytest.approx(theirs.probabilities, abs=1e-6)
        assert mine.score == pytest.approx(theirs.score, abs=1e-6)


def test_cross_encoder_decision_offsets_are_tuned_on_dev_and_saved(tmp_path, tiny_cross3_dir):
    from simmatch.evaluation import best_logit_offsets
    from simmatch.models import PairClassifier

    train, dev = toy_pairs(16, "class3"), toy_pairs(9, "class3", seed=1)
    result = train_cross_encoder(
        tiny_cross3_dir, train, dev=dev, config=config(tmp_path, "ce", decision="macro_f1", **CE)
    )
    record = json.loads((result.output_dir / "training.json").read_text(encoding="utf-8"))
    decision = record["decision"]
    assert decision["metric"] == "macro_f1" and decision["tuned_on"] == dev.name
    clf = PairClassifier(result.output_dir, device="cpu")
    assert list(clf.config.logit_offsets) == decision["logit_offsets"]
    # The offsets are the search's answer on the saved model's dev logits.
    y = np.array([clf.labels.index(str(e.label)) for e in dev])
    assert best_logit_offsets(clf.logits(dev.pairs), y) == (
        tuple(decision["logit_offsets"]),
        pytest.approx(decision["after"]),
    )
    with pytest.raises(
        InputError,
        match=r"decision=.accuracy. tunes logit offsets on a dev split of class labels; give dev data",
    ):
        train_cross_encoder(tiny_cross3_dir, train, config=config(tmp_path, "x", decision="accuracy"))
    with pytest.raises(InputError, match="decision must be one of argmax, macro_f1, accuracy, got 'f1'"):
        config(tmp_path, "x", decision="f1")


def test_cross_encoder_regression_on_scores(tmp_path, tiny_regression_dir):
    from simmatch.models import PairClassifier

    result = train_cross_encoder(
        tiny_regression_dir, toy_pairs(16, "score"), loss="mse", config=config(tmp_path, "reg", **CE)
    )
    assert_loss_falls(result)
    clf = PairClassifier(result.output_dir, device="cpu")
    assert clf.is_regression
    scores = clf.scores(toy_pairs(4, "score", seed=2).pairs)
    assert scores.shape == (4,) and np.all((scores >= 0) & (scores <= 1))


def test_regression_view_honours_threshold_labels(tmp_path, tiny_regression_dir):
    """A regression head read through the training view labels pairs with the model's threshold
    labels and threshold, exactly as the saved PairClassifier does (not "0"/"1" at 0.5)."""
    from simmatch.models import PairClassifier
    from simmatch.training._views import pair_classifier_view
    from simmatch.training.cross_encoder import new_cross_encoder

    pairs = toy_pairs(8, "score", seed=3).pairs
    live = new_cross_encoder(tiny_regression_dir, None, device="cpu")
    live.save(str(tmp_path / "reg"))
    saved = PairClassifier(tmp_path / "reg", device="cpu")
    scores = saved.scores(pairs)
    threshold = float(np.median(scores))  # both labels occur
    clf = PairClassifier(tmp_path / "reg", device="cpu", threshold=threshold)
    clf.config = replace(clf.config, threshold_labels=("different", "similar"))
    live.train()  # as during training: the view must not run with dropout, and restores the mode
    view = pair_classifier_view(live, threshold=threshold, threshold_labels=("different", "similar"))
    got, want = view.predict(pairs), clf.predict(pairs)
    assert live.training
    assert [p.label for p in got] == [p.label for p in want]
    assert {p.label for p in got} == {"different", "similar"}
    assert [p.score for p in got] == pytest.approx([p.score for p in want], abs=1e-6)
    assert all(p.probabilities == {} for p in got)


def test_encoder_view_is_the_users_text_path(tiny_embedder_dir):
    """Dev data scored during training goes through Embedder's own path (no stripping, windows)."""
    from simmatch.models import Embedder
    from simmatch.training._views import encoder_view
    from simmatch.training.embedder import load_sentence_transformer

    texts = ["  你好 ", "吃完海鲜可以喝牛奶吗 " * 40, "hello world"]
    live = load_sentence_transformer(tiny_embedder_dir, device="cpu")
    live.train()
    view = encoder_view(live, max_seq_length=16)
    want = Embedder(str(tiny_embedder_dir), device="cpu", max_seq_length=16)
    for kind in ("query", "passage"):
        np.testing.assert_allclose(
            view.encode(texts, kind=kind, batch_size=2), want.encode(texts, kind=kind), atol=1e-6
        )
    assert live.training


def test_cross_encoder_balanced_loss_uses_training_priors(tmp_path, tiny_cross3_dir):
    from simmatch.models import PairClassifier

    result = train_cross_encoder(
        tiny_cross3_dir, toy_pairs(16, "class3"), loss="balanced-ce", config=config(tmp_path, "bal", **CE)
    )
    assert_loss_falls(result)
    assert result.extra["loss_options"]["class_counts"] == [6, 5, 5]
    assert PairClassifier(result.output_dir, device="cpu").predict([("你好", "你好")])[0].label in {
        "0",
        "1",
        "2",
    }


def test_cross_encoder_rejects_mismatched_data(tmp_path, tiny_cross3_dir):
    with pytest.raises(InputError, match="has label '2', which is not in labels"):
        train_cross_encoder(
            tiny_cross3_dir, toy_pairs(6, "class3"), labels=["0", "1"], config=config(tmp_path, "x")
        )
    with pytest.raises(InputError, match="loss 'mse' needs score data, but toy-class3 has class labels"):
        train_cross_encoder(tiny_cross3_dir, toy_pairs(6, "class3"), loss="mse", config=config(tmp_path, "x"))
    with pytest.raises(InputError, match="unknown cross-encoder loss 'cosent'"):
        train_cross_encoder(
            tiny_cross3_dir, toy_pairs(6, "class3"), loss="cosent", config=config(tmp_path, "x")
        )


# ------------------------------------------------------------------ twin tower
@pytest.mark.parametrize("loss", ["cosent", "contrastive"])
def test_embedder_pair_losses_train_and_reload(tmp_path, tiny_embedder_dir, loss):
    from simmatch.models import Embedder

    result = train_embedder(
        tiny_embedder_dir, toy_pairs(16, "binary"), loss=loss, config=config(tmp_path, loss)
    )
    assert_loss_falls(result)
    assert result.extra["prompts"] == {"sentence1": "query: ", "sentence2": "query: "}
    emb = Embedder(str(result.output_dir), device="cpu")
    vectors = emb.encode(["你好", "我们是学生"])
    assert vectors.shape == (2, emb.dim)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    # Training truncated at 128 tokens; the saved model keeps the base model's own limit.
    assert emb.max_seq_length == 64


def test_embedder_mnrl_with_bm25_hard_negatives(tmp_path, tiny_embedder_dir):
    from simmatch.models import Embedder

    train = toy_pairs(32, "binary")
    dev = toy_pairs(8, "binary", seed=3)
    result = train_embedder(
        tiny_embedder_dir,
        train,
        dev=dev,
        loss="mnrl",
        hard_negatives="bm25",
        config=config(tmp_path, "mnrl", batch_size=4, eval_every=6, save_total_limit=2),
    )
    assert_loss_falls(result)
    assert result.extra["hard_negatives"] == "bm25"
    assert result.extra["prompts"] == {
        "anchor": "query: ",
        "positive": "passage: ",
        "negative_1": "passage: ",
    }
    assert result.metric_name == "eval_dev_spearman"
    assert Embedder(str(result.output_dir), device="cpu").encode("你好").shape == (32,)


def test_embedder_two_stage_hard_negatives(tmp_path, tiny_embedder_dir):
    train = [RetrievalExample(e.sentence1, [e.sentence2]) for e in toy_pairs(24, "binary") if e.label == "1"]
    result = train_embedder(
        tiny_embedder_dir,
        train,
        loss="mnrl",
        hard_negatives="two-stage",
        config=config(tmp_path, "two", max_steps=4, batch_size=4),
    )
    assert result.extra["hard_negatives"] == "two-stage"
    assert result.extra["stage1_steps"] == 4
    assert (tmp_path / "two" / "stage1" / "training.json").exists()
    assert (tmp_path / "two" / "modules.json").exists()


def test_two_stage_resume_latest_reuses_finished_stage1_and_continues_stage2(
    tmp_path, tiny_embedder_dir, caplog
):
    caplog.set_level("INFO", logger="simmatch.training.embedder")
    train = [RetrievalExample(e.sentence1, [e.sentence2]) for e in toy_pairs(24, "binary") if e.label == "1"]
    kw = {"loss": "mnrl", "hard_negatives": "two-stage"}
    first = train_embedder(
        tiny_embedder_dir,
        train,
        config=config(tmp_path, "run", max_steps=2, batch_size=4, eval_every=1, keep_checkpoints=True),
        **kw,
    )
    stage1_record = (tmp_path / "run" / "stage1" / "training.json").read_text()
    resumed = train_embedder(
        tiny_embedder_dir,
        train,
        config=config(tmp_path, "run", max_steps=4, batch_size=4, eval_every=1, resume_from="latest"),
        **kw,
    )
    assert first.global_step == 2 and resumed.global_step == 4
    # Stage 2 went on from its step-2 checkpoint: the restored history is the first run's.
    assert [s for s, _ in resumed.train_loss] == [1, 2, 3, 4]
    assert resumed.train_loss[:2] == first.train_loss
    assert "stage 1 finished earlier" in caplog.text
    assert (tmp_path / "run" / "stage1" / "training.json").read_text() == stage1_record  # not retrained


def test_two_stage_resume_latest_without_any_checkpoint_is_a_clear_error(tmp_path, tiny_embedder_dir):
    train = [RetrievalExample(e.sentence1, [e.sentence2]) for e in toy_pairs(24, "binary") if e.label == "1"]
    with pytest.raises(InputError, match="holds a checkpoint"):
        train_embedder(
            tiny_embedder_dir,
            train,
            loss="mnrl",
            hard_negatives="two-stage",
            config=config(tmp_path, "none", max_steps=2, batch_size=4, resume_from="latest"),
        )


def test_embedder_argument_errors(tmp_path, tiny_embedder_dir):
    with pytest.raises(InputError, match="decision='macro_f1' tunes a cross-encoder's logit offsets"):
        train_embedder(
            tiny_embedder_dir, toy_pairs(4, "binary"), config=config(tmp_path, "x", decision="macro_f1")
        )
    with pytest.raises(InputError, match="hard_negatives needs loss='mnrl', not 'cosent'"):
        train_embedder(
            tiny_embedder_dir, toy_pairs(4, "binary"), hard_negatives="bm25", config=config(tmp_path, "x")
        )
    with pytest.raises(InputError, match="the contrastive loss needs binary labels"):
        train_embedder(
            tiny_embedder_dir, toy_pairs(6, "class3"), loss="contrastive", config=config(tmp_path, "x")
        )
    with pytest.raises(InputError, match="no training example has 1 negatives"):
        train_embedder(
            tiny_embedder_dir,
            [RetrievalExample("你好", ["我好"])],
            loss="mnrl",
            num_negatives=1,
            config=config(tmp_path, "x"),
        )


# ------------------------------------------------------------------ resume
def test_resume_from_checkpoint_reproduces_the_uninterrupted_run(tmp_path, tiny_cross3_dir):
    from safetensors.torch import load_file

    train = toy_pairs(16, "class3")
    full = train_cross_encoder(
        tiny_cross3_dir,
        train,
        config=config(tmp_path, "full", max_steps=6, eval_every=3, save_total_limit=2, keep_checkpoints=True),
    )
    checkpoint = full.output_dir / "checkpoints" / "checkpoint-3"
    assert checkpoint.is_dir()
    uninterrupted = load_file(str(full.output_dir / "model.safetensors"))
    resumed = train_cross_encoder(
        tiny_cross3_dir,
        train,
        config=config(tmp_path, "resumed", max_steps=6, eval_every=3, resume_from=str(checkpoint)),
    )
    assert resumed.global_step == 6
    # Steps 1-3 come from the checkpoint's trainer state, 4-6 were trained now.
    assert [s for s, _ in resumed.train_loss] == [1, 2, 3, 4, 5, 6]
    again = load_file(str(resumed.output_dir / "model.safetensors"))
    assert uninterrupted.keys() == again.keys()
    for key in uninterrupted:
        assert np.allclose(uninterrupted[key].numpy(), again[key].numpy(), atol=1e-5), key
    latest = train_cross_encoder(
        tiny_cross3_dir,
        train,
        config=config(tmp_path, "full", max_steps=6, eval_every=3, save_total_limit=2, resume_from="latest"),
    )
    assert latest.global_step == 6


def test_resume_errors(tmp_path, tiny_cross3_dir):
    with pytest.raises(InputError, match="holds no checkpoint"):
        train_cross_encoder(
            tiny_cross3_dir, toy_pairs(6, "class3"), config=config(tmp_path, "none", resume_from="latest")
        )
    with pytest.raises(InputError, match="is not a training checkpoint"):
        train_cross_encoder(
            tiny_cross3_dir, toy_pairs(6, "class3"), config=config(tmp_path, "n", resume_from=str(tmp_path))
        )


def test_head_lr_reaches_only_the_new_head(tmp_path, tiny_cross3_dir):
    from safetensors.torch import load_file

    result = train_cross_encoder(
        tiny_cross3_dir,
        toy_pairs(16, "class3"),
        config=config(tmp_path, "head", max_steps=2, lr=1e-9, head_lr=1e-2, freeze_embeddings=False),
    )
    before = load_file(str(tiny_cross3_dir / "model.safetensors"))
    after = load_file(str(result.output_dir / "model.safetensors"))
    moved = {k for k in before if not np.allclose(before[k].numpy(), after[k].numpy(), atol=1e-6)}
    assert moved and all(".pooler." in k or k.startswith("classifier.") for k in moved), sorted(moved)
    assert "classifier.weight" in moved


def test_empty_pooler_is_standardized_from_training_pairs(tmp_path, tiny_cross3_dir):
    """A base without pooler weights (stored as zeros, like the built-in e5) gets a pooler that
    standardizes the first-token state over the given pairs."""
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    from simmatch.training.cross_encoder import new_cross_encoder

    base = tmp_path / "no-pooler"
    shutil.copytree(tiny_cross3_dir, base)
    weights = load_file(str(base / "model.safetensors"))
    for key in [k for k in weights if ".pooler." in k]:
        weights[key] = torch.zeros_like(weights[key])
    save_file(weights, str(base / "model.safetensors"), metadata={"format": "pt"})

    pairs = toy_pairs(32, "class3").pairs
    model = new_cross_encoder(base, ["0", "1", "2"], device="cpu", init_pairs=pairs)
    bert = model.model.bert
    with torch.no_grad():
        tokens = {k: v for k, v in model.preprocess(pairs).items() if isinstance(v, torch.Tensor)}
        first = bert(**tokens).last_hidden_state[:, 0]
        z = bert.pooler.dense(first)
    assert torch.allclose(z.mean(0), torch.zeros(z.shape[1]), atol=1e-3)
    assert torch.allclose(z.std(0), torch.ones(z.shape[1]), atol=1e-3)
    random_init = new_cross_encoder(base, ["0", "1", "2"], device="cpu").model.bert.pooler.dense.weight
    assert float(random_init.detach().abs().sum()) > 0  # without pairs: random, never left at zero


def test_embedder_picks_checkpoint_on_the_mean_of_several_dev_sets(tmp_path, tiny_embedder_dir):
    a, b = toy_pairs(8, "binary", seed=5), toy_pairs(8, "score", seed=6)
    result = train_embedder(
        tiny_embedder_dir,
        toy_pairs(16, "binary"),
        dev={"a": a, "b": b},
        config=config(tmp_path, "multi", max_steps=4, eval_every=2, save_total_limit=2),
    )
    assert result.metric_name == "eval_dev_mean_spearman"
    for h in result.history:
        mean = (h["eval_dev_a_spearman"] + h["eval_dev_b_spearman"]) / 2
        assert h["eval_dev_mean_spearman"] == pytest.approx(mean)
    assert result.best_metric == max(h["eval_dev_mean_spearman"] for h in result.history)
    assert [d["name"] for d in result.extra["dev"]] == ["toy-binary", "toy-score"]
