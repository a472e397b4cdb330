"""Hilbert-curve keys: the order in which boxes go into an R*Tree.

SQLite's R*Tree is built by inserting one entry at a time, and its shape follows the insertion order.
Items usually arrive in time order (a harvest, a scene archive); inserted that way into a tree over space
and time, every node spans the whole globe for a short period, and a 3-degree search visits most of the
tree (7.4 ms against 0.09 ms for the same 10^5 Sentinel-2 boxes inserted along a Hilbert curve). Sorting
each write's boxes by the Hilbert index of their centre, then by start time, keeps neighbours together.
"""
from __future__ import annotations

from collections.abc import Sequence
from itertools import chain

import numpy as np

ORDER = 10                 # a 1024 x 1024 grid: cells of 0.35 x 0.18 degrees, smaller than a typical scene
TIME_BITS = 24             # start day, offset and clamped, in the low bits: a cell's boxes then go by time
_TIME_OFFSET = 1 << (TIME_BITS - 1)


def hilbert_index(x: np.ndarray, y: np.ndarray, order: int = ORDER) -> np.ndarray:
    """The distance along the Hilbert curve of grid cells (x, y), each in [0, 2**order)."""
    x, y = x.astype(np.int64), y.astype(np.int64)
    d = np.zeros_like(x)
    n = 1 << order
    s = n >> 1
    while s > 0:
        rx = (x & s) > 0
        ry = (y & s) > 0
        d += s * s * ((3 * rx.astype(np.int64)) ^ ry.astype(np.int64))
        # Rotate the quadrant so the curve stays continuous.
        flip = ~ry & rx
        x = np.where(flip, n - 1 - x, x)
        y = np.where(flip, n - 1 - y, y)
        x, y = np.where(~ry, y, x), np.where(~ry, x, y)
        s >>= 1
    return d


def box_keys(boxes: Sequence[Sequence[float]]) -> list[int]:
    """Sort keys of R*Tree rows ``(id, minx, maxx, miny, maxy, mint, maxt, ...)``: Hilbert cell of the box
    centre (longitude/latitude, or any plane clamped to them), then start day."""
    return keys_of([row[1:5] for row in boxes], [row[5] for row in boxes])


def keys_of(boxes: Sequence[Sequence[float]], starts: Sequence[float]) -> list[int]:
    """:func:`box_keys` of boxes ``(minx, maxx, miny, maxy)`` starting on days ``starts``."""
    if not boxes:
        return []
    # Flat into numpy (fromiter over one chain): ~5x cheaper than asarray's shape discovery on small tuples.
    rows = np.fromiter(chain.from_iterable(boxes), dtype=np.float64, count=4 * len(boxes)).reshape(-1, 4)
    cells = (1 << ORDER) - 1
    cx = np.clip(((rows[:, 0] + rows[:, 1]) / 2 + 180.0) / 360.0, 0.0, 1.0) * cells
    cy = np.clip(((rows[:, 2] + rows[:, 3]) / 2 + 90.0) / 180.0, 0.0, 1.0) * cells
    start = np.clip(np.nan_to_num(np.asarray(starts, dtype=np.float64)), -_TIME_OFFSET,
                    _TIME_OFFSET - 1).astype(np.int64) + _TIME_OFFSET
    keys: list[int] = ((hilbert_index(cx, cy) << TIME_BITS) | start).tolist()
    return keys
