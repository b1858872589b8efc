"""Other frameworks running neuralab's models, for side-by-side comparison with the PyTorch engine.

Keras 3 runs on a backend (here torch, or TensorFlow with the `tensorflow` extra) chosen once per process, before
`import keras`, from the KERAS_BACKEND environment variable. `import_keras(backend)` sets it, imports Keras and
refuses a second backend in the same process with a message that says what to do instead. Nothing here imports
Keras at module level, so `neuralab --help` stays fast.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any

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
