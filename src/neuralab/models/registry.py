"""The model registry. A builder is `fn(input_shape, num_outputs, **kwargs) -> nn.Module`.

Each builder's keyword arguments are typed in its signature; `create_model` checks every given argument against
that type and a range (a model may narrow the default ranges when it registers), so `hidden=abc`, `hidden=0` or
`batch_norm=maybe` is a one-line error naming the argument, and a size that would not fit in memory is refused
before any weight is allocated.
"""

from __future__ import annotations

import inspect
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from neuralab.errors import ConfigError
from neuralab.registry import Registry

Builder = Callable[..., nn.Module]
DENSE_TASKS = ("classification", "regression")  # one output per class, or one value
MAX_PARAMS = 400_000_000  # 1.6 GB of float32 weights: larger is a typo or a hostile checkpoint on a laptop
INT_RANGE = (1, 65536)  # default range of integer arguments (layer widths, depths, counts)


@dataclass(frozen=True)
class ModelEntry:
    name: str
    build: Builder
    tasks: tuple[str, ...] = DENSE_TASKS
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)  # argument -> inclusive (low, high)


MODELS: Registry[ModelEntry] = Registry("model")


def register_model(name: str, tasks: tuple[str, ...] = DENSE_TASKS,
                   ranges: dict[str, tuple[float, float]] | None = None) -> Callable[[Builder], Builder]:
    def add(fn: Builder) -> Builder:
        MODELS.register(name)(ModelEntry(name, fn, tasks, ranges or {}))
        return fn

    return add


def _params(entry: ModelEntry) -> dict[str, inspect.Parameter]:
    return dict(list(inspect.signature(entry.build).parameters.items())[2:])


def model_args(name: str) -> dict[str, Any]:
    """The keyword arguments a model accepts, with their defaults (for --help and for validation)."""
    return {k: p.default for k, p in _params(MODELS.get(name)).items() if p.default is not inspect.Parameter.empty}


def _kind(annotation: Any) -> tuple[type, bool]:
    """(element type, is a sequence) of an argument's annotation: int, float, bool, str or a list/tuple of one."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        seqs = [a for a in args if typing.get_origin(a) in (list, tuple)]
        return _kind(seqs[0] if seqs else args[0])
    if origin in (list, tuple):
        return (args[0] if args else Any), True
    return annotation, False


def _check_value(model: str, key: str, value: Any, kind: type, low: float, high: float) -> Any:
    accepts = {int: "an integer", float: "a number", bool: "true or false", str: "text"}.get(kind, str(kind))
    ok = (isinstance(value, bool) if kind is bool else
          isinstance(value, int) and not isinstance(value, bool) if kind is int else
          isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) if kind is float
          else isinstance(value, str) if kind is str else True)
    if not ok:
        raise ConfigError(f"model {model!r}: argument {key} takes {accepts}. Received: {key}={value!r}")
    if kind in (int, float) and not low <= value <= high:
        raise ConfigError(f"model {model!r}: argument {key} must be in [{low:g}, {high:g}]. Received: {key}={value!r}")
    return float(value) if kind is float else value


def check_args(name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """kwargs checked against the builder's signature (names, types, ranges); a one-element list typed on the
    command line ('hidden=128') arrives as a scalar and becomes a list."""
    entry = MODELS.get(name)
    params = _params(entry)
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise ConfigError(f"model {name!r} takes no argument(s) {unknown}. It takes: {sorted(params)}")
    hints = typing.get_type_hints(entry.build)
    out = {}
    for key, value in kwargs.items():
        kind, seq = _kind(hints.get(key, Any))
        default_range = INT_RANGE if kind is int else (-math.inf, math.inf)
        low, high = entry.ranges.get(key, default_range)
        if seq:
            values = value if isinstance(value, (list, tuple)) else [value]
            out[key] = [_check_value(name, key, v, kind, low, high) for v in values]
        else:
            if isinstance(value, (list, tuple)):
                raise ConfigError(f"model {name!r}: argument {key} takes one value. Received: {key}={value!r}")
            out[key] = _check_value(name, key, value, kind, low, high)
    return out


def _size_check(entry: ModelEntry, input_shape: tuple[int, ...], num_outputs: int, kwargs: dict[str, Any]) -> None:
    """Build the model on the 'meta' device (shapes, no memory) and refuse it when it is absurdly large."""
    if kwargs.get("pretrained", "none") != "none":
        return  # pretrained weights load from a file while building: the file's size is the bound
    try:
        with torch.device("meta"):
            n = sum(p.numel() for p in entry.build(tuple(input_shape), int(num_outputs), **kwargs).parameters())
    except ConfigError:
        raise
    except Exception:  # noqa: BLE001 - a builder that cannot run on 'meta' is measured by the real build
        return
    if n > MAX_PARAMS:
        raise ConfigError(f"model {entry.name!r} with {kwargs} would have {n:,} parameters ({4 * n / 2**30:.1f} GiB "
                          f"of float32), more than the {MAX_PARAMS:,} neuralab builds")


def create_model(name: str, input_shape: tuple[int, ...], num_outputs: int, task: str | None = None,
                 **kwargs: Any) -> nn.Module:
    entry = MODELS.get(name)
    if task is not None and task not in entry.tasks:
        able = [n for n, e in MODELS.items() if task in e.tasks]
        raise ConfigError(f"model {name!r} is for {' and '.join(entry.tasks)}, not {task}. Models for {task}: "
                          f"{', '.join(able)}")
    kwargs = check_args(name, kwargs)
    _size_check(entry, input_shape, num_outputs, kwargs)
    return entry.build(tuple(input_shape), int(num_outputs), **kwargs)
