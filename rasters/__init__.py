"""The pixels of a study area, read from the COG/GeoTIFF assets of catalogued STAC Items.

Built on rio-tiler (readers, ``part()``, mosaics, statistics, rendering) over rasterio/GDAL. Nothing here
takes a URL from a request: callers pass Item dicts from the store, and only their asset hrefs are read,
through the href policy (:mod:`rasters.hrefs`) and an optional signer (:mod:`rasters.signers`).

Use::

    from rasters import Area, RasterAccess, RasterSettings, DataAccessError

    access = RasterAccess(RasterSettings.from_env(os.environ))   # once per process
    area = Area.from_item(study_item)          # or Area.from_bbox([w, s, e, n]), Area.from_geojson(geom)
    png, media_type = access.preview(scene_item, area, assets=["red", "green", "blue"])
    cog_bytes = access.clip(scene_item, area, assets=["B04"])
    stats = access.statistics(scene_item, area, expression="(B08-B04)/(B08+B04)")
    value = access.point(scene_item, lon, lat, assets=["dem"])
    rows = access.timeseries(scene_items, area, assets=["B04"], stat="mean"); text = timeseries_csv(rows)
    tif, media_type = access.mosaic(tile_items, area, assets=["dem"], fmt="tif", method="first")

Operations (methods of :class:`RasterAccess`, all thread-safe):

- ``preview(item, area, assets=None, expression=None, fmt="png", max_size=None, rescale=None,
  colormap=None) -> (bytes, media_type)``: PNG/JPEG/WebP of the area in the raster's CRS, masked
  (transparent) outside the polygon, at most ``max_size`` (default ``max_size_default``) pixels a side.
- ``clip(item, area, assets=None, expression=None, dst_crs=None) -> bytes``: a COG at native resolution,
  nodata/masked outside the polygon, tags naming the Item, assets, body and area.
- ``statistics(item, area, assets=None, expression=None, percentiles=(2, 98), histogram_bins=10,
  histogram_range=None) -> dict``: per band count, valid_percent, min, max, mean, std, median,
  percentiles and histogram over the exact area at native resolution (never on overviews: a larger area
  than ``max_pixels`` is refused with 413).
- ``point(item, lon, lat, assets=None, expression=None, body="earth") -> dict``: values per band.
- ``timeseries(items, area, assets=None, expression=None, stat="mean") -> list[dict]`` and
  :func:`timeseries_csv`.
- ``mosaic(items, area, assets=None, expression=None, fmt="tif", method="first", max_size=None,
  rescale=None, colormap=None) -> (bytes, media_type)``.

Assets default to the Item's raster assets with role ``data``; see :mod:`rasters.assets` for expressions.
Areas are on a body (earth, moon, mars, ...); an area never reads a raster of another body
(:mod:`rasters.bodies`). Errors are :class:`DataAccessError` subclasses with ``status``, ``code`` and
``description`` (:mod:`rasters.errors`). Each operation holds one of ``max_concurrent`` slots per process
(:mod:`rasters.gate`), raising :class:`Busy` (503) after ``wait`` seconds.
"""
from __future__ import annotations

from .access import RasterAccess, timeseries_csv
from .area import Area
from .errors import (
                     AreaError,
                     AssetError,
                     Busy,
                     DataAccessError,
                     HrefRefused,
                     NotARaster,
                     ParameterError,
                     TooLarge,
                     UpstreamError,
                     UpstreamTimeout,
)
from .settings import RasterSettings, gdal_options
from .signers import HrefSigner, NoSigner, PlanetaryComputerSigner, load_signer

__all__ = [
    "Area", "AreaError", "AssetError", "Busy", "DataAccessError", "HrefRefused", "HrefSigner", "NoSigner",
    "NotARaster", "ParameterError", "PlanetaryComputerSigner", "RasterAccess", "RasterSettings", "TooLarge",
    "UpstreamError", "UpstreamTimeout", "gdal_options", "load_signer", "timeseries_csv",
]
