"""Train a single-tower pair model (cross-encoder) that ``PairClassifier`` loads back."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from simmatch.data.dataset import PairDataset, score_to_unit
from simmatch.errors import InputError
from simmatch.training.config import TrainingConfig
from simmatch.training.core import TrainingResult, run_training, seed_everything

logger = logging.getLogger(__name__)


def _label_config(labels: Sequence[str] | None) -> dict[str, Any]:
    if labels is None:
        return {"num_labels": 1, "id2label": {0: "score"}, "label2id": {"score": 0}}
    id2label = dict(enumerate(labels))
    return {"num_labels": len(labels), "id2label": id2label, "label2id": {v: k for k, v in id2label.items()}}


def _reinit_empty_pooler(hf_model: Any) -> bool:
    """A BERT pooler stored as all zeros (the built-in e5 ships none) makes the classification head
    see a constant zero vector, so almost nothing trains; give it BERT's usual random init."""
    import torch

    base = getattr(hf_model, getattr(hf_model, "base_model_prefix", ""), None)
    pooler = getattr(base, "pooler", None)
    dense = getattr(pooler, "dense", None)
    if dense is None or bool(dense.weight.detach().any()):
        return False
    std = float(getattr(hf_model.config, "initializer_range", 0.02))
    with torch.no_grad():
        dense.weight.normal_(mean=0.0, std=std)
        if dense.bias is not None:
            dense.bias.zero_()
    return True


def standardize_empty_pooler(model: Any, pairs: Sequence[tuple[str, str]]) -> bool:
    """Data-dependent init for a pooler that was empty in the base model: scale and shift each
    dimension so the pooler sees the first token's hidden state standardized over ``pairs``.

    Why: e5 was trained with mean pooling, so its first-token states differ little between inputs
    (mean cosine 0.97 between different AFQMC pairs, per-dimension spread about a fifth of the
    magnitude), and a randomly initialized pooler hands the classifier an almost constant vector;
    measured here, a cross-encoder trained that way stayed at the majority class on AFQMC.
    Standardized features give the head an informative input from the first step.
    """
    import torch

    hf = model.model
    base = getattr(hf, getattr(hf, "base_model_prefix", ""), None)
    dense = getattr(getattr(base, "pooler", None), "dense", None)
    if dense is None or not pairs:
        return False
    was_training = hf.training
    hf.eval()
    states = []
    with torch.no_grad():
        for start in range(0, len(pairs), 32):
            tokens = model.preprocess([tuple(p) for p in pairs[start : start + 32]])
            tokens = {k: v.to(model.device) for k, v in tokens.items() if isinstance(v, torch.Tensor)}
            states.append(base(**tokens).last_hidden_state[:, 0].float())  # type: ignore[misc]  # base found by getattr
    hf.train(was_training)
    h = torch.cat(states)
    mean, std = h.mean(0), h.std(0).clamp_min(1e-4)
    with torch.no_grad():
        dense.weight.copy_(torch.diag(1.0 / std).to(dense.weight.dtype))
        if dense.bias is not None:
            dense.bias.copy_((-mean / std).to(dense.bias.dtype))
    return True


def new_cross_encoder(
    base_model: str | Path,
    labels: Sequence[str] | None,
    *,
    device: str | None = None,
    init_pairs: Sequence[tuple[str, str]] | None = None,
) -> Any:
    """A sentence-transformers ``CrossEncoder`` with a fresh head on ``base_model`` (a built-in
    name, a local model directory — a sentence-transformers embedder directory works too — or a hub
    id). ``labels=None`` makes a one-output regression head. A pooler the base model lacks (stored
    as zeros) is initialized from ``init_pairs`` (:func:`standardize_empty_pooler`) when given,
    else randomly."""
    return _build_cross_encoder(base_model, labels, device=device, init_pairs=init_pairs)[0]


# The head for a base without a trained pooler (e5): measured in docs/quality.md ("head" rows).
HEAD_WITHOUT_POOLER = "mean"


def _has_trained_pooler(path: str) -> bool:
    """Whether the base's stored pooler is non-zero (the built-in e5 ships it as zeros)."""
    from transformers import AutoModel

    base = AutoModel.from_pretrained(path)
    dense = getattr(getattr(base, "pooler", None), "dense", None)
    return dense is not None and bool(dense.weight.detach().any())


def _build_cross_encoder(
    base_model: str | Path,
    labels: Sequence[str] | None,
    *,
    device: str | None,
    init_pairs: Sequence[tuple[str, str]] | None,
    head: str = "cls",
    layers: int | None = None,
) -> tuple[Any, str]:
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.cross_encoder import CrossEncoder

    from simmatch.models._loading import quiet_loading
    from simmatch.models.heads import mean_head_cross_encoder, standardize_first_dense
    from simmatch.models.pruning import prune_layers
    from simmatch.models.registry import resolve_model
    from simmatch.settings import default_device

    path = resolve_model(base_model)
    if head == "auto":
        head = "cls" if _has_trained_pooler(path) else HEAD_WITHOUT_POOLER
    if head == "mean":
        model = mean_head_cross_encoder(path, _label_config(labels), device=device or default_device())
        if layers is not None:
            prune_layers(model, layers)
        if init_pairs:
            standardize_first_dense(model, init_pairs)
            return model, f"mean head, standardized over {len(init_pairs)} training pairs"
        return model, "mean head, random"
    # Built from the Transformer module rather than CrossEncoder(path): an embedder directory's
    # modules.json (pooling, normalize) must not be read as a cross-encoder's modules.
    # ignore_mismatched_sizes: a base that is itself a cross-encoder with another number of labels
    # (e.g. 3-class QBQTC -> regression) gets a fresh head instead of a size-mismatch error.
    with quiet_loading():
        transformer = Transformer(
            path,
            transformer_task="sequence-classification",
            config_kwargs=_label_config(labels),
            model_kwargs={"ignore_mismatched_sizes": True},
        )
    model = CrossEncoder(modules=[transformer], device=device or default_device())
    if layers is not None:
        prune_layers(model, layers)
    if not _reinit_empty_pooler(model.model):
        return model, "from the base model"
    if init_pairs:
        standardize_empty_pooler(model, init_pairs)
        how = f"standardized first-token states of {len(init_pairs)} training pairs"
    else:
        how = "random (the base model has none)"
    logger.info("%s has no pooler; initialized it: %s", base_model, how)
    return model, how


def _check_labels(train: PairDataset, labels: Sequence[str] | None) -> list[str] | None:
    if train.label_type is None:
        raise InputError(f"{train.name}: training data needs labels")
    if train.label_type == "score":
        if labels is not None:
            raise InputError(
                f"{train.name} has scores, not classes; train a regression head with labels=None"
            )
        if train.score_range is None:
            raise InputError(f"{train.name}: scores need a declared score_range to be rescaled to [0, 1]")
        return None
    labels = [str(x) for x in (labels if labels is not None else train.label_set or ())]
    if len(labels) < 2 or len(set(labels)) != len(labels):
        raise InputError(f"labels must be at least two distinct names, got {labels}")
    unknown = sorted({str(e.label) for e in train} - set(labels))
    if unknown:
        raise InputError(f"{train.name} has label {unknown[0]!r}, which is not in labels {labels}")
    return labels


def pair_training_dataset(data: PairDataset, labels: Sequence[str] | None) -> Any:
    """Columns ``sentence1, sentence2, label``: label ids in ``labels`` order, or scores in [0, 1]."""
    import datasets

    if labels is None:
        lo, hi = data.score_range  # type: ignore[misc]
        values: list[Any] = [float(score_to_unit(float(e.label), lo, hi)) for e in data]  # type: ignore[arg-type]
        feature: Any = datasets.Value("float32")
    else:
        index = {name: i for i, name in enumerate(labels)}
        values = [index[str(e.label)] for e in data]
        feature = datasets.Value("int64")
    return datasets.Dataset.from_dict(
        {"sentence1": [e.sentence1 for e in data], "sentence2": [e.sentence2 for e in data], "label": values},
        features=datasets.Features(
            {"sentence1": datasets.Value("string"), "sentence2": datasets.Value("string"), "label": feature}
        ),
    )


def train_cross_encoder(
    base_model: str | Path,
    train: PairDataset,
    *,
    config: TrainingConfig,
    dev: PairDataset | None = None,
    labels: Sequence[str] | None = None,
    loss: str = "ce",
    loss_options: Mapping[str, Any] | None = None,
) -> TrainingResult:
    """Fine-tune a cross-encoder on labeled pairs; ``PairClassifier(config.output_dir)`` loads it.

    ``labels``: class names in head order (default: the training data's label set); score data
    (0–5 STS-B) trains a regression head with ``loss="mse"`` on scores rescaled to [0, 1].
    ``loss``: ``ce``, ``balanced-ce`` (class-imbalance correction; its ``class_counts`` come from
    the training data) or ``mse``. ``dev``: scored with ``PairClassificationEvaluator`` (macro-F1 for
    three or more classes, accuracy for two, Spearman for scores) to pick the best checkpoint.
    """
    from simmatch.evaluation import PairClassificationEvaluator
    from simmatch.losses import build_loss, get_loss_spec
    from simmatch.training._views import make_st_evaluator, pair_classifier_view

    if not isinstance(train, PairDataset):
        raise InputError(f"train must be a PairDataset, got {type(train).__name__}")
    labels = _check_labels(train, labels)
    if config.decision != "argmax" and (dev is None or labels is None):
        raise InputError(
            f"decision={config.decision!r} tunes logit offsets on a dev split of class labels; "
            + ("give dev data" if dev is None else f"{train.name} has scores (use decision='argmax')")
        )
    spec = get_loss_spec(loss, "cross-encoder")
    if (spec.data == "score") != (labels is None):
        kind = "scores" if labels is None else "class labels"
        raise InputError(f"loss {loss!r} needs {spec.data} data, but {train.name} has {kind}")
    options = dict(loss_options or {})
    if loss == "balanced-ce" and "class_counts" not in options:
        counts = Counter(str(e.label) for e in train)
        missing = [lab for lab in labels or () if counts[lab] == 0]
        if missing:
            raise InputError(f"balanced-ce: class {missing[0]!r} has no training example")
        options["class_counts"] = [counts[lab] for lab in labels or ()]

    seed_everything(config.seed)
    sample = [(e.sentence1, e.sentence2) for e in train][:256]
    model, pooler_init = _build_cross_encoder(
        base_model, labels, device=config.device, init_pairs=sample, head=config.head, layers=config.layers
    )
    transformer = model[0]
    saved_length = transformer.max_seq_length
    if config.max_seq_length is not None:
        transformer.max_seq_length = config.max_seq_length
    loss_module = build_loss(loss, model, "cross-encoder", **options)

    evaluator = None
    if dev is not None:
        if dev.label_type != train.label_type:
            raise InputError(
                f"dev split {dev.name} has {dev.label_type} labels, training data {train.label_type}"
            )
        if labels is not None:
            _check_labels(dev, labels)
        evaluator = make_st_evaluator(
            PairClassificationEvaluator(dev, batch_size=config.eval_batch_size),
            pair_classifier_view,
        )

    record: dict[str, Any] = {
        "base_model": str(base_model),
        "loss": loss,
        "loss_options": options,
        "labels": labels,
        "head": pooler_init,
        "train": {"name": train.name, "size": len(train)},
        "dev": None if dev is None else {"name": dev.name, "size": len(dev)},
    }

    def save_final(out: Path) -> None:
        transformer.max_seq_length = saved_length
        model.save(str(out))
        if config.decision != "argmax" and dev is not None and labels is not None:
            record["decision"] = _tune_decision(model, dev, out, config)

    head_lr = None
    if config.head_lr is not None:
        # The pooler (re-initialized when the base has none) and the classifier start random; a
        # larger rate lets them catch up with the pretrained encoder within a short schedule.
        head_lr = {r"\.(pooler|classifier)\.": config.head_lr}
    lengths = None
    if config.length_buckets:
        from simmatch.training.batching import pair_token_lengths

        pairs = [(e.sentence1, e.sentence2) for e in train]
        lengths = pair_token_lengths(model.tokenizer, pairs, config.max_seq_length)
    return run_training(
        family="cross-encoder",
        lengths=lengths,
        model=model,
        train_dataset=pair_training_dataset(train, labels),
        loss=loss_module,
        config=config,
        evaluator=evaluator,
        learning_rate_mapping=head_lr,
        save_final=save_final,
        record=record,
    )


def _tune_decision(model: Any, dev: PairDataset, out: Path, config: TrainingConfig) -> dict[str, Any]:
    """Logit offsets for ``config.decision`` fitted on ``dev`` with the final model in memory (the
    best checkpoint's weights), written to ``out/simmatch.json``; returns what training.json records."""
    from simmatch.models.pair_classifier import PairClassifier

    classifier = PairClassifier.from_cross_encoder(model)
    tuning = classifier.tune_decision(
        dev.pairs, [str(e.label) for e in dev], metric=config.decision, batch_size=config.eval_batch_size
    )
    classifier.save_settings(out)
    return {**tuning, "tuned_on": dev.name}
