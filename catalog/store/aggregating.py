"""Aggregation helpers every backend shares, so that buckets come out the same (keys, order, tiles)."""
from __future__ import annotations

import math
from collections import Counter
from typing import Any

import shapely

from .types import Bucket


def rfc3339(value: str | None) -> str | None:
    """The store's timestamp form (microseconds) as the RFC 3339 text Items carry, e.g. 2020-01-01T00:00:00Z."""
    if value is None:
        return None
    return value.replace(".000000Z", "Z")


def bbox_centre(bbox: list[float]) -> tuple[float, float]:
    """Centre of a STAC bbox (2D or 3D); one crossing the antimeridian (west > east) is centred across it."""
    half = len(bbox) // 2
    west, south, east, north = bbox[0], bbox[1], bbox[half], bbox[half + 1]
    if west > east:
        east += 360.0
    lon = (west + east) / 2.0
    return (lon - 360.0 if lon > 180.0 else lon), (south + north) / 2.0


def tile(lon: float, lat: float, zoom: int) -> str:
    """Web-mercator tile z/x/y holding (lon, lat); latitudes beyond the projection's ±85.0511° are clamped."""
    lat = max(-85.05112878, min(85.05112878, lat))
    n = 2 ** zoom
    x = min(n - 1, max(0, int((lon + 180.0) / 360.0 * n)))
    y = min(n - 1, max(0, int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)))
    return f"{zoom}/{x}/{y}"


def terms_buckets(rows: list[tuple[Any, int]]) -> list[Bucket]:
    """(value, count) rows as terms buckets: most frequent first, then by key."""
    return [Bucket(str(k), n) for k, n in sorted(rows, key=lambda r: (-r[1], str(r[0])))]


def geotile_buckets(rows: list[tuple[list[float] | None, bytes]], precision: int) -> list[Bucket]:
    """(declared bbox or None, geometry WKB) rows as geotile buckets at zoom ``precision``."""
    # the declared bbox (it knows about the antimeridian), else the geometry's bounds
    centres = [bbox_centre(declared if declared else list(shapely.from_wkb(geometry).bounds))
               for declared, geometry in rows]
    tiles = Counter(tile(x, y, precision) for x, y in centres)
    return [Bucket(k, n) for k, n in sorted(tiles.items(), key=lambda kv: (-kv[1], kv[0]))]
