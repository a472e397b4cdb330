"""The operations: preview, clip, statistics, point, timeseries and mosaic of Items over an Area.

:class:`RasterAccess` is made once per process from :class:`RasterSettings` (it owns the concurrency gate,
the href probe cache and the signer) and its methods are what routes and the CLI call. Every method takes
catalogued STAC Item dicts, never URLs, runs in one slot of the gate under the GDAL environment of
:func:`rasters.settings.gdal_options`, and raises only :class:`rasters.errors.DataAccessError` subclasses.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy
import pyproj
import rasterio
import shapely.geometry
from rasterio import windows
from rasterio.crs import CRS
from rio_tiler.errors import EmptyMosaicError, PointOutsideBounds, TileOutsideBounds
from rio_tiler.models import ImageData, PointData
from rio_tiler.mosaic import mosaic_reader
from rio_tiler.mosaic.methods import defaults as methods

from . import assets as asset_selection
from .area import Area
from .bodies import lonlat_crs, to_pyproj
from .cog import area_tag, write_cog
from .errors import AreaError, DataAccessError, ParameterError, TooLarge
from .gate import Gate
from .hrefs import HrefPolicy, redact
from .reading import (
    AreaRead,
    Context,
    apply_inside,
    area_in_source,
    check_body,
    check_pixels,
    cutline,
    fit,
    open_sources,
    read_area,
    snapped_window,
)
from .render import image_format, render
from .settings import RasterSettings, gdal_options
from .signers import HrefSigner, load_signer
from .stats import band_statistics
from .translate import upstream_errors

MOSAIC_METHODS: dict[str, Callable[[], Any]] = {
    "first": methods.FirstMethod, "highest": methods.HighestMethod, "lowest": methods.LowestMethod,
    "mean": methods.MeanMethod,
}
COG_MEDIA_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
STATS = ("mean", "min", "max", "median", "std", "count", "valid_percent")


def _item_label(item: dict[str, Any]) -> str:
    return f"{item.get('collection', '')}/{item.get('id', '?')}".lstrip("/")


def _datetime(item: dict[str, Any]) -> str:
    props = item.get("properties") or {}
    return str(props.get("datetime") or props.get("start_datetime") or "")


class RasterAccess:
    """Raster data access for one process. Methods are thread-safe."""

    def __init__(self, settings: RasterSettings | None = None, signer: HrefSigner | None = None) -> None:
        self.settings = settings or RasterSettings()
        self.gate = Gate(self.settings.max_concurrent, self.settings.wait)
        self.ctx = Context(self.settings, HrefPolicy(self.settings), signer or load_signer(self.settings))
        self._gdal = gdal_options(self.settings)

    def _run(self, fn: Callable[[], Any]) -> Any:
        with self.gate.slot(), rasterio.Env(**self._gdal):
            return fn()

    # -- operations -----------------------------------------------------------------------------------
    def preview(self, item: dict[str, Any], area: Area, assets: Sequence[str] | None = None,
                expression: str | None = None, fmt: str = "png", max_size: int | None = None,
                rescale: Sequence[Sequence[float]] | None = None,
                colormap: str | None = None) -> tuple[bytes, str]:
        """(picture bytes, media type): the area's pixels in the raster's CRS, masked outside the polygon
        (transparent in PNG/WebP), downsampled so the longer side is at most ``max_size``."""
        image_format(fmt)
        size = self._max_size(max_size)
        selection = asset_selection.select(item, assets, expression)

        def run() -> tuple[bytes, str]:
            read = read_area(self.ctx, item, area, selection, max_size=size, what="the preview")
            return render(read.image, fmt, rescale, colormap)
        return self._run(run)

    def overlay(self, item: dict[str, Any], area: Area, assets: Sequence[str] | None = None,
                expression: str | None = None, fmt: str = "png", max_size: int | None = None,
                rescale: Sequence[Sequence[float]] | None = None,
                colormap: str | None = None) -> tuple[bytes, str, tuple[float, float, float, float]]:
        """(picture, media type, (west, south, east, north)): a preview warped for a web map, to lay over it.

        On Earth the picture is in Web Mercator (EPSG:3857), so a Leaflet ``imageOverlay`` with the returned
        lon/lat bounds puts every pixel where it belongs; on another body it is in that body's lon/lat
        (for an equirectangular map).
        """
        image_format(fmt)
        size = self._max_size(max_size)
        selection = asset_selection.select(item, assets, expression)

        def run() -> tuple[bytes, str, tuple[float, float, float, float]]:
            with open_sources(self.ctx, item, selection.assets[:1]) as (first,):
                target = (CRS.from_epsg(3857) if area.body == "earth"
                          else CRS.from_wkt(lonlat_crs(area.body, first.crs).to_wkt()))
            read = read_area(self.ctx, item, area, selection, max_size=size, dst_crs=target, what="the overlay")
            west, south, east, north = windows.bounds(windows.Window(0, 0, read.image.width, read.image.height),
                                                      read.image.transform)
            if area.body == "earth":
                to_lonlat = pyproj.Transformer.from_crs(3857, 4326, always_xy=True)
                (west, east), (south, north) = to_lonlat.transform([west, east], [south, north])
            picture, media_type = render(read.image, fmt, rescale, colormap)
            return picture, media_type, (west, south, east, north)
        return self._run(run)

    def clip(self, item: dict[str, Any], area: Area, assets: Sequence[str] | None = None,
             expression: str | None = None, dst_crs: str | None = None) -> bytes:
        """A Cloud-Optimized GeoTIFF of the area at native resolution, masked outside the polygon, in the
        raster's CRS or ``dst_crs``; ``TooLarge`` over ``max_pixels``."""
        selection = asset_selection.select(item, assets, expression)
        crs = self._crs(dst_crs)

        def run() -> bytes:
            read = read_area(self.ctx, item, area, selection, dst_crs=crs, what="the clip")
            return write_cog(read, self._tags([item], area, read.hrefs))
        return self._run(run)

    def statistics(self, item: dict[str, Any], area: Area, assets: Sequence[str] | None = None,
                   expression: str | None = None, percentiles: Sequence[float] = (2, 98),
                   histogram_bins: int = 10, histogram_range: Sequence[float] | None = None) -> dict[str, Any]:
        """Per-band statistics over the exact area at native resolution (``TooLarge`` over ``max_pixels``:
        statistics are never computed on overviews, use a smaller area)."""
        selection = asset_selection.select(item, assets, expression)

        def run() -> dict[str, Any]:
            return self._statistics(item, area, selection, percentiles, histogram_bins, histogram_range)
        return self._run(run)

    def point(self, item: dict[str, Any], lon: float, lat: float, assets: Sequence[str] | None = None,
              expression: str | None = None, body: str = "earth") -> dict[str, Any]:
        """Values per band at (lon, lat) of ``body``; None where nodata or masked."""
        selection = asset_selection.select(item, assets, expression)
        probe = Area.from_bbox([max(-180.0, lon - 1e-9), max(-90.0, lat - 1e-9),
                                min(180.0, lon + 1e-9), min(90.0, lat + 1e-9)], body=body)

        def run() -> dict[str, Any]:
            with open_sources(self.ctx, item, selection.assets) as sources:
                points = []
                for source in sources:
                    check_body(source, probe.body)
                    t = pyproj.Transformer.from_crs(lonlat_crs(probe.body, source.crs), to_pyproj(source.crs),
                                                    always_xy=True)
                    x, y = t.transform(lon, lat)
                    with upstream_errors(source.name):
                        try:
                            points.append(source.reader.point(x, y, coord_crs=source.crs))
                        except PointOutsideBounds as exc:
                            raise AreaError(f"the point ({lon:g}, {lat:g}) is outside asset {source.name}") \
                                from exc
                pt = points[0] if len(points) == 1 else PointData.create_from_list(points)
                counts = [p.count for p in points]
                bands = selection.band_names(counts)
                if expr := selection.band_expression(counts):
                    with upstream_errors(sources[0].name):
                        pt = pt.apply_expression(expr)
                values = {name: (None if bool(numpy.ma.getmaskarray(pt.array)[i]) else float(pt.array.data[i]))
                          for i, name in enumerate(bands)}
                return {"lon": lon, "lat": lat, "body": probe.body, "item": item.get("id"),
                        "collection": item.get("collection"), "values": values,
                        "assets": {s.name: redact(s.href) for s in sources}}
        return self._run(run)

    def timeseries(self, items: Sequence[dict[str, Any]], area: Area, assets: Sequence[str] | None = None,
                   expression: str | None = None, stat: str = "mean") -> list[dict[str, Any]]:
        """One ``stat`` per band for every Item, ordered by datetime then id. A failing Item gets a row
        with ``error`` ({code, description}) instead of values; the series goes on."""
        if stat not in STATS:
            raise ParameterError(f"unknown statistic {stat!r}; use one of {', '.join(STATS)}")
        if len(items) > self.settings.max_timeseries_items:
            raise TooLarge(f"{len(items)} items asked; the cap for a time series is "
                           f"{self.settings.max_timeseries_items}")
        ordered = sorted(items, key=lambda it: (_datetime(it), str(it.get("id", ""))))

        def run() -> list[dict[str, Any]]:
            rows = []
            for item in ordered:
                row: dict[str, Any] = {"datetime": _datetime(item) or None, "item": item.get("id"),
                                       "collection": item.get("collection")}
                try:
                    selection = asset_selection.select(item, assets, expression)
                    stats = self._statistics(item, area, selection, (2, 98), 10, None)["bands"]
                    row["values"] = {band: s[stat] for band, s in stats.items()}
                    row["valid_percent"] = min(s["valid_percent"] for s in stats.values())
                except DataAccessError as exc:
                    row["values"] = {}
                    row["valid_percent"] = None
                    row["error"] = exc.to_dict()
                rows.append(row)
            return rows
        return self._run(run)

    def mosaic(self, items: Sequence[dict[str, Any]], area: Area, assets: Sequence[str] | None = None,
               expression: str | None = None, fmt: str = "tif", method: str = "first",
               max_size: int | None = None, rescale: Sequence[Sequence[float]] | None = None,
               colormap: str | None = None) -> tuple[bytes, str]:
        """(bytes, media type): Items merged over the area, pixel by pixel with ``method`` (first valid by
        default; highest, lowest, mean), on the grid of the first Item's first asset. ``fmt`` "tif" gives a
        native-resolution COG, a picture format a preview of at most ``max_size`` pixels."""
        if method not in MOSAIC_METHODS:
            raise ParameterError(f"unknown mosaic method {method!r}; use one of {', '.join(MOSAIC_METHODS)}")
        as_cog = fmt.lower() in ("tif", "tiff", "cog", "geotiff")
        if not as_cog:
            image_format(fmt)
        if not items:
            raise AreaError("a mosaic needs at least one item")
        if len(items) > self.settings.max_mosaic_items:
            raise TooLarge(f"{len(items)} items asked; the cap for a mosaic is {self.settings.max_mosaic_items}")
        selections = [asset_selection.select(item, assets, expression) for item in items]
        size = None if as_cog else self._max_size(max_size)

        def run() -> tuple[bytes, str]:
            img, inside, bands, geom, hrefs = self._mosaic(items, area, selections, size, method)
            read = AreaRead(img, inside, bands, geom, hrefs, native=size is None)
            if as_cog:
                return write_cog(read, self._tags(items, area, hrefs)), COG_MEDIA_TYPE
            return render(img, fmt, rescale, colormap)
        return self._run(run)

    # -- internals ------------------------------------------------------------------------------------
    def _max_size(self, max_size: int | None) -> int:
        size = self.settings.max_size_default if max_size is None else int(max_size)
        if not 1 <= size <= self.settings.max_size_cap:
            raise ParameterError(f"max_size must be between 1 and {self.settings.max_size_cap}, not {size}")
        return size

    @staticmethod
    def _crs(dst_crs: str | None) -> CRS | None:
        if dst_crs is None:
            return None
        try:
            return CRS.from_user_input(dst_crs)
        except Exception as exc:
            raise ParameterError(f"unknown CRS {dst_crs!r}") from exc

    def _statistics(self, item: dict[str, Any], area: Area, selection: asset_selection.Selection,
                    percentiles: Sequence[float], bins: int, hist_range: Sequence[float] | None) -> dict[str, Any]:
        read = read_area(self.ctx, item, area, selection, what="the statistics")
        return {"item": item.get("id"), "collection": item.get("collection"), "body": area.body,
                "width": read.image.width, "height": read.image.height,
                "area_pixels": int(read.inside.sum()), "assets": read.hrefs,
                "bands": band_statistics(read, percentiles, bins, hist_range)}

    def _tags(self, items: Sequence[dict[str, Any]], area: Area, hrefs: dict[str, str]) -> dict[str, str]:
        return {
            "GEOSTUDIES_ITEMS": json.dumps([_item_label(i) for i in items]),
            "GEOSTUDIES_COLLECTION": str(items[0].get("collection") or ""),
            "GEOSTUDIES_ITEM": str(items[0].get("id") or ""),
            "GEOSTUDIES_ASSETS": json.dumps(hrefs),
            "GEOSTUDIES_BODY": area.body,
            "GEOSTUDIES_AREA": area_tag(area.to_geojson()),
        }

    def _mosaic(self, items: Sequence[dict[str, Any]], area: Area, selections: list[asset_selection.Selection],
                size: int | None, method: str) -> tuple[ImageData, Any, list[str], Any, dict[str, str]]:
        hrefs: dict[str, str] = {}
        # The grid: the first item's first asset, over the whole area (other items may extend past it).
        with open_sources(self.ctx, items[0], selections[0].assets[:1]) as (first,):
            geom = area.in_crs(first.crs, None)
            check_body(first, area.body)
            area_in_source(area, first)  # the first item must overlap: it fixes the grid
            transform0, width0, height0 = first.grid()
            window = snapped_window(geom.bounds, transform0, width0, height0, clip=False)
            bounds = windows.bounds(window, transform0)
            crs = first.crs
            width, height = int(window.width), int(window.height)
        # Every item's body first: FirstMethod may stop before reading the later items.
        for item, selection in zip(items[1:], selections[1:], strict=True):
            with open_sources(self.ctx, item, selection.assets) as sources:
                for source in sources:
                    check_body(source, area.body)
        if size is None:
            check_pixels(self.settings, width, height, "the mosaic")
        else:
            width, height = fit(width, height, size)

        def reader(index: int) -> ImageData:
            item, selection = items[index], selections[index]
            with open_sources(self.ctx, item, selection.assets) as sources:
                overlap = False
                for s in sources:
                    check_body(s, area.body)
                    try:
                        area_in_source(area, s)
                        overlap = True
                    except AreaError:
                        pass
                if not overlap:
                    raise TileOutsideBounds(f"item {item.get('id')} does not overlap the area")
                images = []
                for s in sources:
                    with upstream_errors(s.name):
                        images.append(s.reader.part(bounds, dst_crs=crs, bounds_crs=crs, width=width,
                                                    height=height))
                for s in sources:
                    hrefs[f"{_item_label(item)}:{s.name}"] = redact(s.href)
                img = images[0] if len(images) == 1 else ImageData.create_from_list(images)
                img.band_names = [f"b{i + 1}" for i in range(img.count)]
                counts = [im.count for im in images]
                inside = cutline(geom, img)
                apply_inside(img, inside)
                if expr := selection.band_expression(counts):
                    with upstream_errors(sources[0].name):
                        img = img.apply_expression(expr)
                    img.cutline_mask = ~inside
                img.band_names = selection.band_names(counts)
                return img

        try:
            img, _ = mosaic_reader(list(range(len(items))), reader, pixel_selection=MOSAIC_METHODS[method](),
                                   threads=1)
        except EmptyMosaicError as exc:
            raise AreaError("no item overlaps the area") from exc
        except AssertionError as exc:
            raise ParameterError("all items of a mosaic must have the same number of bands") from exc
        img.crs = crs
        inside = cutline(geom, img)
        apply_inside(img, inside)
        bands = list(img.band_names)
        return img, inside, bands, shapely.geometry.shape(shapely.geometry.mapping(geom)), hrefs


def timeseries_csv(rows: Sequence[dict[str, Any]]) -> str:
    """CSV of :meth:`RasterAccess.timeseries` rows: a header, then one line per Item (errors included)."""
    bands = list(dict.fromkeys(b for row in rows for b in row.get("values", {})))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["datetime", "collection", "item", "valid_percent", *bands, "error_code", "error"])
    for row in rows:
        err = row.get("error") or {}
        values = row.get("values", {})
        writer.writerow([row.get("datetime") or "", row.get("collection") or "", row.get("item") or "",
                         "" if row.get("valid_percent") is None else row["valid_percent"],
                         *["" if values.get(b) is None else values[b] for b in bands],
                         err.get("code", ""), err.get("description", "")])
    return buf.getvalue()
