"""The area whose pixels are read: a lon/lat polygon on a named body, and its shape in a raster's CRS.

Areas come from a study Item's geometry, a bbox or a GeoJSON geometry; all are validated here (polygonal,
non-empty, valid, within ±180/±90, at most ``MAX_VERTICES`` vertices) so operations can trust them.

Antimeridian: RFC 7946 splits geometries that cross 180° into parts at +180 and -180, and a bbox crossing it
has west > east. Each part is densified and projected into the raster CRS on its own and the parts are
then unioned, so a UTM 60N raster sees one contiguous polygon across 180°.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy
import pyproj
import shapely
import shapely.geometry
from rasterio.crs import CRS
from rasterio.errors import CRSError
from rasterio.warp import transform_bounds
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from .bodies import known_body, lonlat_crs, to_pyproj
from .errors import AreaError

MAX_VERTICES = 10_000
DENSIFY_DEGREES = 0.05  # lon/lat edges are straight in degrees, curved in a projection: densify first
WORLD = shapely.geometry.box(-180.0, -90.0, 180.0, 90.0)


def _polygons(geom: BaseGeometry) -> list[shapely.geometry.Polygon]:
    if isinstance(geom, shapely.geometry.Polygon):
        return [geom]
    if isinstance(geom, shapely.geometry.MultiPolygon):
        return list(geom.geoms)
    return [g for part in getattr(geom, "geoms", []) for g in _polygons(part)]


@dataclass(frozen=True)
class Area:
    """A polygon or multipolygon in lon/lat of ``body`` (earth, moon, mars, ...)."""

    geometry: BaseGeometry
    body: str = "earth"

    # -- constructors ---------------------------------------------------------------------------------
    @classmethod
    def from_bbox(cls, bbox: Sequence[float], body: str = "earth") -> Area:
        """``[west, south, east, north]`` (or 3D with heights); west > east crosses the antimeridian."""
        try:
            values = [float(v) for v in bbox]
        except (TypeError, ValueError) as exc:
            raise AreaError("a bbox is four numbers: west, south, east, north") from exc
        if len(values) == 6:
            values = [values[0], values[1], values[3], values[4]]
        if len(values) != 4 or not all(math.isfinite(v) for v in values):
            raise AreaError("a bbox is four numbers: west, south, east, north")
        west, south, east, north = values
        if south >= north:
            raise AreaError(f"the bbox's south ({south:g}) must be less than its north ({north:g})")
        if west == east:
            raise AreaError("the bbox has no width (west equals east)")
        if west > east:
            geom: BaseGeometry = shapely.geometry.MultiPolygon([
                shapely.geometry.box(west, south, 180.0, north), shapely.geometry.box(-180.0, south, east, north)])
        else:
            geom = shapely.geometry.box(west, south, east, north)
        return cls._checked(geom, body)

    @classmethod
    def from_geojson(cls, geometry: dict[str, Any] | None, body: str = "earth") -> Area:
        """A GeoJSON Polygon or MultiPolygon (a Feature's geometry is taken too)."""
        if isinstance(geometry, dict) and geometry.get("type") == "Feature":
            geometry = geometry.get("geometry")
        if not isinstance(geometry, dict) or "type" not in geometry:
            raise AreaError("the area is missing: a GeoJSON Polygon or MultiPolygon is needed")
        try:
            geom = shapely.geometry.shape(geometry)
        except Exception as exc:  # shapely raises several types for malformed GeoJSON
            raise AreaError(f"the area is not valid GeoJSON: {exc}") from exc
        return cls._checked(geom, body)

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Area:
        """A study Item's geometry, on the body of ``geostudies:target`` or ``ssys:targets`` (else Earth)."""
        props = item.get("properties") or {}
        body = props.get("geostudies:target")
        if not body and props.get("ssys:targets"):
            targets = props["ssys:targets"]
            body = targets[0] if isinstance(targets, list) and targets else targets
        if item.get("geometry") is None:
            raise AreaError(f"item {item.get('id')} has no geometry to use as the area")
        return cls.from_geojson(item["geometry"], body=str(body or "earth"))

    @classmethod
    def _checked(cls, geom: BaseGeometry, body: str) -> Area:
        try:
            body = known_body(body)
        except ValueError as exc:
            raise AreaError(str(exc)) from exc
        if geom.is_empty:
            raise AreaError("the area is empty")
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            raise AreaError(f"the area must be a Polygon or MultiPolygon, not a {geom.geom_type}")
        if shapely.get_num_coordinates(geom) > MAX_VERTICES:
            raise AreaError(f"the area has {shapely.get_num_coordinates(geom)} vertices; at most "
                            f"{MAX_VERTICES} are accepted")
        if not geom.is_valid:
            raise AreaError(f"the area is not a valid polygon: {explain_validity(geom)}")
        if not geom.within(WORLD.buffer(1e-9)):
            raise AreaError("the area's coordinates must be longitudes within ±180 and latitudes within ±90")
        if geom.area == 0:
            raise AreaError("the area has no extent")
        return cls(geom, body)

    # -- views ----------------------------------------------------------------------------------------
    def to_geojson(self) -> dict[str, Any]:
        return dict(shapely.geometry.mapping(self.geometry))

    @property
    def crosses_antimeridian(self) -> bool:
        parts = _polygons(self.geometry)
        return any(p.bounds[2] >= 180.0 for p in parts) and any(p.bounds[0] <= -180.0 for p in parts)

    def in_crs(self, crs: CRS, bounds: Sequence[float] | None = None) -> BaseGeometry:
        """The area projected into ``crs`` (of a raster on the same body), clipped near ``bounds``.

        ``bounds`` (the raster's, in ``crs``) lets the area first be cut to the raster's lon/lat footprint
        plus a margin, so far-away parts are never projected (a UTM zone cannot express the other side of
        the globe). Returns an empty geometry when nothing is left.
        """
        src = lonlat_crs(self.body, crs)
        dst = to_pyproj(crs)
        parts = _polygons(self.geometry)
        if bounds is not None:
            footprint = _footprint(crs, bounds, src)
            parts = [g for p in parts for g in _polygons(p.intersection(footprint))]
        if not parts:
            return shapely.geometry.Polygon()
        to_dst = pyproj.Transformer.from_crs(src, dst, always_xy=True)

        def project(coords: numpy.ndarray) -> numpy.ndarray:
            x, y = to_dst.transform(coords[:, 0], coords[:, 1], errcheck=False)
            return numpy.column_stack([x, y])

        projected = []
        for part in parts:
            out = shapely.transform(shapely.segmentize(part, DENSIFY_DEGREES), project)
            if not numpy.isfinite(shapely.get_coordinates(out)).all():
                continue
            if dst.is_geographic and bounds is not None:
                out = _shift_into(out, bounds)
            projected.append(out if out.is_valid else out.buffer(0))
        if not projected:
            return shapely.geometry.Polygon()
        return shapely.union_all(projected)


def _footprint(crs: CRS, bounds: Sequence[float], lonlat: pyproj.CRS) -> BaseGeometry:
    """The raster's lon/lat footprint, with a one-degree margin, as one or two boxes (antimeridian)."""
    try:
        west, south, east, north = transform_bounds(crs, CRS.from_wkt(lonlat.to_wkt()), *bounds, densify_pts=21)
    except (ValueError, RuntimeError, CRSError):  # a CRS PROJ cannot bound: do not clip
        return WORLD
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        return WORLD
    south, north = max(-90.0, south - 1), min(90.0, north + 1)
    if west > east:  # crosses the antimeridian
        return shapely.union_all([shapely.geometry.box(max(-180.0, west - 1), south, 180.0, north),
                                  shapely.geometry.box(-180.0, south, min(180.0, east + 1), north)])
    if east - west >= 358 or west > 180 or east < -180:
        return WORLD
    return shapely.geometry.box(max(-180.0, west - 1), south, min(180.0, east + 1), north)


def _shift_into(geom: BaseGeometry, bounds: Sequence[float]) -> BaseGeometry:
    """For geographic rasters in 0..360 (or shifted) longitudes: the ±360 copy that overlaps them."""
    raster = shapely.geometry.box(*bounds)
    if geom.intersects(raster):
        return geom
    for dx in (360.0, -360.0):
        moved = shapely.affinity.translate(geom, xoff=dx)
        if moved.intersects(raster):
            return moved
    return geom
