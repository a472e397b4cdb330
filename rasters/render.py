"""Encoding an area's pixels as a PNG, JPEG or WebP picture.

One band is shown grey or through a named colormap (``rio_tiler.colormap.cmap``), three bands as RGB in the
order given. Values are stretched to 0..255 with ``rescale`` (one ``(min, max)`` for all bands or one per
band); without it, non-byte data is stretched per band between its 2nd and 98th percentile over the area,
so a preview is never black. PNG and WebP are transparent outside the area and where there is no data.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy
from rio_tiler.colormap import cmap
from rio_tiler.errors import InvalidColorMapName
from rio_tiler.models import ImageData

from .errors import ParameterError

FORMATS = {"png": ("PNG", "image/png"), "jpeg": ("JPEG", "image/jpeg"), "jpg": ("JPEG", "image/jpeg"),
           "webp": ("WEBP", "image/webp")}


def image_format(fmt: str) -> tuple[str, str]:
    """(GDAL driver, media type) for ``fmt``; ``ParameterError`` when it is not a picture format."""
    key = fmt.lower().lstrip(".")
    if key not in FORMATS:
        raise ParameterError(f"unknown picture format {fmt!r}; use png, jpeg or webp")
    return FORMATS[key]


def auto_range(img: ImageData) -> list[tuple[float, float]]:
    """Per band 2nd..98th percentile of the valid pixels (0..1 when a band has none)."""
    ranges = []
    for band in img.array:
        values = band.compressed()
        if values.size == 0:
            ranges.append((0.0, 1.0))
            continue
        lo, hi = (float(v) for v in numpy.percentile(values, [2, 98]))
        ranges.append((lo, hi if hi > lo else lo + 1))
    return ranges


def render(img: ImageData, fmt: str = "png", rescale: Sequence[Sequence[float]] | None = None,
           colormap: str | None = None) -> tuple[bytes, str]:
    """(bytes, media type) of ``img`` as a picture."""
    driver, media = image_format(fmt)
    if img.count not in (1, 3):
        raise ParameterError(f"a picture shows 1 band (grey or with a colormap) or 3 bands (RGB), not "
                             f"{img.count}; name one or three assets, or use an expression")
    colors = None
    if colormap:
        if img.count != 1:
            raise ParameterError("a colormap applies to one band only")
        try:
            colors = cmap.get(colormap.lower())
        except InvalidColorMapName as exc:
            raise ParameterError(f"unknown colormap {colormap!r}; known: {', '.join(sorted(cmap.list()))}") from exc
    if rescale:
        ranges = [(float(r[0]), float(r[1])) for r in rescale]
        if len(ranges) not in (1, img.count) or any(len(r) != 2 for r in rescale):
            raise ParameterError(f"rescale needs one (min, max) pair or one per band ({img.count})")
        if any(hi <= lo for lo, hi in ranges):
            raise ParameterError("each rescale pair needs min < max")
        img.rescale(in_range=ranges)
    elif img.array.dtype != numpy.uint8:
        img.rescale(in_range=auto_range(img))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        content = img.render(add_mask=driver != "JPEG", img_format=driver, colormap=colors)
    return content, media
