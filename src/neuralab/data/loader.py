"""The in-memory loader: the whole split lives as one tensor (uint8 for images) on the training device.

Each batch is one index into that tensor, one conversion to float with the normalization folded into a single
multiply-add, and batched augmentation (`neuralab.data.augment`). There are no worker processes, no per-sample
`__getitem__`, no PIL: this is where neuralab's CPU speed comes from (see benchmarks/loader.py).
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np
import torch

from neuralab.data.base import Split


class BatchLoader:
    def __init__(self, split: Split, batch_size: int, shuffle: bool = False, augment: Any = None,
                 mean: Sequence[float] = (), std: Sequence[float] = (), device: str | torch.device = "cpu",
                 seed: int = 0, drop_last: bool = False, dtype: torch.dtype = torch.float32):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1. Received: batch_size={batch_size}")
        self.device = torch.device(device)
        self.x = torch.from_numpy(np.ascontiguousarray(split.x)).to(self.device)
        self.y = torch.from_numpy(np.ascontiguousarray(split.y)).to(self.device)
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.augment, self.dtype = augment, dtype
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        # (x/255 - mean)/std == x*scale + shift: one fused op per batch instead of three passes.
        shape = (1, -1, 1, 1) if self.x.ndim == 4 else (1, -1)
        unit = 255.0 if self.x.dtype == torch.uint8 else 1.0
        m = torch.as_tensor(mean if len(mean) else [0.0], dtype=torch.float64)
        s = torch.as_tensor(std if len(std) else [1.0], dtype=torch.float64)
        self.scale = (1.0 / (unit * s)).to(dtype).reshape(shape).to(self.device)
        self.shift = (-m / s).to(dtype).reshape(shape).to(self.device)

    def __len__(self) -> int:
        n = len(self.x)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def num_samples(self) -> int:
        return len(self.x)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.x)
        order = torch.randperm(n, generator=self.generator, device=self.device) if self.shuffle else None
        for i in range(len(self)):
            sl = slice(i * self.batch_size, min(n, (i + 1) * self.batch_size))
            if order is None:
                xb, yb = self.x[sl], self.y[sl]
            else:
                idx = order[sl]
                xb, yb = self.x[idx], self.y[idx]
            xb = torch.addcmul(self.shift, xb.to(self.dtype), self.scale)
            if self.augment is not None:
                xb = self.augment(xb, self.generator)
            yield xb, yb

    # Resuming a run must resume the random stream too, so shuffles and augmentations repeat exactly.
    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.generator.set_state(state["generator"])
