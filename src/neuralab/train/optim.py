"""Optimizers and learning-rate schedules by name, so experiments compare them by looping over names."""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable

import torch

from neuralab.errors import ConfigError
from neuralab.registry import Registry

OPTIMIZERS: Registry[Callable[..., torch.optim.Optimizer]] = Registry("optimizer")
SCHEDULES: Registry[Callable[..., Callable[[int], float]]] = Registry("schedule")


OPTIMIZERS.register("sgd")(lambda p, lr, wd, m: torch.optim.SGD(p, lr=lr, weight_decay=wd))
OPTIMIZERS.register("momentum")(lambda p, lr, wd, m: torch.optim.SGD(p, lr=lr, momentum=m, weight_decay=wd))
OPTIMIZERS.register("nesterov")(
    lambda p, lr, wd, m: torch.optim.SGD(p, lr=lr, momentum=m, nesterov=True, weight_decay=wd))
OPTIMIZERS.register("adam")(lambda p, lr, wd, m: torch.optim.Adam(p, lr=lr, weight_decay=wd))
OPTIMIZERS.register("adamw")(lambda p, lr, wd, m: torch.optim.AdamW(p, lr=lr, weight_decay=wd))
OPTIMIZERS.register("rmsprop")(lambda p, lr, wd, m: torch.optim.RMSprop(p, lr=lr, weight_decay=wd))
OPTIMIZERS.register("adagrad")(lambda p, lr, wd, m: torch.optim.Adagrad(p, lr=lr, weight_decay=wd))
OPTIMIZERS.register("adadelta")(lambda p, lr, wd, m: torch.optim.Adadelta(p, lr=lr, weight_decay=wd))


def build_optimizer(name: str, params: Iterable[Any], lr: float, weight_decay: float = 0.0,
                    momentum: float = 0.9) -> torch.optim.Optimizer:
    if lr <= 0:
        raise ConfigError(f"learning rate must be > 0. Received: lr={lr}")
    return OPTIMIZERS.get(name)(params, lr, weight_decay, momentum)


# A schedule maps the step index to a multiplier of the base learning rate (for torch's LambdaLR, per step).
@SCHEDULES.register("constant")
def constant(total: int, warmup: int) -> Callable[[int], float]:
    return lambda s: min(1.0, (s + 1) / warmup) if warmup else 1.0


@SCHEDULES.register("cosine")
def cosine(total: int, warmup: int) -> Callable[[int], float]:
    def f(s: int) -> float:
        if s < warmup:
            return (s + 1) / warmup
        t = (s - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

    return f


@SCHEDULES.register("step")
def step(total: int, warmup: int) -> Callable[[int], float]:
    """x0.1 at 50% and 75% of training (the classic ResNet recipe, scaled to any length)."""
    return lambda s: (min(1.0, (s + 1) / warmup) if s < warmup else 1.0) * (0.1 ** ((s >= total // 2) + (s >= 3 * total // 4)))


@SCHEDULES.register("onecycle")
def onecycle(total: int, warmup: int) -> Callable[[int], float]:
    """Linear up to the peak over the first 25% (or `warmup` steps), then linear down to zero (Smith, 2018)."""
    peak = warmup or max(1, total // 4)

    def f(s: int) -> float:
        return (s + 1) / peak if s < peak else max(0.0, (total - s) / max(1, total - peak))

    return f


def build_schedule(name: str, optimizer: torch.optim.Optimizer, total_steps: int,
                   warmup_steps: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, SCHEDULES.get(name)(total_steps, warmup_steps))
