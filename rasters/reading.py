"""Reading the pixels of an area from the assets of one Item, on one grid, masked outside the polygon.

The first asset fixes the grid: its CRS (or ``dst_crs``) and, at native resolution, its pixel grid snapped
to the area's bounds, so a clip is exactly the raster's own pixels. Other assets are read onto that grid
with rio-tiler's ``part()`` (no resampling when they share it). Only the window the area needs is read;
for a ``max_size`` preview GDAL picks the overview. Pixels outside the polygon (not just its bbox) are
masked with the same rule as rio-tiler's ``feature()``: a pixel is inside when the polygon touches it
(``all_touched``).
"""
from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy
import pyproj
import shapely
import shapely.geometry
from affine import Affine
from rasterio import windows
from rasterio.crs import CRS
from rasterio.features import rasterize
from rasterio.warp import calculate_default_transform
from rio_tiler.errors import NoOverviewWarning
from rio_tiler.io import Reader
from rio_tiler.models import ImageData
from shapely.geometry.base import BaseGeometry

from .area import Area
from .assets import Selection
from .bodies import body_of_crs, semi_major_axis
from .errors import AreaError, NotARaster, TooLarge
from .hrefs import HrefPolicy, redact
from .settings import RasterSettings
from .signers import HrefSigner
from .translate import upstream_errors

SNAP = 1e-6  # window edges within a millionth of a pixel of an integer are that integer


@dataclass
class Context:
    """What every read needs: the settings, the href policy and the signer of this process."""

    settings: RasterSettings
    policy: HrefPolicy
    signer: HrefSigner


@dataclass
class Source:
    """One opened asset."""

    name: str
    href: str
    reader: Reader

    @property
    def crs(self) -> CRS:
        return self.reader.crs

    @property
    def dataset(self) -> Any:
        """The open rasterio dataset (a DatasetReader)."""
        if self.reader.dataset is None:
            raise NotARaster(f"asset {self.name} could not be opened")
        return self.reader.dataset

    def grid(self) -> tuple[Affine, int, int]:
        """(transform, width, height) of the full-resolution raster."""
        ds = self.dataset
        return ds.transform, int(ds.width), int(ds.height)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return tuple(self.reader.bounds)  # type: ignore[return-value]


@dataclass
class AreaRead:
    """Pixels of an area: ``image`` (masked outside the area and where nodata), ``inside`` (the area's
    pixels, True inside), the output ``bands`` names, and what was read."""

    image: ImageData
    inside: numpy.ndarray
    bands: list[str]
    geometry: BaseGeometry
    hrefs: dict[str, str] = field(default_factory=dict)
    native: bool = True


def asset_href(item: dict[str, Any], name: str) -> str:
    return str(item["assets"][name]["href"])


@contextlib.contextmanager
def open_sources(ctx: Context, item: dict[str, Any], names: Sequence[str]) -> Iterator[list[Source]]:
    """Open ``names`` of ``item`` through the signer and the href policy; closes them on exit."""
    with contextlib.ExitStack() as stack:
        sources = []
        for name in names:
            href = asset_href(item, name)
            with upstream_errors(name):
                path = ctx.policy.resolve(ctx.signer.sign(href, item), name)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", NoOverviewWarning)
                    reader = stack.enter_context(Reader(path))
            if reader.crs is None:
                raise NotARaster(f"asset {name} is not a georeferenced raster (it has no CRS)")
            sources.append(Source(name, href, reader))
        yield sources


def check_body(source: Source, body: str) -> None:
    """``AreaError`` unless ``source`` is a raster of ``body``."""
    found = body_of_crs(source.crs)
    if found == body:
        return
    if found is None:
        axis = semi_major_axis(source.crs)
        shown = f"{axis:.0f} m" if axis else "unknown"
        raise AreaError(f"the area is on {body.title()} but asset {source.name} is a raster of no known body "
                        f"(ellipsoid semi-major axis {shown})")
    raise AreaError(f"the area is on {body.title()} but asset {source.name} is a {found.title()} raster")


def snapped_window(bounds: Sequence[float], transform: Affine, width: int, height: int,
                   clip: bool = True) -> windows.Window:
    """The whole-pixel window covering ``bounds`` (outward), inside the raster when ``clip``."""
    w = windows.from_bounds(*bounds, transform=transform)
    (r0, r1), (c0, c1) = w.toranges()
    r0, c0 = math.floor(r0 + SNAP), math.floor(c0 + SNAP)
    r1, c1 = math.ceil(r1 - SNAP), math.ceil(c1 - SNAP)
    if clip:
        r0, c0, r1, c1 = max(r0, 0), max(c0, 0), min(r1, height), min(c1, width)
    return windows.Window(c0, r0, max(c1 - c0, 0), max(r1 - r0, 0))


def area_in_source(area: Area, source: Source) -> BaseGeometry:
    """The part of ``area`` on ``source``, in its CRS; ``AreaError`` when they do not overlap."""
    check_body(source, area.body)
    geom = area.in_crs(source.crs, source.bounds).intersection(shapely.geometry.box(*source.bounds))
    if geom.is_empty or geom.area == 0:
        raise AreaError(f"the area does not overlap asset {source.name}")
    return geom


def project_geometry(geom: BaseGeometry, src: CRS, dst: CRS) -> BaseGeometry:
    """``geom`` from ``src`` to ``dst`` (densified to a thousandth of its size first)."""
    if src == dst:
        return geom
    minx, miny, maxx, maxy = geom.bounds
    step = max(maxx - minx, maxy - miny) / 1000 or 1.0
    t = pyproj.Transformer.from_crs(pyproj.CRS.from_wkt(src.to_wkt()), pyproj.CRS.from_wkt(dst.to_wkt()),
                                    always_xy=True)
    return shapely.transform(shapely.segmentize(geom, step),
                             lambda xy: numpy.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def fit(width: int, height: int, max_size: int) -> tuple[int, int]:
    """(width, height) scaled down to fit ``max_size`` on the longer side, aspect kept."""
    scale = min(1.0, max_size / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def check_pixels(settings: RasterSettings, width: int, height: int, what: str) -> None:
    if width * height > settings.max_pixels:
        raise TooLarge(f"{what} would be {width}×{height} = {width * height:,} pixels at native resolution; "
                       f"the cap is {settings.max_pixels:,} pixels; use a smaller area")


def check_source_work(settings: RasterSettings, source: Source, window: windows.Window,
                      out_w: int, out_h: int) -> None:
    """Refuse a downsampled read that GDAL could only make from far too many full-resolution pixels
    (a raster without overviews coarse enough)."""
    factor = max(window.width / out_w, window.height / out_h)
    levels = [1] + list(source.dataset.overviews(1))
    best = max(lv for lv in levels if lv <= max(factor, 1))
    read = (window.width / best) * (window.height / best)
    if read > 4 * settings.max_pixels:
        raise TooLarge(f"asset {source.name} has no overview coarse enough: the preview would decode "
                       f"{read:,.0f} pixels; the cap is {4 * settings.max_pixels:,}; use a smaller area")


def cutline(geom: BaseGeometry, img: ImageData) -> numpy.ndarray:
    """True where ``geom`` touches a pixel of ``img``'s grid (rio-tiler ``feature()``'s rule)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rasterize([shapely.geometry.mapping(geom)], out_shape=(img.height, img.width),
                         transform=img.transform, all_touched=True, fill=0, default_value=1,
                         dtype="uint8").astype(bool)


def apply_inside(img: ImageData, inside: numpy.ndarray) -> None:
    img.array.mask = numpy.logical_or(numpy.ma.getmaskarray(img.array), ~inside[None, :, :])
    img.cutline_mask = ~inside


def read_area(ctx: Context, item: dict[str, Any], area: Area, selection: Selection, *,
              max_size: int | None = None, dst_crs: CRS | None = None, what: str = "the read") -> AreaRead:
    """The area's pixels from ``selection`` of ``item``: native resolution unless ``max_size``."""
    with open_sources(ctx, item, selection.assets) as sources:
        first = sources[0]
        for source in sources[1:]:
            check_body(source, area.body)
        geom = area_in_source(area, first)
        transform0, width0, height0 = first.grid()
        window = snapped_window(geom.bounds, transform0, width0, height0)
        with upstream_errors(first.name):
            if dst_crs is None or CRS.from_user_input(dst_crs) == first.crs:
                out_geom, crs = geom, first.crs
                bounds = windows.bounds(window, transform0)
                width, height = int(window.width), int(window.height)
            else:
                crs = CRS.from_user_input(dst_crs)
                out_geom = project_geometry(geom, first.crs, crs)
                wb = windows.bounds(window, transform0)
                transform, width, height = calculate_default_transform(
                    first.crs, crs, int(window.width), int(window.height), *wb)
                bounds = out_geom.bounds
                res_x, res_y = transform.a, -transform.e
                width = max(1, math.ceil((bounds[2] - bounds[0]) / res_x))
                height = max(1, math.ceil((bounds[3] - bounds[1]) / res_y))
                bounds = (bounds[0], bounds[3] - height * res_y, bounds[0] + width * res_x, bounds[3])
            if max_size is None:
                check_pixels(ctx.settings, width, height, what)
            else:
                width, height = fit(width, height, max_size)
                check_source_work(ctx.settings, first, window, width, height)
        images = []
        for source in sources:
            with upstream_errors(source.name), warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                images.append(source.reader.part(bounds, dst_crs=crs, bounds_crs=crs, width=width, height=height))
        img = images[0] if len(images) == 1 else ImageData.create_from_list(images)
        img.band_names = [f"b{i + 1}" for i in range(img.count)]  # rio-tiler's names for expressions
        img.crs = crs
        inside = cutline(out_geom, img)
        apply_inside(img, inside)
        counts = [im.count for im in images]
        bands = selection.band_names(counts)
        expression = selection.band_expression(counts)
        if expression:
            with upstream_errors(first.name):
                img = img.apply_expression(expression)
            img.cutline_mask = ~inside
        return AreaRead(img, inside, bands, out_geom, {s.name: redact(s.href) for s in sources},
                        native=max_size is None)
