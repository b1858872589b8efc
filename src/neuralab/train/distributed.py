"""Data-parallel training under `torchrun`, and preemption: the pieces the Trainer uses.

Under torchrun every process runs the same command. `setup()` reads torchrun's environment, starts the process
group (NCCL on GPUs, gloo on CPUs), and pins each process to its GPU. Each rank trains on its share of every global
batch (the loader deals the shares), DDP averages gradients, metric sums are all-reduced, and only rank 0 writes
the run directory. SIGTERM (a preempted job) sets a flag that every rank checks after each step, so all ranks stop
at the same step, rank 0 writes a checkpoint, and the processes exit 0 for `--resume` to continue.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def setup() -> World:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1); a no-op for a single process."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local)
        dist.init_process_group(backend)
    return World(rank, size, local)


def device_for(world: World, requested: torch.device) -> torch.device:
    """Each rank on its own GPU; CPU ranks share the CPU."""
    if requested.type == "cuda" and world.distributed:
        return torch.device("cuda", world.local_rank)
    return requested


def all_sum(world: World, values: Sequence[float], device: torch.device) -> list[float]:
    """Element-wise sum over ranks (loss sums, correct counts): every rank gets the global numbers."""
    if not world.distributed:
        return list(values)
    t = torch.tensor(list(values), dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def any_rank(world: World, flag: bool, device: torch.device) -> bool:
    """True on every rank if it is true on any rank (so all ranks stop at the same step)."""
    if not world.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def broadcast_path(world: World, make: Any) -> Any:
    """Rank 0 calls `make()` (e.g. creates the run directory); every rank gets its result."""
    if not world.distributed:
        return make()
    box = [make() if world.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_rng(world: World) -> list[torch.Tensor]:
    """Every rank's CPU random state (dropout masks differ per rank once their batch sizes differ)."""
    state = torch.get_rng_state()
    if not world.distributed:
        return [state]
    states: list[Any] = [None] * world.size
    dist.all_gather_object(states, state)
    return states


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def teardown(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()


class Preemption:
    """Turns SIGTERM into a flag checked between steps, instead of dying mid-write."""

    def __init__(self) -> None:
        self.requested = False
        self._old: Any = None

    def __enter__(self) -> "Preemption":
        try:
            self._old = signal.signal(signal.SIGTERM, self._handle)
        except ValueError:  # not the main thread: no signal handling possible, no preemption either
            self._old = None
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True

    def __exit__(self, *exc: Any) -> None:
        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)
