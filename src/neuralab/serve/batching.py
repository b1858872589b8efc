"""Micro-batching: requests arriving within `max_wait_ms` run as one batch on a worker thread.

The queue is bounded: `submit` raises QueueFull at once instead of waiting, so a flood answers 503, never hangs.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from dataclasses import dataclass
import queue as _queue
from typing import Callable

import numpy as np


class QueueFull(RuntimeError):
    pass


@dataclass
class _Item:
    x: np.ndarray  # (n, ...) - one request may carry several rows
    future: Future


class MicroBatcher:
    def __init__(self, fn: Callable[[np.ndarray], np.ndarray], max_batch: int = 32, max_wait_ms: float = 5,
                 queue_size: int = 256, batching: bool = True) -> None:
        self.fn, self.max_batch, self.max_wait = fn, max_batch, max_wait_ms / 1000
        self.batching = batching
        self.queue: _queue.Queue[_Item] = _queue.Queue(maxsize=queue_size)
        self.thread = threading.Thread(target=self._loop, daemon=True, name="neuralab-batcher")
        self.thread.start()

    async def __call__(self, x: np.ndarray) -> np.ndarray:
        item = _Item(x, Future())
        try:
            self.queue.put_nowait(item)
        except _queue.Full:
            raise QueueFull(f"inference queue is full ({self.queue.maxsize} waiting requests)") from None
        return await asyncio.wrap_future(item.future)

    def _loop(self) -> None:
        while True:
            items = [self.queue.get()]
            rows = len(items[0].x)
            if self.batching:
                deadline = _now() + self.max_wait
                while rows < self.max_batch:
                    left = deadline - _now()
                    try:
                        nxt = self.queue.get(timeout=left) if left > 0 else self.queue.get_nowait()
                    except _queue.Empty:
                        break
                    items.append(nxt)
                    rows += len(nxt.x)
            try:
                out = self.fn(np.concatenate([i.x for i in items]))
                start = 0
                for i in items:
                    i.future.set_result(out[start:start + len(i.x)])
                    start += len(i.x)
            except Exception as e:  # noqa: BLE001 - the error goes to every waiting request
                for i in items:
                    if not i.future.done():
                        i.future.set_exception(e)


def _now() -> float:
    import time

    return time.monotonic()
