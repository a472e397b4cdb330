"""Which body a raster is of, told from its CRS, and the geographic CRS of each body.

An Earth area must never read a Mars raster (the coordinates would "work" and give nonsense), so every read
compares the area's body with the raster's, detected from the semi-major axis of the raster CRS's ellipsoid.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyproj
from rasterio.crs import CRS

TOLERANCE = 0.01  # planetary rasters use local or mean radii that differ from the IAU value by < 1 %


@dataclass(frozen=True)
class Body:
    name: str
    geographic: str  # authority code of the body's geographic CRS
    radius: float  # semi-major axis, metres


BODIES: dict[str, Body] = {b.name: b for b in (
    Body("earth", "EPSG:4326", 6378137.0),
    Body("moon", "IAU_2015:30100", 1737400.0),
    Body("mars", "IAU_2015:49900", 3396190.0),
    Body("mercury", "IAU_2015:19900", 2440530.0),
    Body("venus", "IAU_2015:29900", 6051800.0),
    Body("io", "IAU_2015:50100", 1821490.0),
    Body("europa", "IAU_2015:50200", 1560800.0),
    Body("ganymede", "IAU_2015:50300", 2631200.0),
    Body("callisto", "IAU_2015:50400", 2410300.0),
    Body("enceladus", "IAU_2015:60200", 252100.0),
    Body("titan", "IAU_2015:60600", 2575000.0),
)}


def known_body(name: str) -> str:
    """``name`` normalised, or ``ValueError`` listing the known bodies."""
    key = name.strip().lower()
    if key not in BODIES:
        raise ValueError(f"unknown body {name!r}; known: {', '.join(BODIES)}")
    return key


def to_pyproj(crs: CRS) -> pyproj.CRS:
    return pyproj.CRS.from_wkt(crs.to_wkt())


def semi_major_axis(crs: CRS) -> float | None:
    ellipsoid = to_pyproj(crs).ellipsoid
    return float(ellipsoid.semi_major_metre) if ellipsoid is not None else None


def body_of_crs(crs: CRS) -> str | None:
    """The body whose radius the CRS's ellipsoid matches within 1 %, or None when none does."""
    axis = semi_major_axis(crs)
    if axis is None:
        return None
    best = min(BODIES.values(), key=lambda b: abs(b.radius - axis) / b.radius)
    return best.name if abs(best.radius - axis) / best.radius <= TOLERANCE else None


def lonlat_crs(body: str, raster_crs: CRS) -> pyproj.CRS:
    """The CRS an area's lon/lat are taken in when read against ``raster_crs``.

    Earth: WGS 84, so PROJ applies the datum shift to the raster's datum. Other bodies: the raster's own
    geographic CRS, because PROJ cannot relate two planetary datums (a Mars raster's "local radius" sphere
    and IAU_2015:49900) and their lon/lat coincide on a sphere anyway.
    """
    if body == "earth":
        return pyproj.CRS.from_user_input(BODIES["earth"].geographic)
    geodetic = to_pyproj(raster_crs).geodetic_crs
    return geodetic if geodetic is not None else pyproj.CRS.from_user_input(BODIES[body].geographic)
