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
                 seed: int = 0, drop_last: bool = False, dtype: torch.dtype = torch.float32,
                 rank: int = 0, world_size: int = 1):
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
        # Under DDP every rank draws the same order and augmentation for the whole global batch, then keeps its
        # share: the union of the ranks' batches is exactly the single-process batch.
        self.rank, self.world_size = rank, world_size
        self.position = 0  # batches of the current epoch already yielded
        self._epoch_start = self.generator.get_state()
        self._resume: tuple[torch.Tensor, torch.Tensor, int] | None = None

    def __len__(self) -> int:
        n = len(self.x)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def num_samples(self) -> int:
        return len(self.x)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.x)
        first, current = 0, None
        if self._resume is not None:  # continue an epoch that was interrupted after `first` batches
            start_state, current, first = self._resume
            self._resume = None
            self.generator.set_state(start_state)
        self._epoch_start = self.generator.get_state()
        order = torch.randperm(n, generator=self.generator, device=self.device) if self.shuffle else None
        if current is not None:
            self.generator.set_state(current)
        for i in range(first, len(self)):
            sl = slice(i * self.batch_size, min(n, (i + 1) * self.batch_size))
            if order is None:
                xb, yb = self.x[sl], self.y[sl]
            else:
                idx = order[sl]
                xb, yb = self.x[idx], self.y[idx]
            xb = torch.addcmul(self.shift, xb.to(self.dtype), self.scale)
            if self.augment is not None:
                xb = self.augment(xb, self.generator)
            if self.world_size > 1:
                xb, yb = xb[self.rank::self.world_size], yb[self.rank::self.world_size]
            self.position = i + 1
            yield xb, yb
        self.position = 0

    def global_batch_size(self, i: int) -> int:
        """Samples in batch i across all ranks (to weight each rank's share of the loss exactly)."""
        return min(len(self.x), (i + 1) * self.batch_size) - i * self.batch_size

    # Resuming a run must resume the random stream too, so shuffles and augmentations repeat exactly — also from
    # the middle of an epoch (a preempted run): the epoch's starting state regenerates its order.
    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "epoch_start": self._epoch_start,
                "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if int(state.get("position", 0)) > 0:
            self._resume = (state["epoch_start"], state["generator"], int(state["position"]))
        else:
            self.generator.set_state(state["generator"])


PHOTO_SIDE = 64  # inputs at least this big (both sides) are "photo-sized" for the two rules below


def is_photo(shape: Sequence[int]) -> bool:
    return len(shape) == 3 and min(shape[-2:]) >= PHOTO_SIDE


def cpu_inference_batch(requested: int, input_shape: Sequence[int], device: torch.device) -> int:
    """A CPU evaluates photo-sized images fastest in small batches: 128 images at 224 px make activations of hundreds
    of MB per layer that stream through memory instead of cache (MobileNetV2, one core: 19 img/s at batch 128, 43 at
    batch 16). GPUs, and small images, keep the batch they asked for."""
    return min(requested, 16) if device.type == "cpu" and is_photo(input_shape) else requested


def use_channels_last(input_shape: Sequence[int], device: torch.device, dtype: torch.dtype | None = None) -> bool:
    """Channels-last on GPUs (tensor cores want it) and for photo-sized inputs on CPUs, where oneDNN's convolutions
    then skip a layout conversion per layer (MobileNetV2 at 224 px, one core: training 8.5 -> 13.0 img/s); and for
    any image computed in bf16 on a CPU: oneDNN's AMX kernels want it."""
    return len(input_shape) == 3 and (device.type == "cuda" or is_photo(input_shape)
                                      or (device.type == "cpu" and dtype == torch.bfloat16))
