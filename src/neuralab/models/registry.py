"""The model registry. A builder is `fn(input_shape, num_outputs, **kwargs) -> nn.Module`."""

from __future__ import annotations

import inspect
from typing import Any, Callable

from torch import nn

from neuralab.errors import ConfigError
from neuralab.registry import Registry

Builder = Callable[..., nn.Module]
MODELS: Registry[Builder] = Registry("model")


def register_model(name: str) -> Callable[[Builder], Builder]:
    return MODELS.register(name)


def model_args(name: str) -> dict[str, Any]:
    """The keyword arguments a model accepts, with their defaults (for --help and for validation)."""
    sig = inspect.signature(MODELS.get(name))
    return {k: p.default for k, p in list(sig.parameters.items())[2:] if p.kind is p.KEYWORD_ONLY or
            p.default is not inspect.Parameter.empty}


def create_model(name: str, input_shape: tuple[int, ...], num_outputs: int, **kwargs: Any) -> nn.Module:
    builder = MODELS.get(name)
    allowed = model_args(name)
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ConfigError(f"model {name!r} takes no argument(s) {unknown}. It takes: {sorted(allowed)}")
    # A one-element list typed on the command line ('hidden=128') arrives as a scalar.
    kwargs = {k: [v] if isinstance(allowed[k], (list, tuple)) and not isinstance(v, (list, tuple)) else v
              for k, v in kwargs.items()}
    return builder(tuple(input_shape), int(num_outputs), **kwargs)
