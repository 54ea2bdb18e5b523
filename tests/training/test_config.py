"""TrainingConfig: validation with clear messages, help for every field, CLI flags generated from it
(the mechanism itself is tested in tests/cli/test_flags.py)."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from simmatch.cli._flags import add_config_arguments, config_from_args
from simmatch.cli.train import CONFIG_FLAGS, CONFIG_PREFIX
from simmatch.errors import InputError
from simmatch.training import TrainingConfig


def test_defaults_are_frozen_and_documented(tmp_path):
    config = TrainingConfig(output_dir=str(tmp_path))
    assert config.freeze_embeddings is True and config.seed == 42
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.lr = 1.0  # type: ignore[misc]
    assert all(text for text in TrainingConfig.help().values())
    assert config.checkpoint_dir == tmp_path / "checkpoints"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("batch_size", 0, "batch_size must be a positive integer, got 0"),
        ("batch_size", True, "batch_size must be a positive integer, got True"),
        ("max_steps", -1, "max_steps must be a positive integer or None, got -1"),
        ("epochs", 0, "epochs must be > 0"),
        ("lr", 2.0, r"lr must be in \(0, 1\)"),
        ("head_lr", 0.0, r"head_lr must be in \(0, 1\) or None, got 0.0"),
        ("warmup", 1.5, "warmup >= 1 is a number of steps and must be whole"),
        ("output_dir", " ", "output_dir must not be empty"),
    ],
)
def test_invalid_values_are_rejected(field, value, message):
    values = {"output_dir": "out", field: value}
    with pytest.raises(InputError, match=message):
        TrainingConfig(**values)


def test_cli_flags_map_onto_the_config():
    parser = argparse.ArgumentParser()
    add_config_arguments(
        parser, TrainingConfig, prefix=CONFIG_PREFIX, flags=CONFIG_FLAGS, defaults={"batch_size": 32}
    )
    args = parser.parse_args(["--out", "run", "--max-steps", "5", "--no-freeze-embeddings", "--lr", "3e-5"])
    config = config_from_args(TrainingConfig, args, prefix=CONFIG_PREFIX)
    assert config == TrainingConfig(
        output_dir="run", max_steps=5, freeze_embeddings=False, lr=3e-5, batch_size=32
    )
    with pytest.raises(SystemExit):
        parser.parse_args(["--max-steps", "5"])  # --out is required
