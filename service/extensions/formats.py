"""Output formats of item searches: ``f=geojson`` (the default), ``f=csv`` and ``f=parquet`` (stac-geoparquet).

A format shapes one page of results, exactly what the same request returns as GeoJSON (``limit`` and
paging tokens apply; the next page is in the ``Link`` header). The files themselves are made by
``catalog.export``, the same code as ``geostudies export``.
"""
from __future__ import annotations

from ..params import SearchParamError
from .base import ITEM_ENDPOINTS, Extension, Param, SearchBuilder

FORMATS = {"geojson": "geojson", "json": "geojson", "csv": "csv", "parquet": "parquet", "geoparquet": "parquet"}


def contribute(builder: SearchBuilder) -> None:
    value = builder.params.get("f")
    if value in (None, ""):
        return
    if not isinstance(value, str) or value.lower() not in FORMATS:
        raise SearchParamError("'f' must be one of geojson (or json), csv, parquet (or geoparquet)")
    builder.output = FORMATS[value.lower()]


EXTENSION = Extension(
    name="formats",
    params=(Param("f", "Response format of this page of results: geojson (default), csv (one row per Item, "
                  "geometry as WKT) or parquet (stac-geoparquet; Items without a geometry are left out and named "
                  "in the Geostudies-Warning header)",
                  {"type": "string", "enum": sorted(FORMATS)}, where=ITEM_ENDPOINTS, post=False),),
    contribute=contribute,
)
