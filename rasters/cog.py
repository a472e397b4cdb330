"""Writing an area's pixels as a Cloud-Optimized GeoTIFF, in memory.

GDAL's own ``COG`` driver (via ``rasterio.shutil.copy`` from an in-memory GeoTIFF) makes the file: tiled,
DEFLATE-compressed, with overviews when large enough, and readable by every COG client. rio-cogeo would do
the same through more code and a dependency; GDAL 3.10's driver is enough. Pixels outside the area are
nodata when the raster has a nodata value, otherwise they are masked by an internal mask band. Tags record
where the pixels come from: the Item, its collection, the asset hrefs (query strings removed), the body and
the area as GeoJSON (shortened when long).
"""
from __future__ import annotations

import json
from typing import Any

import numpy
import rasterio
import rasterio.shutil
from rasterio.io import MemoryFile

from .reading import AreaRead

AREA_TAG_LIMIT = 16_000  # characters of GeoJSON kept in the AREA tag; longer areas are simplified/cut


def area_tag(geojson: dict[str, Any]) -> str:
    text = json.dumps(geojson, separators=(",", ":"))
    if len(text) <= AREA_TAG_LIMIT:
        return text
    return text[: AREA_TAG_LIMIT - 12] + "...(cut)"


def _fits(value: float, dtype: numpy.dtype) -> bool:
    """Whether ``value`` is a value of ``dtype`` (a nodata an expression's float output cannot keep)."""
    if numpy.isnan(value):
        return dtype.kind == "f"
    if dtype.kind in "iu":
        info = numpy.iinfo(dtype)
        return value.is_integer() and info.min <= value <= info.max
    return dtype.kind == "f"


def write_cog(read: AreaRead, tags: dict[str, str]) -> bytes:
    """The COG bytes of ``read``; ``tags`` go into the GDAL metadata domain of the file."""
    img = read.image
    data: numpy.ma.MaskedArray = img.array
    count, height, width = data.shape
    dtype = data.dtype
    nodata = img.nodata if img.nodata is not None and _fits(float(img.nodata), dtype) else None
    if dtype == numpy.bool_:
        data, dtype = numpy.ma.MaskedArray(data.astype("uint8")), numpy.dtype("uint8")
    mask = numpy.ma.getmaskarray(data)
    values = numpy.where(mask, nodata, data.data) if nodata is not None else data.data
    profile = {"driver": "GTiff", "width": width, "height": height, "count": count, "dtype": dtype,
               "crs": img.crs, "transform": img.transform, "nodata": nodata, "tiled": True,
               "blockxsize": 512, "blockysize": 512}
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), MemoryFile() as tmp:
        with tmp.open(**profile) as dst:
            dst.write(values.astype(dtype, copy=False))
            if nodata is None:
                dst.write_mask(numpy.where(mask.any(axis=0), 0, 255).astype("uint8"))
            dst.update_tags(**tags)
            for i, name in enumerate(read.bands, start=1):
                dst.set_band_description(i, name)
        with tmp.open() as src, MemoryFile() as out:
            rasterio.shutil.copy(src, out.name, driver="COG", compress="DEFLATE", blocksize=512,
                                 overview_resampling="nearest")
            return bytes(out.read())
