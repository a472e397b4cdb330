"""Geometry checks shared by records, the build and request parsing."""
from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import shapely
import shapely.geometry
from shapely.geometry.base import BaseGeometry

Box = tuple[float, float, float, float]  # (minx, maxx, miny, maxy), the order the R*Tree uses


def lonlat_problem(shape: BaseGeometry) -> str | None:
    """Why ``shape`` is not within lon [-180, 180] / lat [-90, 90], or None."""
    minx, miny, maxx, maxy = shape.bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        return f"has coordinates outside lon [-180, 180] / lat [-90, 90] (bounds {tuple(shape.bounds)})"
    return None


def to_shape(geometry: dict[str, Any]) -> BaseGeometry:
    """A GeoJSON geometry as a shapely shape; raises ValueError with the reason when it is not one."""
    try:
        return shapely.geometry.shape(geometry)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, shapely.errors.ShapelyError) as exc:
        raise ValueError(f"is not valid GeoJSON: {exc}") from None


def shapes_of(geometries: list[Any]) -> tuple[list[int], Any]:
    """The positions of the GeoJSON geometries present in ``geometries`` and their shapes, made by GEOS in two
    calls at most (the batch writes of both stores; shapely.geometry.shape one by one is ~10x slower).

    Plain 2D Polygons, nearly every scene footprint, go to GEOS as one coordinate array (shapely's ragged-array
    constructor: ~4 µs an Item less than writing and parsing their GeoJSON text); anything else, and any
    polygon that is not well formed, is read from its GeoJSON text, so errors are GEOS's own either way."""
    present = [i for i, g in enumerate(geometries) if g]
    shapes = np.empty(len(present), dtype=object)
    coords: list[Any] = []
    ring_ends, polygon_ends = [0], [0]
    plain, other = [], []
    for k, i in enumerate(present):
        if _add_plain_polygon(geometries[i], coords, ring_ends):
            plain.append(k)
            polygon_ends.append(len(ring_ends) - 1)
        else:
            other.append(k)
    if plain and set(map(type, coords)) <= {float, int}:  # (not bool, not "1.0": GEOS would refuse those)
        shapes[plain] = shapely.from_ragged_array(
            shapely.GeometryType.POLYGON, np.array(coords, dtype=np.float64).reshape(-1, 2),
            (np.array(ring_ends, dtype=np.int64), np.array(polygon_ends, dtype=np.int64)))
    else:
        other = list(range(len(present)))
    if other:
        shapes[other] = shapely.from_geojson([orjson.dumps(geometries[present[k]]) for k in other])
    return present, shapes


def _add_plain_polygon(geometry: Any, coords: list[Any], ring_ends: list[int]) -> bool:
    """Append a Polygon's positions to ``coords`` (x, y, x, y, ...) and its rings' ends (in positions) to
    ``ring_ends``, if it is a 2D Polygon of closed rings of at least 4 positions; else add nothing."""
    rings = geometry.get("coordinates") if isinstance(geometry, dict) and geometry.get("type") == "Polygon" else None
    if not isinstance(rings, list) or not rings:
        return False
    start, ends = len(coords), len(ring_ends)
    try:
        for ring in rings:
            if not (isinstance(ring, list) and len(ring) >= 4 and ring[0] == ring[-1] and set(map(len, ring)) == {2}):
                raise TypeError
            for position in ring:
                coords += position
            ring_ends.append(len(coords) // 2)
    except TypeError:  # a ring or position that is not a list of the right length
        del coords[start:], ring_ends[ends:]
        return False
    return True


def bbox_boxes(bbox: list[float]) -> list[Box]:
    """(minx, maxx, miny, maxy) boxes for a 2D/3D bbox; one crossing the antimeridian becomes two."""
    if len(bbox) == 6:
        west, south, east, north = bbox[0], bbox[1], bbox[3], bbox[4]
    else:
        west, south, east, north = bbox
    if west > east:
        return [(west, 180.0, south, north), (-180.0, east, south, north)]
    return [(west, east, south, north)]


def bbox_shape(bbox: list[float]) -> BaseGeometry:
    """A 2D/3D bbox as one (Multi)Polygon, split at the antimeridian when it crosses it."""
    boxes = [shapely.geometry.box(b[0], b[2], b[1], b[3]) for b in bbox_boxes(bbox)]
    return boxes[0] if len(boxes) == 1 else shapely.union_all(boxes)
