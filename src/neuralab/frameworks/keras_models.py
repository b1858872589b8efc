"""The PyTorch models of `neuralab.models` rebuilt in Keras 3 as Sequential models: twins with the same layers, widths
and parameter count, so that training both compares the frameworks and not the networks.

- `mlp`: Flatten, then Dense (+ BatchNormalization) + activation (+ Dropout) blocks, and a Dense of logits.
- `cnn`: per stage, 3x3 Conv2D (`same` padding; no bias when batch norm follows) + BatchNormalization + ReLU, then
  2x2 max or average pooling (+ Dropout); GlobalAveragePooling2D and a Dense of logits. Stage sizes come from the
  PyTorch model's own `stage_sizes`, the arguments and their defaults from its registered signature.

What still differs, by each framework's defaults: Keras initializes Dense and Conv2D kernels Glorot-uniform with zero
biases (PyTorch: Kaiming-uniform and small random biases). BatchNormalization is set to PyTorch's numbers (moving
averages keep 0.9 of the old value, epsilon 1e-5). Augmentation is a layer at the front, active in `fit` only:
RandomTranslation for `crop=N` (whole-pixel shifts of up to N pixels, edges reflected: on the torch backend as the
engine's batched crop does, on TensorFlow with the edge pixel repeated) and RandomFlip for `flip`. Keras counts
BatchNormalization's moving averages as (non-trainable) parameters, PyTorch keeps them as buffers:
`trainable_params` is the number that matches PyTorch's.

Import this module only after `neuralab.frameworks.import_keras(backend)` has chosen the backend.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from neuralab.data.augment import parse as parse_augment
from neuralab.errors import ConfigError, NeuralabError
from neuralab.frameworks import import_keras, keras_unsupported
from neuralab.models import create_model
from neuralab.models.cnn import stage_sizes
from neuralab.models.registry import check_args, model_args

keras = import_keras()
layers = keras.layers


def data_format() -> str:
    """channels_first on the torch backend (PyTorch's own layout); TensorFlow's CPU kernels only take channels_last."""
    return "channels_first" if keras.backend.backend() == "torch" else "channels_last"


def keras_shape(input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """A (C, H, W) image shape in this backend's layout ((H, W, C) for channels_last); other shapes as they are."""
    if len(input_shape) == 3 and data_format() == "channels_last":
        return (*input_shape[1:], input_shape[0])
    return tuple(input_shape)


def augment_layers(spec: str, input_shape: tuple[int, ...]) -> list[Any]:
    """The engine's batched augmentations as Keras preprocessing layers (see the module docstring)."""
    out: list[Any] = []
    for name, value in parse_augment(spec):
        if name == "crop":
            px = int(value or 4)  # bare `crop`: the engine's default of 4 pixels
            h, w = input_shape[-2:]
            out.append(layers.RandomTranslation(px / h, px / w, fill_mode="reflect", interpolation="nearest",
                                                data_format=data_format()))
        elif name == "flip":
            out.append(layers.RandomFlip("horizontal", data_format=data_format()))
    return out


def norm_layer() -> Any:
    axis = 1 if data_format() == "channels_first" else -1
    return layers.BatchNormalization(axis=axis, momentum=0.9, epsilon=1e-5)  # PyTorch's momentum 0.1, eps 1e-5


def activation(name: str) -> Any:
    if name == "leaky_relu":
        return layers.LeakyReLU(negative_slope=0.01)  # PyTorch's slope (Keras' default is 0.2)
    return layers.Activation(name)  # relu, gelu (exact, as PyTorch's), tanh, sigmoid, silu


def mlp_layers(num_classes: int, *, hidden: list[int], activation_name: str, dropout: float,
               batch_norm: bool) -> list[Any]:
    out: list[Any] = [layers.Flatten()]
    for width in hidden:
        out.append(layers.Dense(width))
        if batch_norm:
            out.append(norm_layer())
        out.append(activation(activation_name))
        if dropout:
            out.append(layers.Dropout(dropout))
    return out + [layers.Dense(num_classes)]  # logits, like the PyTorch model: softmax lives in the loss


def cnn_layers(num_classes: int, *, depth: int, width: int, pool: str, dropout: float, batch_norm: bool,
               residual: bool) -> list[Any]:
    fmt, out = data_format(), []
    for s, n in enumerate(stage_sizes(depth)):
        for _ in range(n):
            out.append(layers.Conv2D(width * 2**s, 3, padding="same", use_bias=not batch_norm, data_format=fmt))
            if batch_norm:
                out.append(norm_layer())
            out.append(layers.ReLU())
        out.append(layers.MaxPooling2D(2, data_format=fmt) if pool == "max" else
                   layers.AveragePooling2D(2, data_format=fmt))
        if dropout:
            out.append(layers.Dropout(dropout))
    return out + [layers.GlobalAveragePooling2D(data_format=fmt), layers.Dense(num_classes)]


BUILDERS: dict[str, Callable[..., list[Any]]] = {"mlp": mlp_layers, "cnn": cnn_layers}


def build_twin(model: str, input_shape: tuple[int, ...], num_classes: int, kwargs: dict[str, Any],
               augment: str = "none") -> Any:
    """The Keras twin of `create_model(model, input_shape, num_classes, **kwargs)`, with `augment` in front.

    The PyTorch model is built too: it checks the arguments as the engine does, and its parameter count is the one
    the twin must have."""
    why = keras_unsupported(model, kwargs, augment)
    if why:
        raise ConfigError(why)
    torch_params = sum(p.numel() for p in create_model(model, input_shape, num_classes, **kwargs).parameters())
    args = {**model_args(model), **check_args(model, kwargs)}  # the PyTorch builder's defaults, lists as lists
    twin = keras.Sequential([keras.Input(shape=keras_shape(input_shape)), *augment_layers(augment, input_shape),
                             *BUILDERS[model](num_classes, **args)], name=model)
    if trainable_params(twin) != torch_params:
        raise NeuralabError(f"the Keras {model} has {trainable_params(twin):,} trainable parameters and the PyTorch "
                            f"one {torch_params:,}: keras_models.py no longer builds its twin")
    return twin


def trainable_params(model: Any) -> int:
    """Weights that training changes: the count PyTorch's `model.parameters()` gives for the same network."""
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))
