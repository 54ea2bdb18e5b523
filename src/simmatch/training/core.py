"""The training loop both families share: sentence-transformers' trainers (which are the Hugging Face
``Trainer`` underneath) configured from one :class:`TrainingConfig`.

What this layer adds on top of them: a fixed seed applied before the model head is created,
optional frozen word embeddings, dev evaluation through simmatch's own evaluators, best-checkpoint
selection on the dev split's primary metric (with the final step always evaluated, so a short run
still picks a checkpoint), resume, the final model written where ``Embedder`` / ``PairClassifier``
load it, and a ``training.json`` record of what was run.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from simmatch.errors import InputError
from simmatch.models._loading import quiet_loading
from simmatch.training.config import TrainingConfig

logger = logging.getLogger(__name__)

Family = Literal["cross-encoder", "embedder"]
RECORD_NAME = "training.json"


@dataclass(frozen=True)
class TrainingResult:
    """What a training run produced. ``output_dir`` holds the final model (the best dev checkpoint
    when a dev split was given, else the last step); ``best_checkpoint`` names the checkpoint it
    came from (removed with the others after the run unless ``keep_checkpoints``); ``history``
    lists every dev evaluation; ``train_loss`` the logged ``(step, loss)`` points."""

    output_dir: Path
    global_step: int
    wall_time_s: float
    best_checkpoint: str | None = None
    best_metric: float | None = None
    metric_name: str | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    train_loss: list[tuple[int, float]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def seed_everything(seed: int) -> None:
    from transformers import set_seed

    set_seed(seed)


def freeze_input_embeddings(model: Any) -> int:
    """Freeze the word-embedding matrix of the first Hugging Face model inside ``model``; returns
    how many parameters were frozen. Position/type embeddings and LayerNorms stay trainable."""
    from transformers import PreTrainedModel

    for module in model.modules():
        if isinstance(module, PreTrainedModel):
            embeddings = module.get_input_embeddings()
            if embeddings is None:
                break
            for p in embeddings.parameters():
                p.requires_grad_(False)
            return sum(p.numel() for p in embeddings.parameters())
    raise InputError("freeze_embeddings: no Hugging Face model with input embeddings found in the model")


def count_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def _use_cpu(config: TrainingConfig) -> bool:
    from simmatch.settings import default_device

    return (config.device or default_device()) == "cpu"


def _final_step_callback() -> Any:
    from transformers import TrainerCallback

    class EvaluateLastStep(TrainerCallback):
        """Evaluate and checkpoint at the last step too, so best-model selection sees it, and only
        once: when the last step also ends an epoch, the epoch-end evaluation and save of that same
        step are skipped."""

        def __init__(self) -> None:
            self.evaluated_at: int | None = None
            self.saved_at: int | None = None

        def on_step_end(self, args, state, control, **kwargs):
            if state.max_steps and state.global_step >= state.max_steps:
                if args.eval_strategy != "no":
                    control.should_evaluate = True
                control.should_save = True
            return control

        def on_evaluate(self, args, state, control, **kwargs):
            self.evaluated_at = state.global_step

        def on_save(self, args, state, control, **kwargs):
            self.saved_at = state.global_step

        def on_epoch_end(self, args, state, control, **kwargs):
            if self.evaluated_at == state.global_step:
                control.should_evaluate = False
            if self.saved_at == state.global_step:
                control.should_save = False
            return control

    return EvaluateLastStep()


def _format_log(step: int, logs: dict[str, Any]) -> str:
    """``step 25: loss 0.6931, learning_rate 1.8e-05, …`` (transformers' log dict on one line)."""
    values = (f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in logs.items())
    return f"step {step}: " + ", ".join(v for v in values if not v.startswith("total_flos "))


def _quiet_log_callbacks(trainer: Any, progress: bool) -> None:
    """Keep stdout for the caller's result: transformers prints each log dict (loss, dev metrics)
    on stdout, through its progress bar or with ``print``. Progress bars and those lines go to
    stderr instead when ``progress`` is on, else to this module's logger (INFO)."""
    import sys

    from transformers import PrinterCallback, ProgressCallback

    class StderrProgress(ProgressCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero and self.training_bar is not None and logs:
                self.training_bar.write(_format_log(state.global_step, logs), file=sys.stderr)

    class LogToLogger(PrinterCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero and logs:
                logger.info("%s", _format_log(state.global_step, logs))

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(StderrProgress() if progress else LogToLogger())


def last_checkpoint(directory: Path) -> str | None:
    """The newest ``checkpoint-N`` under ``directory`` (transformers' rule), or None."""
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(directory)) if directory.is_dir() else None


def _resume_arg(config: TrainingConfig) -> str | bool | None:
    if config.resume_from is None:
        return None
    if config.resume_from == "latest":
        last = last_checkpoint(config.checkpoint_dir)
        if last is None:
            raise InputError(f"cannot resume from 'latest': {config.checkpoint_dir} holds no checkpoint")
        return last
    path = Path(config.resume_from)
    if not (path / "trainer_state.json").exists():
        raise InputError(f"{path} is not a training checkpoint (no trainer_state.json)")
    return str(path)


def run_training(
    *,
    family: Family,
    model: Any,
    train_dataset: Any,
    loss: Any,
    config: TrainingConfig,
    evaluator: Any | None = None,
    prompts: dict[str, str] | None = None,
    batch_sampler: str | None = None,
    learning_rate_mapping: dict[str, float] | None = None,
    lengths: list[int] | None = None,
    save_final: Callable[[Path], None],
    record: dict[str, Any] | None = None,
) -> TrainingResult:
    """Train ``model`` on ``train_dataset`` (a ``datasets.Dataset`` in the column layout ``loss``
    expects) and write the final model with ``save_final(config.path)``.

    ``learning_rate_mapping``: parameter-name regex → learning rate (sentence-transformers'
    optimizer groups), for parameter groups that need their own rate.
    ``lengths``: token length per training row; batches are then grouped by length
    (``simmatch.training.batching``) unless a ``batch_sampler`` is given.
    ``evaluator``: a sentence-transformers evaluator (see ``make_st_evaluator``) run every
    ``config.eval_every`` steps (else once per epoch) and at the last step; the best checkpoint by
    its primary metric becomes the final model.
    """
    if family == "cross-encoder":
        from sentence_transformers.cross_encoder import CrossEncoderTrainer as Trainer
        from sentence_transformers.cross_encoder import CrossEncoderTrainingArguments as Args
    else:
        from sentence_transformers import SentenceTransformerTrainer as Trainer  # type: ignore[assignment]
        from sentence_transformers import (  # type: ignore[assignment]
            SentenceTransformerTrainingArguments as Args,
        )

    if len(train_dataset) == 0:
        raise InputError("the training data is empty")
    config.path.mkdir(parents=True, exist_ok=True)
    if config.freeze_embeddings:
        frozen = freeze_input_embeddings(model)
    else:
        frozen = 0
    trainable, total = count_parameters(model)
    logger.info("training %d of %d parameters (%d frozen embeddings)", trainable, total, frozen)

    interval: dict[str, Any]
    if config.eval_every is not None:
        interval = {"strategy": "steps", "steps": config.eval_every}
    else:
        interval = {"strategy": "epoch", "steps": 500}
    has_dev = evaluator is not None
    warmup: float | int = int(config.warmup) if config.warmup >= 1 else float(config.warmup)
    args_kwargs: dict[str, Any] = {
        "output_dir": str(config.checkpoint_dir),
        "num_train_epochs": float(config.epochs),
        "max_steps": config.max_steps if config.max_steps is not None else -1,
        "per_device_train_batch_size": config.batch_size,
        "per_device_eval_batch_size": config.eval_batch_size,
        "learning_rate": config.lr,
        "lr_scheduler_type": config.lr_scheduler,
        "warmup_steps": warmup,
        "weight_decay": config.weight_decay,
        "seed": config.seed,
        "data_seed": config.seed,
        "eval_strategy": interval["strategy"] if has_dev else "no",
        "eval_steps": interval["steps"],
        "save_strategy": interval["strategy"],
        "save_steps": interval["steps"],
        "save_total_limit": config.save_total_limit,
        "load_best_model_at_end": has_dev,
        "logging_steps": config.logging_steps,
        "logging_first_step": True,
        "disable_tqdm": not config.progress,
        "report_to": "none",
        "use_cpu": _use_cpu(config),
        "dataloader_num_workers": 0,
        "save_only_model": False,
    }
    if family == "cross-encoder":
        # torchrun: every trainable parameter of a cross-encoder gets a gradient each step, and
        # DDP's search for unused ones marks its head ready twice (RuntimeError). An embedder
        # keeps the search: its BERT pooler is unused by sentence-transformers' pooling.
        args_kwargs["ddp_find_unused_parameters"] = False
    if evaluator is not None:
        args_kwargs["metric_for_best_model"] = f"eval_{evaluator.primary_metric}"
        args_kwargs["greater_is_better"] = True
    if prompts:
        args_kwargs["prompts"] = prompts
    if batch_sampler:
        args_kwargs["batch_sampler"] = batch_sampler
    elif lengths is not None:
        from simmatch.training.batching import length_bucket_sampler

        args_kwargs["batch_sampler"] = length_bucket_sampler(lengths)
    if learning_rate_mapping:
        args_kwargs["learning_rate_mapping"] = learning_rate_mapping
    args = Args(**args_kwargs)

    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_dataset,
        loss=loss,
        evaluator=evaluator,
        callbacks=[_final_step_callback()],
    )
    _quiet_log_callbacks(trainer, config.progress)
    resume = _resume_arg(config)
    start = time.perf_counter()
    with quiet_loading():  # checkpoint writes and the best model's reload draw no bars
        output = trainer.train(resume_from_checkpoint=resume)
    wall = time.perf_counter() - start
    speed = float(output.metrics.get("train_samples_per_second", 0.0))

    state = trainer.state
    history = [
        {k: float(v) for k, v in entry.items() if isinstance(v, (int, float))}
        for entry in state.log_history
        if any(k.startswith("eval_") for k in entry)
    ]
    losses = [(int(e["step"]), float(e["loss"])) for e in state.log_history if "loss" in e and "step" in e]
    model.eval()
    main_process = trainer.is_world_process_zero()
    if main_process:  # under torchrun only rank 0 writes the model and training.json
        with quiet_loading():
            save_final(config.path)
        if not config.keep_checkpoints:
            _remove_checkpoints(config.checkpoint_dir)
    result = TrainingResult(
        output_dir=config.path,
        global_step=int(state.global_step),
        wall_time_s=wall,
        best_checkpoint=state.best_model_checkpoint,
        best_metric=None if state.best_metric is None else float(state.best_metric),
        metric_name=args_kwargs.get("metric_for_best_model"),
        history=history,
        train_loss=losses,
        extra={**(record or {}), "pairs_per_second": round(speed, 2), "length_buckets": lengths is not None},
    )
    if main_process:
        write_record(result, config, family, trainable=trainable, total=total)
    trainer.accelerator.wait_for_everyone()  # no rank returns before the model is written
    return result


def _remove_checkpoints(directory: Path) -> None:
    """After the final model is written, the checkpoints (each a full model plus optimizer state,
    for resuming) are no longer needed: remove them unless ``keep_checkpoints``."""
    import shutil

    if not directory.is_dir():
        return
    try:
        shutil.rmtree(directory)
    except OSError as exc:
        logger.warning("could not remove the checkpoints in %s: %s", directory, exc)
    else:
        logger.info("removed the checkpoints in %s (keep_checkpoints=True keeps them)", directory)


def directory_size(path: Path) -> int:
    """Bytes of the files under ``path`` (what a training run left on disk)."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def world_rank() -> tuple[int, int]:
    """``(rank, world size)`` of this process under ``torchrun`` (``(0, 1)`` otherwise)."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def write_record(result: TrainingResult, config: TrainingConfig, family: Family, **counts: int) -> Path:
    """``training.json`` beside the final model: config, data, metrics history and machine."""
    import torch

    data = {
        "family": family,
        "config": config.to_dict(),
        "global_step": result.global_step,
        "wall_time_s": round(result.wall_time_s, 2),
        "best_checkpoint": result.best_checkpoint,
        "best_metric": result.best_metric,
        "metric_name": result.metric_name,
        "history": result.history,
        "train_loss": result.train_loss,
        "parameters": counts,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "device": "cpu" if _use_cpu(config) else "cuda",
            "processes": world_rank()[1],  # torchrun --nproc_per_node; batch_size is per process
        },
        **result.extra,
    }
    path = config.path / RECORD_NAME
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return path
