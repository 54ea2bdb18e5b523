"""Command-line flags generated from a typed, frozen config, and parsed flags mapped back onto it.

One mechanism for every command that is configured by such an object: ``simmatch train`` (the
``TrainingConfig`` dataclass, help in each field's ``metadata["help"]``) and ``simmatch serve``
(the ``ServiceSettings`` pydantic model, help in each field's ``description``, nested groups such as
``limits`` flattened into top-level flags). A setting's name, type, default and help are declared
once, on the config; a command only says how a flag differs from the generated one (``Flag``).

- ``field_name`` → ``--field-name``; ``bool`` → ``--x`` / ``--no-x``; ``int`` / ``float`` /
  ``str`` / ``Path`` are converted by argparse, a ``Literal`` becomes ``choices``; ``X | None``
  is ``X`` on the command line.
- A flag left out keeps the config's default: only flags given (or a command's own defaults)
  reach the config, so defaults are declared once and validation is the config's own. Invalid
  values raise ``InputError`` naming the field.

Imports only the standard library (pydantic lazily, when a pydantic config fails to validate).
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

from simmatch.errors import InputError

C = TypeVar("C")

_SCALARS: dict[Any, Any] = {int: int, float: float, str: str, Path: Path}


@dataclass(frozen=True)
class Flag:
    """How one field's flag differs from the generated one: its name (``"--out"`` for
    ``output_dir``), extra spellings (``"-m"``), metavar, or help text."""

    name: str | None = None
    aliases: tuple[str, ...] = ()
    metavar: str | None = None
    help: str | None = None


@dataclass(frozen=True)
class ConfigField:
    """One settable field of a config, nested groups flattened: ``path`` is ``("limits",
    "max_items_per_request")`` for ``ServiceSettings.limits.max_items_per_request``."""

    path: tuple[str, ...]
    type: Any
    default: Any
    required: bool
    help: str

    @property
    def name(self) -> str:
        return self.path[-1]

    @property
    def key(self) -> str:
        return ".".join(self.path)


def config_fields(config_cls: type) -> list[ConfigField]:
    """The fields of a dataclass or pydantic model, nested dataclasses/models flattened, in
    declaration order."""
    return list(_fields(config_cls, ()))


def _fields(cls: type, prefix: tuple[str, ...]) -> Iterator[ConfigField]:
    if dataclasses.is_dataclass(cls):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            typ = hints[f.name]
            if _is_config(typ):
                yield from _fields(typ, (*prefix, f.name))
                continue
            if f.default is not dataclasses.MISSING:
                default, required = f.default, False
            elif f.default_factory is not dataclasses.MISSING:
                default, required = f.default_factory(), False
            else:
                default, required = None, True
            yield ConfigField((*prefix, f.name), typ, default, required, f.metadata.get("help", ""))
    elif _is_pydantic(cls):
        for name, info in cls.model_fields.items():  # type: ignore[attr-defined]
            typ = info.annotation
            if _is_config(typ):
                yield from _fields(typ, (*prefix, name))
                continue
            required = info.is_required()
            default = None if required else info.get_default(call_default_factory=True)
            yield ConfigField((*prefix, name), typ, default, required, info.description or "")
    else:
        raise TypeError(f"{cls!r} is neither a dataclass nor a pydantic model")


def _is_pydantic(cls: Any) -> bool:
    return isinstance(cls, type) and hasattr(cls, "model_fields") and hasattr(cls, "model_validate")


def _is_config(typ: Any) -> bool:
    return isinstance(typ, type) and (dataclasses.is_dataclass(typ) or _is_pydantic(typ))


def _dest(prefix: str, field: ConfigField) -> str:
    return prefix + "__".join(field.path)


def _flag_name(field: ConfigField) -> str:
    return "--" + field.name.replace("_", "-")


def _unwrap_optional(typ: Any) -> Any:
    if typing.get_origin(typ) in (Union, types.UnionType):
        args = [a for a in typing.get_args(typ) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return typ


def _argparse_kwargs(typ: Any, pydantic: bool) -> dict[str, Any]:
    """How argparse reads a value of ``typ``."""
    typ = _unwrap_optional(typ)
    if typ is bool:
        return {"action": argparse.BooleanOptionalAction}
    if typing.get_origin(typ) is Literal:
        choices = typing.get_args(typ)
        return {"type": type(choices[0]), "choices": choices}
    if typ in _SCALARS:
        return {"type": _SCALARS[typ]}
    if pydantic:  # e.g. SecretStr: pydantic builds it from the string
        return {"type": str}
    raise TypeError(f"no command-line flag for a field of type {typ!r}")


def add_config_arguments(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    config_cls: type,
    *,
    prefix: str = "",
    flags: Mapping[str, Flag] | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> None:
    """Add one flag per field of ``config_cls``. ``prefix`` keeps the generated ``dest``s apart
    from the command's own flags; ``flags`` (by field key, ``"limits.max_queue"`` for a nested
    one) renames or re-documents a flag; ``defaults`` (by field key) replaces a field's default
    for this parser. Help shows the default when there is one."""
    flags = dict(flags or {})
    defaults = dict(defaults or {})
    pydantic = _is_pydantic(config_cls)
    fields = config_fields(config_cls)
    known = {f.key for f in fields}
    unknown = sorted((set(flags) | set(defaults)) - known)
    if unknown:
        raise TypeError(f"{config_cls.__name__} has no field {', '.join(unknown)}")
    seen: dict[str, str] = {}
    for field in fields:
        spec = flags.get(field.key, Flag())
        names = [spec.name or _flag_name(field), *spec.aliases]
        for name in names:
            if name in seen:
                raise TypeError(f"flag {name} stands for both {seen[name]} and {field.key}")
            seen[name] = field.key
        default = defaults.get(field.key, field.default)
        kwargs = _argparse_kwargs(field.type, pydantic)
        text = spec.help if spec.help is not None else field.help
        if spec.help is None and default is not None and not field.required:
            text += f" (default {default})"
        kwargs["help"] = text.replace("%", "%%")
        kwargs["dest"] = _dest(prefix, field)
        # Left out, a flag is None and the config's own default applies; a parser's own default
        # is passed on like a given value.
        kwargs["default"] = defaults.get(field.key)
        if field.required and field.key not in defaults:
            kwargs["required"] = True
        if spec.metavar or not ("action" in kwargs or "choices" in kwargs):
            kwargs["metavar"] = spec.metavar or field.name.upper()
        parser.add_argument(*names, **kwargs)


def config_from_args(
    config_cls: type[C],
    args: argparse.Namespace,
    *,
    prefix: str = "",
    fallback: Mapping[str, Any] | None = None,
    what: str | None = None,
) -> C:
    """The ``config_cls`` that :func:`add_config_arguments` flags describe: the values given on
    the command line, then ``fallback`` (by field key, e.g. a value from the environment; ``None``
    values ignored) for flags left out, then the config's defaults. Invalid values raise
    ``InputError`` naming the field (``what``: how the message names the config)."""
    values: dict[str, Any] = {}
    for field in config_fields(config_cls):
        value = getattr(args, _dest(prefix, field), None)
        if value is None and fallback is not None:
            value = fallback.get(field.key)
        if value is not None:
            values[field.key] = value
    return build_config(config_cls, values, what=what)


def build_config(config_cls: type[C], values: Mapping[str, Any], *, what: str | None = None) -> C:
    """``config_cls`` from flat ``{"limits.max_queue": 7, ...}`` values; invalid values raise
    ``InputError`` naming the field."""
    nested: dict[str, Any] = {}
    for key, value in values.items():
        *groups, name = key.split(".")
        node = nested
        for group in groups:
            node = node.setdefault(group, {})
        node[name] = value
    if _is_pydantic(config_cls):
        from pydantic import ValidationError

        try:
            return config_cls.model_validate(nested)  # type: ignore[attr-defined,no-any-return]
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)
            )
            raise InputError(f"invalid {what or config_cls.__name__}: {problems}") from exc
    return _build_dataclass(config_cls, nested)


def _build_dataclass(cls: Any, values: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs = {
        name: _build_dataclass(hints[name], value) if _is_config(hints[name]) else value
        for name, value in values.items()
    }
    return cls(**kwargs)
