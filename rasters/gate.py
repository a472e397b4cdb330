"""Bounded work: at most ``max_concurrent`` data operations per process at a time.

A threaded server runs catalogue searches and data reads in the same workers. Reads are heavy (network,
decompression, memory), so each operation takes a slot of a ``threading.BoundedSemaphore``; a request that
cannot get one within ``wait`` seconds fails fast with :class:`rasters.errors.Busy` (503 + Retry-After)
instead of queueing without bound, and the remaining threads stay free for search.
"""
from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import Busy


class Gate:
    def __init__(self, slots: int, wait: float) -> None:
        if slots < 1:
            raise ValueError("at least one concurrent data operation is needed")
        self.slots = slots
        self.wait = wait
        self._semaphore = threading.BoundedSemaphore(slots)

    @contextmanager
    def slot(self) -> Iterator[None]:
        if not self._semaphore.acquire(timeout=self.wait):
            retry = max(1, math.ceil(self.wait))
            raise Busy(f"all {self.slots} raster data slots of this server are busy; retry in {retry} s",
                       retry_after=retry)
        try:
            yield
        finally:
            self._semaphore.release()
