"""Other frameworks running neuralab's models, for side-by-side comparison with the PyTorch engine.

Keras 3 runs on a backend (here torch, or TensorFlow with the `tensorflow` extra) chosen once per process, before
`import keras`, from the KERAS_BACKEND environment variable. `import_keras(backend)` sets it, imports Keras and
refuses a second backend in the same process with a message that says what to do instead. Nothing here imports
Keras at module level, so `neuralab --help` stays fast: `keras_unsupported` says what the Keras twins cannot build
without loading it, so a config is refused before any training.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any

from neuralab.data.augment import parse as parse_augment
from neuralab.errors import ConfigError

# Keras backend -> the package it needs, and how to get it.
KERAS_BACKENDS = {"torch": ("torch", "pip install -e ."),
                  "tensorflow": ("tensorflow", "pip install -e '.[tensorflow]'")}


def keras_backend_missing(backend: str) -> str:
    """Why the backend cannot run here ('' when it can); cheap: looks for the package, imports nothing."""
    if backend not in KERAS_BACKENDS:
        return f"unknown Keras backend {backend!r}; choose from {sorted(KERAS_BACKENDS)}"
    package, install = KERAS_BACKENDS[backend]
    if importlib.util.find_spec("keras") is None:
        return "Keras is not installed: pip install -e ."
    if importlib.util.find_spec(package) is None:
        return f"the Keras {backend} backend needs the {package} package: {install}"
    return ""


# What the Keras twins (frameworks/keras_models.py) build: the models, the MLP's activations, the augmentations.
KERAS_MODELS = ("mlp", "cnn")
KERAS_ACTIVATIONS = ("relu", "gelu", "tanh", "sigmoid", "leaky_relu", "silu")
KERAS_AUGMENTS = {"crop": "RandomTranslation", "flip": "RandomFlip"}


def keras_unsupported(model: str, kwargs: dict[str, Any], augment: str) -> str:
    """Why the Keras twin cannot train this model and augmentation ('' when it can); imports nothing heavy."""
    if model not in KERAS_MODELS:
        return f"the Keras twin builds {' or '.join(KERAS_MODELS)}. Received: --model {model}"
    if kwargs.get("activation_name", "relu") not in KERAS_ACTIVATIONS:
        return (f"the Keras MLP takes activation_name from {', '.join(KERAS_ACTIVATIONS)}. Received: "
                f"activation_name={kwargs['activation_name']}")
    if kwargs.get("residual"):
        return ("the Keras CNN is a Sequential model, which has no skip connections: use residual=false, or "
                "--framework torch for residual=true")
    steps = [name for name, _ in parse_augment(augment)]
    if any(name not in KERAS_AUGMENTS for name in steps):
        return (f"the Keras twin augments with {' and '.join(f'{k} ({v})' for k, v in KERAS_AUGMENTS.items())}. "
                f"Received: --augment {augment}")
    return ""


def import_keras(backend: str | None = None) -> Any:
    """The keras module on `backend` (default: $KERAS_BACKEND, else torch)."""
    backend = backend or os.environ.get("KERAS_BACKEND") or "torch"
    loaded = sys.modules.get("keras")
    if loaded is not None:
        current = loaded.backend.backend()
        if current != backend:
            raise ConfigError(f"this process already runs Keras on the {current} backend, and a process holds one "
                              f"backend. Start a new process for {backend}: neuralab run mnist --framework keras "
                              f"--keras-backend {backend}")
        return loaded
    missing = keras_backend_missing(backend)
    if missing:
        raise ConfigError(missing)
    os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up notices are not for learners
    import keras

    return keras
