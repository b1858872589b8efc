"""Configs are dataclasses: the CLI fills them, every run saves them, and they round-trip through JSON.

A config subclasses `Config`, declares each field with `option(default, help, min=..., max=...)` (choices as
`Literal`) and groups related fields in sections (`section(DataConfig(...))`). Construction validates every field —
type, range, finiteness — so the CLI, the Python API and `--resume` share one set of rules and a bad value is
refused before anything is created. `add_arguments` flattens a config into argparse options (a section's fields
appear under its prefix, `--model` and `--model-args` for a `model` section), and `Config.of(**flat)` builds one
from those flat names, so a new experiment gets its options by declaring its config, never by editing the CLI.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from neuralab.errors import ConfigError

C = TypeVar("C")


def option(default: Any, help: str, *, min: float | None = None, max: float | None = None,
           above: float | None = None, cli: bool = True) -> Any:
    """A config field with its CLI help and range: `lr: float = option(1e-3, "peak learning rate", above=0)`.
    `min`/`max` are inclusive bounds, `above` an exclusive lower bound; floats must also be finite."""
    meta = {"help": help, "min": min, "max": max, "above": above, "cli": cli}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return field(default=default, metadata=meta)


def section(default: Any, prefix: str = "") -> Any:
    """A nested config (a group of options). Its fields become `--<prefix>-<field>` options (`--<field>` without a
    prefix); a field called `name` in a prefixed section is `--<prefix>` itself."""
    return field(default_factory=lambda: dataclasses.replace(default), metadata={"section": True, "prefix": prefix})


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def _describe(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(map(repr, typing.get_args(tp)))
    return {int: "an integer", float: "a number", bool: "true or false", str: "text", Path: "a path"}.get(
        tp, getattr(tp, "__name__", str(tp)))


def _coerce(name: str, value: Any, tp: Any) -> Any:
    """`value` as type `tp`, or a ConfigError naming the field and what it accepts."""
    tp, optional = _strip_optional(tp)
    if value is None and optional:
        return None
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name} takes a list. Received: {name}={value!r}")
        inner = typing.get_args(tp)[0] if typing.get_args(tp) else Any
        items = [_coerce(name, v, inner) for v in value]
        return tuple(items) if origin is tuple else items
    ok = (tp is Any or (origin is Literal and value in typing.get_args(tp)) or
          (tp is bool and isinstance(value, bool)) or
          (tp is int and isinstance(value, int) and not isinstance(value, bool)) or
          (tp is float and isinstance(value, (int, float)) and not isinstance(value, bool)) or
          (tp is str and isinstance(value, str)) or (tp is Path and isinstance(value, (str, Path))) or
          (dataclasses.is_dataclass(tp) and isinstance(value, (tp, dict))))
    if not ok:
        raise ConfigError(f"{name} takes {_describe(tp)}. Received: {name}={value!r}")
    if tp is float:
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number. Received: {name}={value}")
    if tp is Path:
        value = Path(value)
    if dataclasses.is_dataclass(tp) and isinstance(value, dict):
        value = from_dict(tp, value)  # type: ignore[arg-type]
    return value


def _check_range(name: str, value: Any, meta: typing.Mapping[str, Any]) -> None:
    values = value if isinstance(value, (list, tuple)) else [value]
    for v in values:
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            continue
        low, high, above = meta.get("min"), meta.get("max"), meta.get("above")
        if (low is not None and v < low) or (high is not None and v > high) or (above is not None and v <= above):
            rule = " and ".join(f"{op} {_number(bound)}" for op, bound in ((">=", low), (">", above), ("<=", high))
                                if bound is not None)
            raise ConfigError(f"{name} must be {rule}. Received: {name}={value!r}")


def _number(v: float) -> str:
    return f"{int(v):,}" if float(v).is_integer() and abs(v) >= 1000 else f"{v:g}"


@dataclass
class Config:
    """Base of every config: fields are type- and range-checked on construction (and so on `replace`)."""

    QUICK: ClassVar[dict[str, Any]] = {}  # dotted field -> value or fn(value): what quick mode changes

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = _coerce(f.name, getattr(self, f.name), hints[f.name])
            _check_range(f.name, value, f.metadata)
            object.__setattr__(self, f.name, value)

    @classmethod
    def of(cls: type[C], **flat: Any) -> C:
        """Build from flat option names (`dataset=`, `lr=`, `model_args=`), the names the CLI uses."""
        return _build(cls, flat)

    def replace(self: C, **flat: Any) -> C:
        """A copy with some flat-named options changed (validated again)."""
        return _build(type(self), flat, base=self)


# -- flattening: nested configs <-> CLI option names -------------------------------------------------------------
def _flat_name(prefix: str, name: str) -> str:
    return (prefix if name == "name" else f"{prefix}_{name}") if prefix else name


def flat_fields(cls: type) -> dict[str, tuple[tuple[str, ...], dataclasses.Field]]:
    """flat option name -> (path of field names, the field) for every leaf field of a config class."""
    out: dict[str, tuple[tuple[str, ...], dataclasses.Field]] = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.metadata.get("section"):
            prefix = f.metadata.get("prefix", "")
            for name, (path, leaf) in flat_fields(hints[f.name]).items():
                out[_flat_name(prefix.replace("-", "_"), name)] = ((f.name, *path), leaf)
        else:
            out[f.name] = ((f.name,), f)
    return out


def get_path(cfg: Any, path: tuple[str, ...] | str) -> Any:
    for part in (path.split(".") if isinstance(path, str) else path):
        cfg = getattr(cfg, part)
    return cfg


def set_path(cfg: C, path: tuple[str, ...] | str, value: Any) -> C:
    """A copy of `cfg` with the (nested) field at `path` set to `value`."""
    parts = path.split(".") if isinstance(path, str) else path
    if len(parts) == 1:
        return dataclasses.replace(cfg, **{parts[0]: value})  # type: ignore[type-var]
    return dataclasses.replace(cfg, **{parts[0]: set_path(getattr(cfg, parts[0]), parts[1:], value)})  # type: ignore


def _build(cls: type[C], flat: dict[str, Any], base: Any = None) -> C:
    table = flat_fields(cls)
    unknown = sorted(set(flat) - set(table))
    if unknown:
        raise ConfigError(f"{cls.__name__} has no option(s) {unknown}. Options: {sorted(table)}")
    cfg = base if base is not None else cls()
    for name, value in flat.items():
        cfg = set_path(cfg, table[name][0], value)
    return cfg


def field_default(cls: type, path: tuple[str, ...]) -> Any:
    """The default of the (nested) field at `path` as the class declares it."""
    return get_path(cls(), path)


def apply_quick(cfg: C) -> C:
    """`cfg` with its class's QUICK changes applied to every field still at its default (what a user set wins):
    the one place quick mode shrinks an experiment."""
    for dotted, change in type(cfg).QUICK.items():
        path = tuple(dotted.split("."))
        current = get_path(cfg, path)
        if current == field_default(type(cfg), path):
            cfg = set_path(cfg, path, change(current) if callable(change) else change)
    return cfg


# -- JSON ---------------------------------------------------------------------------------------------------------
def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass (Paths become strings, tuples lists)."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, Path):
            return str(v)
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        return v

    return plain(cfg)


def from_dict(cls: type[C], data: Any, source: str = "") -> C:
    """Rebuild a config from `to_dict` output; unknown keys and bad values are errors naming the field."""
    where = f" in {source}" if source else ""
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__}{where} must be a JSON object. Received: {str(data)[:80]}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{cls.__name__}{where} has no field(s) {unknown}. Received: {str(data)[:200]}")
    kwargs = {}
    for key, value in data.items():
        kind, _ = _strip_optional(hints[key])
        if dataclasses.is_dataclass(kind) and isinstance(value, dict):
            value = from_dict(kind, value, source)  # type: ignore[arg-type]
        elif typing.get_origin(kind) is tuple and isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except ConfigError as e:
        raise ConfigError(f"{e}{where}") from None


# -- argparse -----------------------------------------------------------------------------------------------------
def _parser_for(tp: Any, name: str) -> tuple[Any, dict[str, Any]]:
    """(type callable, extra argparse kwargs) for a field's annotation."""
    tp, _ = _strip_optional(tp)
    origin = typing.get_origin(tp)
    if tp is bool:
        return None, {"action": argparse.BooleanOptionalAction}
    if origin is Literal:
        choices = typing.get_args(tp)
        return type(choices[0]), {"choices": choices}
    if origin in (list, tuple):
        inner = typing.get_args(tp)[0]
        choices = typing.get_args(inner) if typing.get_origin(inner) is Literal else ()
        convert = type(choices[0]) if choices else inner
        label = "|".join(map(str, choices)) if choices else inner.__name__.upper()

        def parse_list(text: str) -> Any:
            try:
                items = [convert(x.strip()) for x in text.split(",") if x.strip()]
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"--{name} takes comma-separated {convert.__name__} values. Received: {text!r}") from None
            bad = [x for x in items if choices and x not in choices]
            if bad:
                raise argparse.ArgumentTypeError(f"--{name} takes {', '.join(map(str, choices))}. Received: {bad}")
            return tuple(items) if origin is tuple else items

        return parse_list, {"metavar": f"{label},..."}
    if tp in (int, float, str, Path):
        return tp, {}
    raise TypeError(f"no CLI parser for field {name!r} of type {tp!r}")


def add_arguments(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """One `--option` per leaf field (sections flattened); unset options keep the config's own default."""
    defaults = cls()
    for name, (path, f) in flat_fields(cls).items():
        if name in skip or f.metadata.get("cli") is False:
            continue
        owner = get_path(defaults, path[:-1]) if len(path) > 1 else defaults
        conv, extra = _parser_for(typing.get_type_hints(type(owner))[f.name], name)
        default = get_path(defaults, path)
        shown = ",".join(map(str, default)) if isinstance(default, (list, tuple)) else default
        help_text = f"{f.metadata.get('help', '')} (default: {shown})"
        kwargs: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS, "help": help_text, **extra}
        if conv is not None:
            kwargs["type"] = conv
        parser.add_argument("--" + name.replace("_", "-"), **kwargs)


def from_args(cls: type[C], ns: argparse.Namespace, **overrides: Any) -> C:
    """Build a config from parsed options (only those given) plus flat-named overrides; validated."""
    table = flat_fields(cls)
    given = {k: v for k, v in vars(ns).items() if k in table}
    return _build(cls, {**given, **overrides})


def _env_path(var: str) -> Path | None:
    value = os.environ.get(var)
    return Path(value).expanduser() if value else None


@dataclass
class Settings:
    """Where things live, resolved once: command-line value > environment variable > default."""

    runs_dir: Path
    data_dir: Path
    cache_dir: Path
    download: bool = True
    device: str = "auto"
    weights_dir: Path = Path.home() / ".cache" / "neuralab" / "weights"  # local pretrained checkpoints

    @classmethod
    def resolve(
        cls,
        runs_dir: str | Path | None = None,
        data_dir: str | Path | None = None,
        download: bool | None = None,
        device: str | None = None,
        weights_dir: str | Path | None = None,
    ) -> "Settings":
        home = Path.home() / ".cache" / "neuralab"
        runs = Path(runs_dir) if runs_dir else _env_path("NEURALAB_RUNS") or Path("runs")
        data = Path(data_dir) if data_dir else _env_path("NEURALAB_DATA") or home
        # Derived caches (decoded arrays) never go next to data neuralab did not download itself.
        cache = _env_path("NEURALAB_CACHE") or home / "arrays"
        if download is None:
            download = os.environ.get("NEURALAB_NO_DOWNLOAD", "") in ("", "0", "false")
        weights = Path(weights_dir) if weights_dir else _env_path("NEURALAB_WEIGHTS") or home / "weights"
        return cls(runs.expanduser(), data.expanduser(), cache, bool(download), device or "auto",
                   weights.expanduser())
