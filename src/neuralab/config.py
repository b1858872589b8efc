"""Configs are dataclasses: the CLI fills them, every run saves them, and they round-trip through JSON.

`add_arguments` turns a config dataclass into argparse options (one `--field-name` per field, help from the
field's metadata), so a new experiment gets its command-line options by declaring its config, not by editing the CLI.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from neuralab.errors import ConfigError

C = TypeVar("C")


def option(default: Any, help: str, **kw: Any) -> Any:
    """A dataclass field with its CLI help text: `epochs: int = option(10, "passes over the training set")`."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata={"help": help, **kw})
    return field(default=default, metadata={"help": help, **kw})


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


def from_dict(cls: type[C], data: dict[str, Any]) -> C:
    """Rebuild a config from `to_dict` output; unknown keys are an error, not silently dropped."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{cls.__name__} has no field(s) {unknown}. Received: {data}")
    kwargs = {}
    for key, value in data.items():
        kind = _strip_optional(hints[key])
        if dataclasses.is_dataclass(kind) and isinstance(value, dict):
            value = from_dict(kind, value)  # type: ignore[arg-type]
        elif typing.get_origin(kind) is tuple and isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


def _strip_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _parser_for(tp: Any, name: str) -> tuple[Any, dict[str, Any]]:
    """(type callable, extra argparse kwargs) for a field's annotation."""
    tp = _strip_optional(tp)
    origin = typing.get_origin(tp)
    if tp is bool:
        return None, {"action": argparse.BooleanOptionalAction}
    if origin is Literal:
        choices = typing.get_args(tp)
        return type(choices[0]), {"choices": choices}
    if origin in (list, tuple):
        inner = typing.get_args(tp)[0]

        def parse_list(text: str) -> Any:
            try:
                items = [inner(x) for x in text.split(",") if x.strip()]
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"--{name} takes comma-separated {inner.__name__} values. Received: {text!r}"
                ) from None
            return tuple(items) if origin is tuple else items

        return parse_list, {"metavar": f"{inner.__name__.upper()},..."}
    if tp in (int, float, str):
        return tp, {}
    if tp is Path:
        return Path, {}
    raise TypeError(f"no CLI parser for field {name!r} of type {tp!r}")


def add_arguments(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """One `--field-name` option per dataclass field; unset options keep the dataclass default."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip or f.metadata.get("cli") is False:
            continue
        conv, extra = _parser_for(hints[f.name], f.name)
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        shown = ",".join(map(str, default)) if isinstance(default, (list, tuple)) else default
        help_text = f"{f.metadata.get('help', '')} (default: {shown})"
        kwargs: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS, "help": help_text, **extra}
        if conv is not None:
            kwargs["type"] = conv
        parser.add_argument("--" + f.name.replace("_", "-"), **kwargs)


def from_args(cls: type[C], ns: argparse.Namespace, **overrides: Any) -> C:
    """Build a config from parsed options (only those given) plus overrides; validates via `__post_init__`."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    given = {k: v for k, v in vars(ns).items() if k in names}
    return cls(**{**given, **overrides})


def replace(cfg: C, **changes: Any) -> C:
    return dataclasses.replace(cfg, **changes)  # type: ignore[type-var]


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
