"""How fast this machine is right now, in one number: the images/s of a fixed training step.

Why: the same code ran 25-70% slower on some days on these shared 2-core machines (once 1.7x slower within the
hour), with no other program in sight (no waiting for a CPU, no steal time). A tour's CPU minutes can only be compared
between days beside the speed they ran at, so `run all` measures this before and after its experiments and its page
shows both.

The step: the quick recipe's CIFAR `cnn` (depth 4, width 32; pooling, depth and augmentation train it) on random 32x32
images, batch 128, AdamW, in the precision the Trainer would pick for it, after two warm-up steps.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from neuralab.data.loader import use_channels_last
from neuralab.device import autocast, resolve_precision
from neuralab.heap import retained_heap
from neuralab.models import create_model

BATCH = 128
WHAT = f"the quick recipe's cnn (depth 4, width 32), training steps on random 32x32 images, batch {BATCH}"


def reference_speed(device: torch.device, seconds: float = 1.5) -> float:
    """Training images per second of the reference step, measured for about `seconds` (whole steps)."""
    gen = torch.Generator().manual_seed(0)
    model = create_model("cnn", (3, 32, 32), 10, depth=4, width=32).to(device)
    dtype = resolve_precision("auto", device)
    channels_last = use_channels_last((3, 32, 32), device, dtype)  # the Trainer's layout for it
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    x = torch.randn(BATCH, 3, 32, 32, generator=gen).to(device)
    x = x.contiguous(memory_format=torch.channels_last) if channels_last else x
    y = torch.randint(0, 10, (BATCH,), generator=gen).to(device)

    def step() -> None:
        with autocast(device, dtype=dtype):
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    with retained_heap():
        for _ in range(2):
            step()
        steps, start = 0, time.perf_counter()
        while steps < 3 or time.perf_counter() - start < seconds:
            step()
            steps += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
        return BATCH * steps / (time.perf_counter() - start)
