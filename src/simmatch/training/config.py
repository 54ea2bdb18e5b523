"""The one training configuration both model families use, with help text the CLI reuses."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from simmatch.errors import InputError
from simmatch.evaluation.metrics import DECISION_METRICS

LrScheduler = Literal["linear", "cosine", "constant_with_warmup"]
LR_SCHEDULERS = ("linear", "cosine", "constant_with_warmup")
Head = Literal["auto", "cls", "mean"]
HEADS = ("auto", "cls", "mean")
Decision = Literal["argmax", "macro_f1", "accuracy"]
DECISIONS = ("argmax", *DECISION_METRICS)  # the metrics a decision can be tuned for live in one place


def _opt(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class TrainingConfig:
    """How to train; every field has a help text (``TrainingConfig.help()``), and ``simmatch train``
    generates its flags from these fields (``--batch-size`` for ``batch_size`` …, see
    ``simmatch.cli._flags``)."""

    output_dir: str = field(metadata={"help": "directory for checkpoints, the final model and training.json"})
    epochs: float = _opt(1.0, "passes over the training data (fractions allowed)")
    max_steps: int | None = _opt(None, "stop after this many optimizer steps (overrides epochs)")
    batch_size: int = _opt(16, "training examples per optimizer step")
    lr: float = _opt(2e-5, "peak learning rate (AdamW; schedule: lr_scheduler)")
    lr_scheduler: LrScheduler = _opt(  # noqa: RUF009  (a Literal of strings, immutable)
        "linear", "learning-rate schedule after warm-up: linear decay to 0, cosine, or constant"
    )
    head_lr: float | None = _opt(
        None, "cross-encoder: learning rate of the freshly initialized pooler + classifier (default: lr)"
    )
    warmup: float = _opt(0.1, "warm-up: a fraction of the steps if < 1, else a number of steps")
    weight_decay: float = _opt(0.01, "AdamW weight decay")
    seed: int = _opt(42, "seed for head initialization, data order and dropout")
    max_seq_length: int | None = _opt(
        128, "truncate training inputs to this many tokens (the saved model keeps its own limit)"
    )
    freeze_embeddings: bool = _opt(
        True, "keep the word-embedding matrix fixed (most of a small multilingual model's parameters)"
    )
    layers: int | None = _opt(
        None, "cross-encoder: keep only the first N encoder layers (6 of 12 halves the cost)"
    )
    head: Head = _opt(  # noqa: RUF009  (a Literal of strings, immutable)
        "auto",
        "cross-encoder head: cls (first token + pooler, BERT's), mean (mean of the pair's token "
        "states); auto = the base's trained pooler if it has one, else mean",
    )
    length_buckets: bool = _opt(
        True, "cross-encoder: batch pairs of similar token length (shuffled buckets) to avoid padding"
    )
    decision: Decision = _opt(  # noqa: RUF009  (a Literal of strings, immutable)
        "argmax",
        "cross-encoder with a dev split: after training, tune per-label logit offsets on dev so the "
        "decision maximises macro_f1 or accuracy (saved in simmatch.json); argmax = no offsets",
    )
    eval_every: int | None = _opt(
        None, "evaluate on the dev split (and checkpoint) every N steps; default once per epoch"
    )
    save_total_limit: int = _opt(2, "checkpoints kept on disk (the best one is always kept)")
    keep_checkpoints: bool = _opt(
        False, "keep the checkpoints after a finished run (to resume or extend it); else only the final model"
    )
    resume_from: str | None = _opt(None, "checkpoint directory to resume from, or 'latest'")
    eval_batch_size: int = _opt(64, "batch size for dev evaluation")
    logging_steps: int = _opt(25, "log the training loss every N steps")
    progress: bool = _opt(True, "show progress bars")
    device: str | None = _opt(
        None, "torch device (default: $SIMMATCH_DEVICE, else cuda if available, else cpu)"
    )

    def __post_init__(self) -> None:
        if not str(self.output_dir).strip():
            raise InputError("output_dir must not be empty")
        positive = {
            "batch_size": self.batch_size,
            "eval_batch_size": self.eval_batch_size,
            "logging_steps": self.logging_steps,
            "save_total_limit": self.save_total_limit,
        }
        for name, value in positive.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InputError(f"{name} must be a positive integer, got {value!r}")
        if self.lr_scheduler not in LR_SCHEDULERS:
            raise InputError(
                f"lr_scheduler must be one of {', '.join(LR_SCHEDULERS)}, got {self.lr_scheduler!r}"
            )
        if self.decision not in DECISIONS:
            raise InputError(f"decision must be one of {', '.join(DECISIONS)}, got {self.decision!r}")
        if self.head not in HEADS:
            raise InputError(f"head must be one of {', '.join(HEADS)}, got {self.head!r}")
        for name in ("max_steps", "eval_every", "max_seq_length", "layers"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise InputError(f"{name} must be a positive integer or None, got {value!r}")
        if not (isinstance(self.epochs, (int, float)) and math.isfinite(self.epochs) and self.epochs > 0):
            raise InputError(f"epochs must be > 0, got {self.epochs!r}")
        if not (isinstance(self.lr, (int, float)) and 0 < self.lr < 1):
            raise InputError(f"lr must be in (0, 1), got {self.lr!r}")
        if self.head_lr is not None and not (isinstance(self.head_lr, (int, float)) and 0 < self.head_lr < 1):
            raise InputError(f"head_lr must be in (0, 1) or None, got {self.head_lr!r}")
        if not (isinstance(self.warmup, (int, float)) and self.warmup >= 0):
            raise InputError(f"warmup must be >= 0, got {self.warmup!r}")
        if self.warmup >= 1 and float(self.warmup) != int(self.warmup):
            raise InputError(f"warmup >= 1 is a number of steps and must be whole, got {self.warmup}")
        if self.weight_decay < 0:
            raise InputError(f"weight_decay must be >= 0, got {self.weight_decay}")

    @property
    def path(self) -> Path:
        return Path(self.output_dir)

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / "checkpoints"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    @classmethod
    def help(cls) -> dict[str, str]:
        """Field name → help text."""
        return {f.name: f.metadata.get("help", "") for f in fields(cls)}
