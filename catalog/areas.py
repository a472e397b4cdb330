"""Areas on the body a geometry is on, in km², and the share of one area inside another.

Study geometries are GeoJSON lon/lat polygons whose edges are straight in lon/lat (a box follows its
parallels). The area is geodesic, on the body's ellipsoid (:class:`pyproj.Geod`): WGS84 for Earth, the IAU
2015 Moon sphere and Mars ellipsoid as PROJ carries them (``IAU_2015:30100``, ``IAU_2015:49901``). Before
the geodesic sum each polygon is cut into 60°-wide strips and densified to 0.5° steps, so that long edges
follow lon/lat lines (not the great circles a geodesic polygon would take) and a polygon spanning the globe
is well defined (the whole Earth comes out at 510,065,622 km²).
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import pyproj
import shapely
import shapely.geometry
from shapely.geometry.base import BaseGeometry

STRIP_DEGREES = 60
STEP_DEGREES = 0.5
# The body's ellipsoid, and whether record latitudes on it are planetocentric (then converted to the
# planetographic latitudes pyproj.Geod works in). Earth records are WGS84 geodetic lon/lat.
BODIES: dict[str, tuple[str, bool]] = {
    "earth": ("EPSG:4326", False),        # WGS84
    "moon": ("IAU_2015:30100", True),     # Moon (2015) sphere, r = 1737.4 km
    "mars": ("IAU_2015:49901", True),     # Mars (2015) ellipsoid, a = 3396.19 km, b = 3376.20 km
}


class UnknownBody(ValueError):
    """No ellipsoid is known for the body named."""


@lru_cache(maxsize=8)
def body_geod(body: str) -> tuple[pyproj.Geod, bool]:
    """(Geod, latitudes are planetocentric) of a body (earth, moon, mars)."""
    try:
        code, centric = BODIES[body.lower()]
    except KeyError:
        raise UnknownBody(f"no ellipsoid known for body {body!r} (known: {', '.join(BODIES)})") from None
    return pyproj.CRS.from_user_input(code).get_geod(), centric  # type: ignore[return-value]


def _graphic(shape: BaseGeometry, geod: pyproj.Geod) -> BaseGeometry:
    """Planetocentric latitudes as planetographic ones (identity on a sphere)."""
    if geod.a == geod.b:
        return shape
    factor = (geod.a / geod.b) ** 2

    def convert(coords: Any) -> Any:
        lat = coords[:, 1]
        coords[:, 1] = [math.degrees(math.atan(factor * math.tan(math.radians(v)))) if abs(v) < 90 else v
                        for v in lat]
        return coords

    return shapely.transform(shape, convert)


def shape_area_km2(shape: BaseGeometry, body: str = "earth") -> float:
    """The area of a lon/lat (multi)polygon on the body's ellipsoid, in km²."""
    if shape.is_empty:
        return 0.0
    geod, centric = body_geod(body)
    total = 0.0
    for west in range(-180, 180, STRIP_DEGREES):
        piece = shape.intersection(shapely.geometry.box(west, -90, west + STRIP_DEGREES, 90))
        if piece.is_empty or piece.area == 0:
            continue
        piece = shapely.segmentize(piece, STEP_DEGREES)
        if centric:
            piece = _graphic(piece, geod)
        area, _ = geod.geometry_area_perimeter(piece)
        total += abs(area)
    return total / 1e6


def area_km2(geometry: dict[str, Any] | None, body: str = "earth") -> float | None:
    """The area of a GeoJSON (multi)polygon in km² (None without a geometry), rounded to 0.1 km²."""
    if not geometry:
        return None
    shape = shapely.geometry.shape(geometry)
    if shape.geom_type not in ("Polygon", "MultiPolygon"):
        return 0.0
    return round(shape_area_km2(shape, body), 1)


WHOLE = 0.999  # a study covering this share of its body's area covers the whole body (a global study)


@lru_cache(maxsize=8)
def body_area_km2(body: str = "earth") -> float:
    """The area of the whole body (Earth: 510,065,622 km²)."""
    return shape_area_km2(shapely.geometry.box(-180, -90, 180, 90), body)


def covers_body(area: float | None, body: str = "earth") -> bool:
    """Whether an area (km²) is the whole body's: a global study, about no place in particular."""
    return area is not None and area >= WHOLE * body_area_km2(body)


def share_inside(item: BaseGeometry, query: BaseGeometry, body: str = "earth",
                 item_area_km2: float | None = None) -> float:
    """The share (0..1) of ``item``'s area that lies inside ``query``; a point or line inside counts as 1.

    ``item_area_km2`` saves computing the item's own area when it is known (the stored property)."""
    if item.is_empty or not item.intersects(query):
        return 0.0
    if item.area == 0:  # points and lines: inside or not
        return 1.0
    whole = item_area_km2 if item_area_km2 else shape_area_km2(item, body)
    if whole <= 0:
        return 1.0
    if query.contains(item):
        return 1.0
    inside = shape_area_km2(item.intersection(query), body)
    return min(1.0, inside / whole)
