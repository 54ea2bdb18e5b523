"""Train a twin-tower model (bi-encoder) that ``Embedder`` loads back."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from simmatch.data.dataset import PairDataset, score_to_unit
from simmatch.data.examples import RetrievalExample
from simmatch.errors import InputError
from simmatch.training.config import TrainingConfig
from simmatch.training.core import (
    RECORD_NAME,
    TrainingResult,
    last_checkpoint,
    run_training,
    seed_everything,
)

logger = logging.getLogger(__name__)

HardNegatives = Literal["bm25", "two-stage"]


def load_sentence_transformer(base_model: str | Path, device: str | None = None) -> Any:
    """The sentence-transformers model behind ``Embedder(base_model)``, loaded for training."""
    from sentence_transformers import SentenceTransformer

    from simmatch.models._loading import quiet_loading
    from simmatch.models.registry import resolve_model
    from simmatch.settings import default_device

    with quiet_loading():
        return SentenceTransformer(resolve_model(base_model), device=device or default_device())


def _pair_dataset(data: PairDataset, spec_data: str) -> Any:
    """Columns ``sentence1, sentence2, label``: float scores for CoSENT (class labels read as
    their numeric value, so 0/1/2 keep their order), 0/1 ints for the contrastive loss."""
    import datasets

    if data.label_type is None:
        raise InputError(f"{data.name}: training pairs need labels")
    if spec_data == "binary":
        if not data.is_binary:
            raise InputError(f"{data.name}: the contrastive loss needs binary labels")
        positive = data.positive_label
        labels: list[Any] = [int(str(e.label) == positive) for e in data]
        feature: Any = datasets.Value("int64")
    elif data.label_type == "score":
        lo, hi = data.score_range or (0.0, 1.0)
        labels = [float(score_to_unit(float(e.label), lo, hi)) for e in data]  # type: ignore[arg-type]
        feature = datasets.Value("float32")
    else:
        try:
            labels = [float(str(e.label)) for e in data]
        except ValueError:
            order = {name: i for i, name in enumerate(data.label_set or ())}
            labels = [float(order[str(e.label)]) for e in data]
        feature = datasets.Value("float32")
    return datasets.Dataset.from_dict(
        {"sentence1": [e.sentence1 for e in data], "sentence2": [e.sentence2 for e in data], "label": labels},
        features=datasets.Features(
            {"sentence1": datasets.Value("string"), "sentence2": datasets.Value("string"), "label": feature}
        ),
    )


def _retrieval_dataset(examples: Sequence[RetrievalExample], num_negatives: int) -> tuple[Any, int]:
    """Columns ``anchor, positive, negative_1..n``: one row per (query, positive); rows whose
    example has fewer than ``num_negatives`` negatives are left out and counted."""
    import datasets

    columns: dict[str, list[str]] = {"anchor": [], "positive": []}
    for k in range(num_negatives):
        columns[f"negative_{k + 1}"] = []
    skipped = 0
    for ex in examples:
        if len(ex.neg) < num_negatives:
            skipped += 1
            continue
        for pos in ex.pos:
            columns["anchor"].append(ex.query)
            columns["positive"].append(pos)
            for k in range(num_negatives):
                columns[f"negative_{k + 1}"].append(ex.neg[k])
    return datasets.Dataset.from_dict(columns), skipped


def _prompts(st_model: Any, columns: Sequence[str], kinds: Mapping[str, str]) -> dict[str, str]:
    """Per-column prompts (e5: "query: " / "passage: "), from the model's own prompt table."""
    from simmatch.models.embedder import prompt_for

    prompts = {c: prompt_for(st_model.prompts or {}, kinds[c]) for c in columns if c in kinds}
    return {c: p for c, p in prompts.items() if p}


def _as_retrieval(train: Any) -> list[RetrievalExample]:
    from simmatch.training.mining import pairs_to_retrieval_examples

    if isinstance(train, PairDataset):
        return pairs_to_retrieval_examples(train)
    examples = list(train)
    if not examples or not all(isinstance(e, RetrievalExample) for e in examples):
        raise InputError("mnrl training data must be a binary PairDataset or a list of RetrievalExample")
    return examples


def train_embedder(
    base_model: str | Path,
    train: PairDataset | Sequence[RetrievalExample],
    *,
    config: TrainingConfig,
    dev: PairDataset | Mapping[str, PairDataset] | None = None,
    loss: str = "cosent",
    loss_options: Mapping[str, Any] | None = None,
    hard_negatives: HardNegatives | None = None,
    num_negatives: int = 1,
    mining_options: Mapping[str, Any] | None = None,
    corpus: Sequence[str] | None = None,
    kind: str = "query",
    query_kind: str = "query",
    passage_kind: str = "passage",
) -> TrainingResult:
    """Fine-tune a twin tower; ``Embedder(config.output_dir)`` loads the result.

    ``loss``: ``cosent`` (graded or 0/1 pairs), ``contrastive`` (0/1 pairs, cosine margin) or
    ``mnrl`` (retrieval examples, or the positive pairs of a binary ``PairDataset``). Pair losses
    put ``kind``'s prompt on both sides (symmetric similarity); MNRL puts ``query_kind``'s on the
    anchor and ``passage_kind``'s on positives and negatives.

    ``hard_negatives`` (MNRL only): ``"bm25"`` mines ``num_negatives`` BM25 negatives per query from
    ``corpus`` (default: every training text); ``"two-stage"`` trains a stage-1 model on BM25
    negatives (saved in ``<output_dir>/stage1``), mines new negatives with it under the
    false-negative guard, and trains the final model from the stage-1 model on those.
    ``mining_options`` go to :func:`mine_hard_negatives` (its ``progress`` follows
    ``config.progress`` unless they set it). Without ``hard_negatives``, the examples'
    own ``neg`` lists are used (``num_negatives`` of them; rows with fewer are left out).

    ``dev``: scored with ``EmbeddingSimilarityEvaluator`` (Spearman of cosine vs. label) to pick the
    best checkpoint; a ``{name: PairDataset}`` mapping picks it on the mean Spearman of all of them
    (for example STS-B dev plus LCQMC dev, so gains on one are not bought with losses on the other).
    """
    from simmatch.losses import get_loss_spec

    spec = get_loss_spec(loss, "embedder")
    if hard_negatives is not None and loss != "mnrl":
        raise InputError(f"hard_negatives needs loss='mnrl', not {loss!r}")
    if hard_negatives not in (None, "bm25", "two-stage"):
        raise InputError(f"hard_negatives must be 'bm25', 'two-stage' or None, got {hard_negatives!r}")
    if spec.data != "retrieval" and not isinstance(train, PairDataset):
        raise InputError(f"loss {loss!r} trains on a PairDataset, got {type(train).__name__}")
    if num_negatives < 0:
        raise InputError(f"num_negatives must be >= 0, got {num_negatives}")

    if hard_negatives is None:
        return _train_once(
            base_model,
            train,
            config=config,
            dev=dev,
            loss=loss,
            loss_options=loss_options,
            num_negatives=num_negatives,
            kind=kind,
            query_kind=query_kind,
            passage_kind=passage_kind,
        )

    from simmatch.training.mining import default_corpus, mine_hard_negatives

    if num_negatives < 1:
        raise InputError("hard_negatives needs num_negatives >= 1")
    examples = _as_retrieval(train)
    pool = list(corpus) if corpus is not None else default_corpus(examples)
    mining = {"num_negatives": num_negatives, "progress": config.progress, **dict(mining_options or {})}
    stage1_data = mine_hard_negatives(
        examples, pool, method="bm25", query_kind=query_kind, passage_kind=passage_kind, **mining
    )
    common: dict[str, Any] = {
        "dev": dev,
        "loss": loss,
        "loss_options": loss_options,
        "num_negatives": num_negatives,
        "kind": kind,
        "query_kind": query_kind,
        "passage_kind": passage_kind,
    }
    if hard_negatives == "bm25":
        return _train_once(
            base_model, stage1_data, config=config, **common, record={"hard_negatives": "bm25"}
        )

    stage1_dir = config.path / "stage1"
    stage1_finished = (stage1_dir / RECORD_NAME).is_file()
    stage1_resume, stage2_resume = _split_resume(config, stage1_dir, stage1_finished)
    if config.resume_from is not None and stage1_resume is None and stage1_finished:
        # Resuming a run whose stage 1 finished: re-use that model instead of training it again.
        record = json.loads((stage1_dir / RECORD_NAME).read_text(encoding="utf-8"))
        steps = int(record.get("global_step", 0))
        stage1 = TrainingResult(output_dir=stage1_dir, global_step=steps, wall_time_s=0.0)
        logger.info("resuming: stage 1 finished earlier (%s), going on with stage 2", stage1_dir)
    else:
        stage1_config = replace(config, output_dir=str(stage1_dir), resume_from=stage1_resume)
        stage1 = _train_once(
            base_model, stage1_data, config=stage1_config, **common, record={"hard_negatives": "bm25"}
        )
        stage2_resume = None  # stage 2 starts afresh from a freshly trained stage 1
    from simmatch.training._views import encoder_view

    stage1_model = load_sentence_transformer(stage1.output_dir, device=config.device)
    stage2_data = mine_hard_negatives(
        examples,
        pool,
        method="dense",
        model=encoder_view(stage1_model),  # type: ignore[arg-type]  # kind: the Kind literal vs str
        query_kind=query_kind,
        passage_kind=passage_kind,
        **mining,
    )
    del stage1_model
    return _train_once(
        stage1.output_dir,
        stage2_data,
        config=replace(config, resume_from=stage2_resume),
        **common,
        record={
            "hard_negatives": "two-stage",
            "stage1": str(stage1.output_dir),
            "stage1_steps": stage1.global_step,
        },
    )


def _split_resume(
    config: TrainingConfig, stage1_dir: Path, stage1_finished: bool
) -> tuple[str | None, str | None]:
    """Two-stage training keeps stage 1 under ``<output_dir>/stage1``: route ``resume_from`` to the
    stage it belongs to. ``"latest"`` resumes stage 2 if it has a checkpoint, else stage 1 if it
    has one (a stage 1 that finished is re-used, see the caller); an explicit checkpoint goes to the
    stage whose directory holds it."""
    resume = config.resume_from
    if resume is None:
        return None, None
    stage1_checkpoints = stage1_dir / "checkpoints"
    if resume == "latest":
        if last_checkpoint(config.checkpoint_dir):
            return None, "latest"
        if stage1_finished:
            return None, None
        if last_checkpoint(stage1_checkpoints):
            return "latest", None
        raise InputError(
            f"cannot resume from 'latest': neither {config.checkpoint_dir} nor {stage1_checkpoints} "
            "holds a checkpoint"
        )
    if Path(resume).resolve().is_relative_to(stage1_dir.resolve()):
        return resume, None
    return None, resume


def _train_once(
    base_model: str | Path,
    train: PairDataset | Sequence[RetrievalExample],
    *,
    config: TrainingConfig,
    dev: PairDataset | Mapping[str, PairDataset] | None,
    loss: str,
    loss_options: Mapping[str, Any] | None,
    num_negatives: int,
    kind: str,
    query_kind: str,
    passage_kind: str,
    record: dict[str, Any] | None = None,
) -> TrainingResult:
    from simmatch.evaluation import EmbeddingSimilarityEvaluator
    from simmatch.losses import build_loss, get_loss_spec
    from simmatch.training._views import MeanOfEvaluators, encoder_view, make_st_evaluator

    spec = get_loss_spec(loss, "embedder")
    if config.decision != "argmax":
        raise InputError(
            f"decision={config.decision!r} tunes a cross-encoder's logit offsets; a twin tower decides "
            "by a cosine threshold (simmatch eval picks one on a dev split)"
        )
    seed_everything(config.seed)
    model = load_sentence_transformer(base_model, device=config.device)
    if config.layers is not None:
        from simmatch.models.pruning import prune_layers

        prune_layers(model, config.layers)
    saved_length = model.max_seq_length
    if config.max_seq_length is not None:
        model.max_seq_length = config.max_seq_length

    skipped = 0
    batch_sampler = None
    if spec.data == "retrieval":
        examples = _as_retrieval(train)
        dataset, skipped = _retrieval_dataset(examples, num_negatives)
        if len(dataset) == 0:
            raise InputError(
                f"no training example has {num_negatives} negatives; mine some or lower num_negatives"
            )
        kinds = {"anchor": query_kind, "positive": passage_kind}
        kinds.update({f"negative_{k + 1}": passage_kind for k in range(num_negatives)})
        # In-batch negatives: a text twice in one batch would be its own false negative.
        batch_sampler = "no_duplicates"
    else:
        dataset = _pair_dataset(train, spec.data)  # type: ignore[arg-type]
        kinds = {"sentence1": kind, "sentence2": kind}
    prompts = _prompts(model, list(dataset.column_names), kinds)
    loss_module = build_loss(loss, model, "embedder", **dict(loss_options or {}))

    evaluator = None
    dev_info: Any = None
    if dev is not None:
        sets = dict(dev) if isinstance(dev, Mapping) else {"": dev}
        if not sets:
            raise InputError("dev mapping is empty")
        scorers = {
            name: EmbeddingSimilarityEvaluator(d, kind=kind, batch_size=config.eval_batch_size)
            for name, d in sets.items()
        }
        scorer: Any = scorers[""] if "" in scorers else MeanOfEvaluators(scorers)
        evaluator = make_st_evaluator(scorer, lambda m: encoder_view(m, max_seq_length=saved_length))
        dev_info = [{"name": d.name, "size": len(d)} for d in sets.values()]

    def save_final(out: Path) -> None:
        model.max_seq_length = saved_length
        model.save(str(out))

    info: dict[str, Any] = {
        "base_model": str(base_model),
        "loss": loss,
        "loss_options": dict(loss_options or {}),
        "prompts": prompts,
        "train": {"rows": len(dataset), "skipped_short_of_negatives": skipped},
        "dev": dev_info,
        **(record or {}),
    }
    return run_training(
        family="embedder",
        model=model,
        train_dataset=dataset,
        loss=loss_module,
        config=config,
        evaluator=evaluator,
        prompts=prompts,
        batch_sampler=batch_sampler,
        save_final=save_final,
        record=info,
    )
