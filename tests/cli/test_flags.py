"""One mechanism builds the flags of ``simmatch train`` and ``simmatch serve`` from their typed configs
(``simmatch.cli._flags``): every field has a flag with its help, parsing the flags of a config gives
the config back, and bad values are refused with a clear message."""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

from simmatch.cli._flags import Flag, add_config_arguments, config_fields, config_from_args
from simmatch.cli.main import build_parser, main
from simmatch.cli.train import CONFIG_PREFIX
from simmatch.training import TrainingConfig

pydantic = pytest.importorskip("pydantic")

from simmatch.cli import serve as serve_cli  # noqa: E402
from simmatch.service.settings import ServiceSettings  # noqa: E402


def _subparser(*path: str) -> argparse.ArgumentParser:
    parser = build_parser()
    for name in path:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    return parser


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {a.dest: a for a in parser._actions if a.option_strings}


def _argv(parser: argparse.ArgumentParser, prefix: str, config: Any) -> list[str]:
    """The flags that describe ``config``, field by field, as a user would type them."""
    actions = _options(parser)
    argv: list[str] = []
    for f in config_fields(type(config)):
        value: Any = config
        for part in f.path:
            value = getattr(value, part)
        if value is None:
            continue
        action = actions[prefix + "__".join(f.path)]
        if isinstance(action, argparse.BooleanOptionalAction):
            argv.append(action.option_strings[0 if value else 1])
            continue
        if isinstance(value, pydantic.SecretStr):
            value = value.get_secret_value()
        argv += [action.option_strings[0], str(value)]
    return argv


TRAINING = TrainingConfig(
    output_dir="run",
    epochs=2.5,
    max_steps=7,
    batch_size=8,
    lr=3e-5,
    lr_scheduler="cosine",
    head_lr=1e-4,
    warmup=10,
    weight_decay=0.0,
    seed=7,
    max_seq_length=64,
    freeze_embeddings=False,
    layers=3,
    head="mean",
    length_buckets=False,
    decision="macro_f1",
    eval_every=5,
    save_total_limit=3,
    keep_checkpoints=True,
    resume_from="latest",
    eval_batch_size=16,
    logging_steps=5,
    progress=False,
    device="cpu",
)
SERVICE = ServiceSettings(
    model="m",
    cross_encoder="ce",
    index=Path("idx"),
    host="0.0.0.0",
    port=9000,
    api_key="s3cret",
    device="cpu",
    backend="onnx",
    access_log=False,
    malloc_trim_interval_s=0.0,
    ui=False,
    shutdown_grace_s=2.5,
    limits={
        "max_items_per_request": 8,
        "max_chars_per_text": 100,
        "max_body_bytes": 4096,
        "max_tokens_per_request": 300,
    },
    batching={"max_batch_size": 4, "max_wait_ms": 2.5, "max_queue": 9, "max_batch_tokens": 64},
)


def test_the_examples_set_every_field():
    """So the round trips below cover every flag."""
    for config in (TRAINING, SERVICE):
        default = type(config)(output_dir="run") if isinstance(config, TrainingConfig) else type(config)()
        for f in config_fields(type(config)):
            if f.key == "output_dir":
                continue
            mine, theirs = config, default
            for part in f.path:
                mine, theirs = getattr(mine, part), getattr(theirs, part)
            assert mine != theirs, f.key


@pytest.mark.parametrize("family", ["cross-encoder", "embedder"])
def test_every_training_field_has_a_flag_with_its_help(family):
    actions = _options(_subparser("train", family))
    for name, text in TrainingConfig.help().items():
        action = actions[CONFIG_PREFIX + name]
        assert text and action.help is not None and action.help.startswith(text.replace("%", "%%"))
    assert actions[CONFIG_PREFIX + "output_dir"].option_strings == ["--out"]
    assert actions[CONFIG_PREFIX + "output_dir"].required
    assert actions[CONFIG_PREFIX + "batch_size"].help.endswith("(default 16)")


def test_every_service_field_has_a_flag_with_its_help():
    actions = _options(_subparser("serve"))
    fields = config_fields(ServiceSettings)
    assert {f.key for f in fields} >= {
        "model",
        "api_key",
        "limits.max_items_per_request",
        "batching.max_queue",
    }
    for f in fields:
        action = actions["__".join(f.path)]
        assert action.option_strings[0] == "--" + f.name.replace("_", "-")
        if f.key != "api_key":  # the CLI says where else the key may come from
            assert f.help and action.help.startswith(f.help)
    assert actions["model"].option_strings == ["--model", "-m"]
    assert actions["limits__max_body_bytes"].help.endswith("(default 2097152)")
    assert "$SIMMATCH_API_KEY" in actions["api_key"].help


@pytest.mark.parametrize("family", ["cross-encoder", "embedder"])
def test_training_flags_round_trip(family):
    parser = _subparser("train", family)
    required = ["--train", "t.csv"]
    argv = _argv(parser, CONFIG_PREFIX, TRAINING)
    assert (
        config_from_args(TrainingConfig, parser.parse_args(required + argv), prefix=CONFIG_PREFIX) == TRAINING
    )
    defaults = parser.parse_args([*required, "--out", "run"])
    assert config_from_args(TrainingConfig, defaults, prefix=CONFIG_PREFIX) == TrainingConfig(
        output_dir="run"
    )


def test_service_flags_round_trip(monkeypatch):
    monkeypatch.delenv("SIMMATCH_API_KEY", raising=False)
    parser = _subparser("serve")
    argv = _argv(parser, "", SERVICE)
    assert "--max-queue" in argv and "--no-access-log" in argv
    settings = serve_cli.settings_from_args(parser.parse_args(argv))
    assert settings == SERVICE
    assert serve_cli.settings_from_args(parser.parse_args([])) == ServiceSettings()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "embedder", "--train", "t", "--out", "o", "--batch-size", "many"],
         "argument --batch-size: invalid int value: 'many'"),
        (["train", "embedder", "--train", "t", "--out", "o", "--lr", "fast"],
         "argument --lr: invalid float value: 'fast'"),
        (["train", "embedder", "--train", "t", "--out", "o", "--batch-sise", "8"],
         "unrecognized arguments: --batch-sise 8"),
        (["train", "embedder", "--train", "t"], "the following arguments are required: --out"),
        (["serve", "--port", "http"], "argument --port: invalid int value: 'http'"),
        (["serve", "--log-level", "loud"], "argument --log-level: invalid choice: 'loud'"),
    ],
)  # fmt: skip
def test_values_argparse_cannot_read_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "embedder", "--train", "t", "--out", "o", "--batch-size", "0"],
         "simmatch: error: batch_size must be a positive integer, got 0\n"),
        (["serve", "--port", "70000"],
         "simmatch: error: invalid service settings: port: Input should be less than or equal to 65535\n"),
        (["serve", "--max-wait-ms", "-1"],
         "simmatch: error: invalid service settings: batching.max_wait_ms: "
         "Input should be greater than or equal to 0\n"),
    ],
)  # fmt: skip
def test_values_the_config_refuses_are_one_line_errors(argv, message, capsys):
    assert main(argv) == 2
    assert capsys.readouterr().err == message


# ------------------------------------------------------------------ the mechanism on its own


@dataclass(frozen=True)
class Inner:
    size: int = field(default=3, metadata={"help": "inner size"})


@dataclass(frozen=True)
class Outer:
    name: str = field(metadata={"help": "a name"})
    mode: Literal["fast", "exact"] = field(default="exact", metadata={"help": "how"})
    ratio: float | None = field(default=None, metadata={"help": "a ratio, 50% by default"})
    path: Path = field(default=Path("x"), metadata={"help": "a path"})
    verbose: bool = field(default=False, metadata={"help": "talk"})
    inner: Inner = field(default_factory=Inner)


def _outer_parser(**kw: Any) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="outer")
    add_config_arguments(parser, Outer, **kw)
    return parser


def test_nested_literal_optional_and_path_fields():
    parser = _outer_parser(flags={"inner.size": Flag(name="--inner-size", aliases=("-s",))})
    args = parser.parse_args(
        ["--name", "n", "--mode", "fast", "--ratio", "0.5", "--path", "p", "-s", "9", "--verbose"]
    )
    assert config_from_args(Outer, args) == Outer("n", "fast", 0.5, Path("p"), True, Inner(9))
    assert config_from_args(Outer, parser.parse_args(["--name", "n"])) == Outer("n")
    assert "50% by default" in parser.format_help()  # a % in help text is not a format directive
    fallback = {"ratio": 0.25, "name": "unused"}  # e.g. read from the environment
    assert config_from_args(Outer, parser.parse_args(["--name", "n"]), fallback=fallback) == Outer(
        "n", ratio=0.25
    )
    assert "[--mode {fast,exact}]" in parser.format_usage()


def test_unknown_choice_is_refused(capsys):
    with pytest.raises(SystemExit):
        _outer_parser().parse_args(["--name", "n", "--mode", "slow"])
    assert "argument --mode: invalid choice: 'slow' (choose from" in capsys.readouterr().err


def test_a_parsers_own_default_is_shown_and_used():
    parser = _outer_parser(defaults={"name": "dflt", "inner.size": 5})
    assert config_from_args(Outer, parser.parse_args([])) == Outer("dflt", inner=Inner(5))
    assert "(default 5)" in parser.format_help()


def test_mistakes_in_the_flag_table_fail_loudly():
    with pytest.raises(TypeError, match="has no field nmae"):
        _outer_parser(flags={"nmae": Flag(name="--n")})
    with pytest.raises(TypeError, match=r"flag --mode stands for both mode and inner\.size"):
        _outer_parser(flags={"inner.size": Flag(name="--mode")})

    @dataclass(frozen=True)
    class Odd:
        values: list[int] = field(default_factory=list)

    with pytest.raises(TypeError, match="no command-line flag for a field of type"):
        add_config_arguments(argparse.ArgumentParser(), Odd)


# ------------------------------------------------------------------ public __init__s


PUBLIC_PACKAGES = ["simmatch", "simmatch.models", "simmatch.data", "simmatch.losses", "simmatch.training",
                   "simmatch.evaluation", "simmatch.index", "simmatch.service"]  # fmt: skip


@pytest.mark.parametrize("package", PUBLIC_PACKAGES)
def test_public_inits_export_no_argparse_helpers(package):
    module = importlib.import_module(package)
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name)
        if not callable(obj) or inspect.isclass(obj):
            continue
        try:
            signature = str(inspect.signature(obj))
        except (TypeError, ValueError):
            continue
        assert "argparse" not in signature and "Namespace" not in signature, f"{package}.{name}"
    assert not {"add_config_arguments", "config_from_args", "settings_from_args", "serve_main"} & set(
        getattr(module, "__all__", [])
    )


def test_serve_without_the_extra_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "pydantic", None)  # import pydantic -> ImportError
    monkeypatch.delitem(sys.modules, "simmatch.service.settings")
    for argv in (["serve", "--model", "m", "--port", "1"], ["serve", "--help"]):
        assert main(argv) == 2
        assert (
            capsys.readouterr().err
            == "simmatch: error: pydantic is not installed: pip install 'simmatch[serve]'\n"
        )


def test_field_defaults_come_from_the_config():
    """Nothing in the flag table repeats a default: a left-out flag is None and the config decides."""
    parser = _subparser("serve")
    args = parser.parse_args([])
    for f in config_fields(ServiceSettings):
        assert getattr(args, "__".join(f.path)) is None
