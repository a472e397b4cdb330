"""Geometry checks shared by records, the build and request parsing."""
from __future__ import annotations

from typing import Any

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
    """The positions of the GeoJSON geometries present in ``geometries`` and their shapes, read by GEOS in one
    call (the batch writes of both stores; shapely.geometry.shape one by one is ~10x slower)."""
    present = [i for i, g in enumerate(geometries) if g]
    return present, shapely.from_geojson([orjson.dumps(geometries[i]) for i in present]) if present else []


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
