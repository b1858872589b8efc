"""One call makes a CPU run bit-for-bit repeatable: Python, NumPy and (if loaded) torch all seeded."""

from __future__ import annotations

import os
import random
import sys

import numpy as np


def seed_everything(seed: int, deterministic: bool = True) -> np.random.Generator:
    """Seed every generator neuralab uses and return a NumPy Generator for the caller's own draws.

    torch is seeded only if it is already imported, so NumPy-only code (neuralab.scratch) never pulls it in.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)
        if deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
            if torch.backends.cudnn.is_available():
                torch.backends.cudnn.benchmark = False
    return np.random.default_rng(seed)
