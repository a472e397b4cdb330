"""Relevance (``types.RELEVANCE``), the per-query sort key, computed the same way by every backend.

The query area is registered under a key (a digest of its WKB and the body): a backend puts the key in its
SQL text (SQLite calls :func:`share` and :func:`whole` as SQL functions) or calls them itself on candidate
rows (PostgreSQL), so both rank on the same geodesic areas (``catalog.areas``).
"""
from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any

import shapely
import shapely.geometry

from ..areas import UnknownBody, covers_body, shape_area_km2, share_inside
from .types import QueryError


@lru_cache(maxsize=64)
def prepared(wkb: bytes) -> Any:
    geom = shapely.from_wkb(wkb)
    shapely.prepare(geom)
    return geom


# The query areas that relevance sorts measure against, by key: the key (a digest) goes into the SQL text, so
# the sort expression is the same in the select list, the ORDER BY and a token's keyset condition.
_RELEVANCE_AREAS: dict[str, tuple[bytes, str]] = {}
_RELEVANCE_KEEP = 256


def relevance_key(shape: Any, target: str | None) -> str:
    wkb = shapely.to_wkb(shape)
    body = (target or "earth").lower()
    key = hashlib.blake2b(wkb + body.encode(), digest_size=10).hexdigest()
    if key not in _RELEVANCE_AREAS:
        if len(_RELEVANCE_AREAS) >= _RELEVANCE_KEEP:
            _RELEVANCE_AREAS.pop(next(iter(_RELEVANCE_AREAS)))
        _RELEVANCE_AREAS[key] = (wkb, body)
    return key


@lru_cache(maxsize=4096)
def share(item_wkb: bytes | None, area: float | None, key: str) -> float:
    """The share of an Item's area inside the query area registered under ``key`` (relevance's first key)."""
    if item_wkb is None:
        return 0.0
    wkb, body = _RELEVANCE_AREAS[key]
    try:
        return share_inside(shapely.from_wkb(item_wkb), prepared(wkb), body, area)
    except UnknownBody:  # a body with no ellipsoid known: the share on the lon/lat plane
        item = shapely.from_wkb(item_wkb)
        return item.intersection(prepared(wkb)).area / item.area if item.area else 1.0


@lru_cache(maxsize=4096)
def whole(item_wkb: bytes | None, area: float | None, key: str) -> int:
    """1 for an Item covering its whole body (a global study), 0 else (relevance's first key)."""
    if item_wkb is None:
        return 0
    body = _RELEVANCE_AREAS[key][1]
    try:
        return int(covers_body(area if area is not None else shape_area_km2(shapely.from_wkb(item_wkb), body), body))
    except UnknownBody:
        return 0


def query_shape(geometry: dict[str, Any]) -> Any:
    """The shape of a search's ``intersects`` geometry; a bad one is the caller's error (QueryError)."""
    try:
        shape = shapely.geometry.shape(geometry)
    except Exception as exc:
        raise QueryError(f"invalid geometry: {exc}") from exc
    if shape.is_empty:
        raise QueryError("geometry is empty")
    if not shape.is_valid and shape.geom_type in ("Polygon", "MultiPolygon"):
        shape = shape.buffer(0)
    return shape
