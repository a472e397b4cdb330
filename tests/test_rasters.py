"""rasters: real COGs served by a real loopback range server, checked against direct rasterio reads.

No mocks: every read goes through the href policy, a Range-answering HTTP server and GDAL's /vsicurl/.
The truth for pixel checks is the same window read from the local file with rasterio and masked with
``rasterio.features.geometry_mask`` (``all_touched=True``, the rule rio-tiler's ``feature()`` uses).
"""
from __future__ import annotations

import contextlib
import http.server
import json
import shutil
import socket
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy
import pytest
import rasterio
import shapely.geometry
from rasterio.features import geometry_mask
from rasterio.io import MemoryFile
from rasterio.warp import transform_bounds

from rasters import (
    Area,
    AreaError,
    AssetError,
    Busy,
    HrefRefused,
    NotARaster,
    ParameterError,
    PlanetaryComputerSigner,
    RasterAccess,
    RasterSettings,
    TooLarge,
    UpstreamError,
    UpstreamTimeout,
    gdal_options,
    load_signer,
    timeseries_csv,
)
from rasters.bodies import body_of_crs, to_pyproj
from rasters.reading import snapped_window
from tests.cogbytes import tile_floor
from tests.rangeserver import RangeServer

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "rasters"
pytestmark = [
    pytest.mark.skipif(not (FIXTURES / "manifest.json").is_file(),
                       reason="needs ../shared/fixtures/rasters (real COGs from rio-tiler's fixtures)"),
    # rasterio 1.4's own window/transform arithmetic still uses Affine's ``*``
    pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning"),
]
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
TIMEOUT = 1.0


def manifest() -> dict[str, dict[str, Any]]:
    return {m["file"]: m for m in json.loads((FIXTURES / "manifest.json").read_text())}


@pytest.fixture(scope="session")
def server() -> Iterator[RangeServer]:
    srv = RangeServer(FIXTURES, slow_seconds=TIMEOUT * 3).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def settings(server: RangeServer) -> RasterSettings:
    return RasterSettings(asset_hosts=(server.host,), timeout=TIMEOUT, wait=2.0)


@pytest.fixture(scope="session")
def access(settings: RasterSettings) -> RasterAccess:
    return RasterAccess(settings)


def make_item(server: RangeServer | None, item_id: str, files: dict[str, str], bbox: Sequence[float] | None = None,
              datetime: str = "2020-06-01T00:00:00Z", collection: str = "fixtures",
              raw_hrefs: bool = False) -> dict[str, Any]:
    """A STAC Item whose assets are files of the range server (or raw hrefs)."""
    first = next(iter(files.values())).split("/")[-1]
    bbox = bbox or manifest().get(first, {}).get("bounds_lonlat") or [-180, -90, 180, 90]
    w, s, e, n = bbox
    return {
        "type": "Feature", "stac_version": "1.1.0", "id": item_id, "collection": collection, "bbox": bbox,
        "geometry": shapely.geometry.mapping(shapely.geometry.box(w, s, e, n)) if w < e else None,
        "properties": {"datetime": datetime},
        "assets": {name: {"href": href if raw_hrefs or server is None else server.url(href), "type": COG_TYPE,
                          "roles": ["data"]} for name, href in files.items()},
        "links": [],
    }


@contextlib.contextmanager
def cog(data: bytes) -> Iterator[Any]:
    """Open COG bytes. The MemoryFile is held for as long as the dataset: once it is collected, GDAL's
    in-memory file is gone and reading tiles fails at random."""
    with MemoryFile(data) as memory, memory.open() as dataset:
        yield dataset


def direct(path: Path, geom: Any, masked: bool = True) -> tuple[numpy.ma.MaskedArray, numpy.ndarray, Any]:
    """The truth: the window of ``geom`` (in the raster CRS) read locally, and the inside-area mask."""
    with rasterio.open(path) as src:
        window = snapped_window(geom.bounds, src.transform, src.width, src.height)
        data = src.read(window=window, masked=masked)
        data = numpy.ma.MaskedArray(data, mask=numpy.ma.getmaskarray(data))
        outside = geometry_mask([geom], out_shape=data.shape[1:], transform=src.window_transform(window),
                                all_touched=True)
        return data, ~outside, src.window_transform(window)


def area_in(path: Path, area: Area) -> Any:
    with rasterio.open(path) as src:
        return area.in_crs(src.crs, tuple(src.bounds)).intersection(shapely.geometry.box(*src.bounds))


GREENLAND = {"type": "Polygon",
             "coordinates": [[[-60, 73.4], [-57.5, 73.5], [-57.8, 74.2], [-59.5, 74.3], [-60, 73.4]]]}


# -- settings -------------------------------------------------------------------------------------------
def test_gdal_options_are_accepted_by_rasterio(settings: RasterSettings) -> None:
    opts = gdal_options(settings)
    assert opts["GDAL_DISABLE_READDIR_ON_OPEN"] == "EMPTY_DIR"
    assert opts["GDAL_HTTP_TIMEOUT"] == "1"
    assert opts["GDAL_CACHEMAX"] == settings.gdal_cache_mb * 1024 * 1024  # bytes, see settings.py
    with rasterio.Env(**opts):
        pass


def test_settings_from_env(tmp_path: Path) -> None:
    s = RasterSettings.from_env({"GEOSTUDIES_ASSET_HOSTS": "Example.org, 127.0.0.1:8080",
                                 "GEOSTUDIES_LOCAL_DIRS": str(tmp_path), "GEOSTUDIES_RASTER_MAX_PIXELS": "100",
                                 "GEOSTUDIES_RASTER_TIMEOUT": "2.5"})
    assert s.asset_hosts == ("example.org", "127.0.0.1:8080")
    assert s.local_dirs == (tmp_path.resolve(),)
    assert (s.max_pixels, s.timeout) == (100, 2.5)
    with pytest.raises(ValueError, match="GEOSTUDIES_RASTER_MAX_PIXELS"):
        RasterSettings.from_env({"GEOSTUDIES_RASTER_MAX_PIXELS": "lots"})


# -- areas ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("geometry, message", [
    ({"type": "Point", "coordinates": [0, 0]}, "Polygon or MultiPolygon"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}, "not a valid polygon"),
    ({"type": "Polygon", "coordinates": [[[170, 0], [190, 0], [190, 1], [170, 0]]]}, "±180"),
    ({"type": "Polygon", "coordinates": []}, "empty"),
    (None, "missing"),
])
def test_bad_areas_are_refused(geometry: Any, message: str) -> None:
    with pytest.raises(AreaError, match=message) as err:
        Area.from_geojson(geometry)
    assert err.value.status == 400


def test_area_vertex_cap_and_bbox_rules() -> None:
    ring = [[float(i) / 2000, 0.5 * (i % 2)] for i in range(10_001)] + [[0.0, 0.0]]
    with pytest.raises(AreaError, match="vertices"):
        Area.from_geojson({"type": "Polygon", "coordinates": [ring]})
    with pytest.raises(AreaError, match="south"):
        Area.from_bbox([0, 5, 1, 4])
    crossing = Area.from_bbox([179, 0, -179, 1])
    assert crossing.crosses_antimeridian and crossing.geometry.geom_type == "MultiPolygon"
    with pytest.raises(AreaError, match="unknown body"):
        Area.from_bbox([0, 0, 1, 1], body="pluto")


def test_area_from_item_takes_the_body() -> None:
    item = {"id": "s", "geometry": shapely.geometry.mapping(shapely.geometry.box(0, 0, 1, 1)),
            "properties": {"ssys:targets": ["Mars"]}}
    assert Area.from_item(item).body == "mars"
    item["properties"] = {"geostudies:target": "moon"}
    assert Area.from_item(item).body == "moon"
    item["properties"] = {}
    assert Area.from_item(item).body == "earth"


def test_bodies_are_told_from_the_crs() -> None:
    for name, body in [("cog.tif", "earth"), ("cog_hirise_mars.tif", "mars"), ("cog_nonearth.tif", "europa")]:
        with rasterio.open(FIXTURES / name) as src:
            assert body_of_crs(src.crs) == body


# -- clip and statistics against direct reads -----------------------------------------------------------
def test_clip_equals_a_direct_read(access: RasterAccess, server: RangeServer) -> None:
    item = make_item(server, "greenland", {"band": "cog.tif"})
    area = Area.from_geojson(GREENLAND)
    data = access.clip(item, area)
    truth, inside, transform = direct(FIXTURES / "cog.tif", area_in(FIXTURES / "cog.tif", area))
    with cog(data) as out:
        assert out.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert out.crs == rasterio.open(FIXTURES / "cog.tif").crs
        assert out.transform.almost_equals(transform)
        got = out.read(masked=True)
        tags = out.tags()
    assert got.shape == truth.shape
    assert numpy.array_equal(got.mask[0], ~inside)  # masked outside the polygon, not its bbox
    assert numpy.array_equal(got.data[0][inside], truth.data[0][inside])
    assert 0 < inside.sum() < inside.size
    assert tags["GEOSTUDIES_ITEM"] == "greenland" and tags["GEOSTUDIES_COLLECTION"] == "fixtures"
    assert json.loads(tags["GEOSTUDIES_ASSETS"]) == {"band": server.url("cog.tif")}
    assert tags["GEOSTUDIES_BODY"] == "earth"
    assert shapely.geometry.shape(json.loads(tags["GEOSTUDIES_AREA"])).equals(area.geometry)


def test_clip_honours_nodata(access: RasterAccess, server: RangeServer) -> None:
    item = make_item(server, "int16", {"band": "cog_int16.tif"})
    area = Area.from_geojson(GREENLAND)
    truth, inside, _ = direct(FIXTURES / "cog_int16.tif", area_in(FIXTURES / "cog_int16.tif", area))
    assert truth.mask[0][inside].any(), "the area must contain nodata pixels for this test"
    with cog(access.clip(item, area)) as out:
        assert out.nodata == -32768
        got = out.read(masked=True)
    assert numpy.array_equal(got.mask[0], truth.mask[0] | ~inside)
    valid = ~got.mask[0]
    assert numpy.array_equal(got.data[0][valid], truth.data[0][valid])
    assert (got.data[0][~inside] == -32768).all()


def test_clip_pixel_cap(server: RangeServer, settings: RasterSettings) -> None:
    small = RasterAccess(RasterSettings(asset_hosts=settings.asset_hosts, max_pixels=1000, timeout=TIMEOUT))
    with pytest.raises(TooLarge, match="1,000") as err:
        small.clip(make_item(server, "g", {"band": "cog.tif"}), Area.from_geojson(GREENLAND))
    assert err.value.status == 413
    with pytest.raises(TooLarge, match="1,000"):
        small.statistics(make_item(server, "g", {"band": "cog.tif"}), Area.from_geojson(GREENLAND))


def test_clip_to_another_crs(access: RasterAccess, server: RangeServer) -> None:
    item = make_item(server, "greenland", {"band": "cog.tif"})
    with cog(access.clip(item, Area.from_geojson(GREENLAND), dst_crs="EPSG:3413")) as out:
        assert out.crs.to_epsg() == 3413
        assert out.read(masked=True).count() > 0


def numpy_stats(values: numpy.ndarray) -> dict[str, float]:
    return {"count": values.size, "min": values.min(), "max": values.max(), "mean": values.mean(),
            "std": values.std(), "median": numpy.percentile(values, 50, method="inverted_cdf"),
            "percentile_2": numpy.percentile(values, 2, method="inverted_cdf"),
            "percentile_98": numpy.percentile(values, 98, method="inverted_cdf")}


@pytest.mark.parametrize("name", ["cog.tif", "cog_int16.tif"])
def test_statistics_equal_numpy(access: RasterAccess, server: RangeServer, name: str) -> None:
    item = make_item(server, "s", {"band": name})
    area = Area.from_geojson(GREENLAND)
    result = access.statistics(item, area, histogram_bins=7)
    truth, inside, _ = direct(FIXTURES / name, area_in(FIXTURES / name, area))
    values = truth.data[0][inside & ~truth.mask[0]].astype("float64")
    band = result["bands"]["band"]
    for key, expected in numpy_stats(values).items():
        assert band[key] == pytest.approx(float(expected), rel=1e-9), key
    counts, edges = numpy.histogram(values, bins=7)
    assert band["histogram"]["counts"] == counts.tolist()
    assert band["histogram"]["edges"] == pytest.approx(edges.tolist())
    assert band["valid_percent"] == round(100 * values.size / inside.sum(), 2)
    assert result["area_pixels"] == inside.sum()
    if name == "cog_int16.tif":
        assert band["nodata"] == -32768 and band["valid_percent"] < 100


def test_statistics_of_an_expression(access: RasterAccess, server: RangeServer) -> None:
    item = make_item(server, "scene", {"red": "scene_band1.tif", "nir": "scene_band2.tif"})
    area = Area.from_bbox([-11.8, 24.5, -11.2, 25.0])
    by_band = access.statistics(item, area, assets=["red", "nir"], expression="(b2-b1)/(b2+b1)")
    by_name = access.statistics(item, area, expression="(nir-red)/(nir+red)")
    geom = area_in(FIXTURES / "scene_band1.tif", area)
    red, inside, _ = direct(FIXTURES / "scene_band1.tif", geom)
    nir, _, _ = direct(FIXTURES / "scene_band2.tif", geom)
    ok = inside & ~red.mask[0] & ~nir.mask[0]
    r, n = red.data[0][ok].astype("float64"), nir.data[0][ok].astype("float64")
    ndvi = (n - r) / (n + r)
    for result, key in [(by_band, "(b2-b1)/(b2+b1)"), (by_name, "(nir-red)/(nir+red)")]:
        band = result["bands"][key]
        assert band["count"] == ndvi.size
        assert band["mean"] == pytest.approx(ndvi.mean(), rel=1e-5)
        assert band["min"] == pytest.approx(ndvi.min(), rel=1e-5)


# -- antimeridian ---------------------------------------------------------------------------------------
def test_antimeridian_bbox_and_split_study_area(access: RasterAccess, server: RangeServer) -> None:
    item = make_item(server, "aleutians", {"band": "cog_dateline.tif"})
    bbox_area = Area.from_bbox([179.5, 51.0, -179.4, 52.0])
    study = {"type": "Feature", "id": "study", "properties": {}, "geometry": {
        "type": "MultiPolygon", "coordinates": [
            [[[179.5, 51.0], [180.0, 51.0], [180.0, 52.0], [179.5, 52.0], [179.5, 51.0]]],
            [[[-180.0, 51.0], [-179.4, 51.0], [-179.4, 52.0], [-180.0, 52.0], [-180.0, 51.0]]]]}}
    study_area = Area.from_item(study)
    assert bbox_area.crosses_antimeridian and study_area.crosses_antimeridian
    path = FIXTURES / "cog_dateline.tif"
    with rasterio.open(path) as src:
        east_x, _ = rasterio.warp.transform("EPSG:4326", src.crs, [-179.6], [51.5])
        west_x, _ = rasterio.warp.transform("EPSG:4326", src.crs, [179.6], [51.5])
    for area in (bbox_area, study_area):
        data = access.clip(item, area)
        truth, inside, _ = direct(path, area_in(path, area))
        with cog(data) as out:
            got = out.read(masked=True)
            left, _, right, _ = out.bounds
        assert left < west_x[0] < east_x[0] < right  # both sides of 180° are in one raster
        assert numpy.array_equal(got.mask[0], ~inside)
        assert numpy.array_equal(got.data[0][inside], truth.data[0][inside])
    # the split study polygon is the same area as the bbox: the same pixels
    a = access.statistics(item, bbox_area)["bands"]["band"]
    b = access.statistics(item, study_area)["bands"]["band"]
    assert a["count"] == b["count"] and a["mean"] == pytest.approx(b["mean"])


def test_area_projection_matches_rasterio_transform_geom() -> None:
    area = Area.from_geojson(GREENLAND)
    with rasterio.open(FIXTURES / "cog.tif") as src:
        mine = area.in_crs(src.crs)
        dense = shapely.segmentize(area.geometry, 0.05)
        theirs = shapely.geometry.shape(rasterio.warp.transform_geom("EPSG:4326", src.crs,
                                                                     shapely.geometry.mapping(dense)))
    assert mine.symmetric_difference(theirs).area < 1e-6 * mine.area


# -- preview --------------------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_rgb_preview_is_transparent_outside_the_area(access: RasterAccess, server: RangeServer) -> None:
    item = make_item(server, "carolina", {"red": "red.tif", "green": "green.tif", "blue": "blue.tif"})
    triangle = {"type": "Polygon", "coordinates": [[[-80.8, 32.5], [-79.2, 32.5], [-80.0, 33.9], [-80.8, 32.5]]]}
    content, media = access.preview(item, Area.from_geojson(triangle), assets=["red", "green", "blue"],
                                    max_size=128)
    assert media == "image/png" and content.startswith(b"\x89PNG")
    with MemoryFile(content) as mem, mem.open() as png:
        assert png.count == 4 and max(png.width, png.height) <= 128
        rgba = png.read()
    alpha = rgba[3]
    h, w = alpha.shape
    assert alpha[0, 0] == 0 and alpha[0, w - 1] == 0  # top corners: outside the triangle
    assert alpha[int(h * 0.7), w // 2] == 255  # inside it
    assert rgba[:3, int(h * 0.7), w // 2].std() >= 0 and rgba[:3][:, alpha == 255].max() > 0
    jpeg, media = access.preview(item, Area.from_geojson(triangle), assets=["red", "green", "blue"], fmt="jpeg")
    assert media == "image/jpeg" and jpeg.startswith(b"\xff\xd8")


def test_preview_options(access: RasterAccess, server: RangeServer) -> None:
    item = make_item(server, "g", {"band": "cog.tif"})
    area = Area.from_geojson(GREENLAND)
    content, media = access.preview(item, area, fmt="webp", rescale=[(2000, 8000)], colormap="viridis")
    assert media == "image/webp" and content[8:12] == b"WEBP"
    with pytest.raises(ParameterError, match="colormap"):
        access.preview(item, area, colormap="no-such-map")
    with pytest.raises(ParameterError, match="max_size"):
        access.preview(item, area, max_size=100_000)
    with pytest.raises(ParameterError, match="format"):
        access.preview(item, area, fmt="gif")
    with pytest.raises(ParameterError, match="expression"):
        access.preview(item, area, expression="__import__('os')")


# -- other bodies ---------------------------------------------------------------------------------------
def mars_area() -> Area:
    with rasterio.open(FIXTURES / "cog_hirise_mars.tif") as src:
        lonlat = to_pyproj(src.crs).geodetic_crs
        w, s, e, n = transform_bounds(src.crs, rasterio.crs.CRS.from_wkt(lonlat.to_wkt()), *src.bounds)
    dx, dy = (e - w) / 4, (n - s) / 4
    return Area.from_geojson({"type": "Polygon", "coordinates": [[
        [w + dx, s + dy], [e - dx, s + dy], [w + 2 * dx, n - dy], [w + dx, s + dy]]]}, body="mars")


def test_mars_clip_and_statistics(access: RasterAccess, server: RangeServer) -> None:
    item = make_item(server, "hirise", {"image": "cog_hirise_mars.tif"}, bbox=[-180, -90, 180, 90])
    area = mars_area()
    path = FIXTURES / "cog_hirise_mars.tif"
    truth, inside, _ = direct(path, area_in(path, area))
    with cog(access.clip(item, area)) as out:
        got = out.read(masked=True)
        assert body_of_crs(out.crs) == "mars"
        assert out.tags()["GEOSTUDIES_BODY"] == "mars"
    assert got.shape == truth.shape and got.shape[0] == 3
    assert numpy.array_equal(got.mask[0], ~inside)
    assert numpy.array_equal(got.data[:, inside], truth.data[:, inside])
    stats = access.statistics(item, area)
    assert list(stats["bands"]) == ["image_b1", "image_b2", "image_b3"]
    assert stats["bands"]["image_b1"]["count"] == inside.sum()
    assert stats["bands"]["image_b2"]["mean"] == pytest.approx(truth.data[1][inside].mean())


def test_an_area_never_reads_another_body(access: RasterAccess, server: RangeServer) -> None:
    mars = make_item(server, "hirise", {"image": "cog_hirise_mars.tif"}, bbox=[-180, -90, 180, 90])
    earth_area = Area.from_geojson(mars_area().to_geojson(), body="earth")
    with pytest.raises(AreaError, match="on Earth but asset image is a Mars raster") as err:
        access.statistics(mars, earth_area)
    assert err.value.status == 400
    with pytest.raises(AreaError, match="on Mars but asset band is a Earth raster|on Mars .* Earth"):
        access.clip(make_item(server, "g", {"band": "cog.tif"}), Area.from_geojson(GREENLAND, body="mars"))
    europa = make_item(server, "europa", {"band": "cog_nonearth.tif"}, bbox=[-180, -90, 180, 90])
    with pytest.raises(AreaError, match="Europa raster"):
        access.point(europa, 0, 0, body="mars")


def test_area_outside_the_raster(access: RasterAccess, server: RangeServer) -> None:
    with pytest.raises(AreaError, match="does not overlap asset band"):
        access.clip(make_item(server, "g", {"band": "cog.tif"}), Area.from_bbox([10, 10, 11, 11]))


# -- mosaic ---------------------------------------------------------------------------------------------
def test_mosaic_first_valid(access: RasterAccess, server: RangeServer) -> None:
    a = make_item(server, "a-int16", {"band": "cog_int16.tif"})
    b = make_item(server, "b-uint16", {"band": "cog.tif"})
    area = Area.from_geojson(GREENLAND)
    data, media = access.mosaic([a, b], area, fmt="tif")
    assert media.startswith("image/tiff")
    geom = area_in(FIXTURES / "cog.tif", area)
    ta, inside, _ = direct(FIXTURES / "cog_int16.tif", geom)
    tb, _, _ = direct(FIXTURES / "cog.tif", geom)
    expected = numpy.where(ta.mask[0], tb.data[0], ta.data[0])
    with cog(data) as out:
        got = out.read(1, masked=True)
        assert json.loads(out.tags()["GEOSTUDIES_ITEMS"]) == ["fixtures/a-int16", "fixtures/b-uint16"]
    assert ta.mask[0][inside].any() and (~ta.mask[0][inside]).any()  # both items contribute
    assert numpy.array_equal(got.mask, ~inside)
    assert numpy.array_equal(got.data[inside], expected[inside])
    highest, _ = access.mosaic([a, b], area, fmt="tif", method="highest")
    with cog(highest) as out:
        top = out.read(1, masked=True)
    assert numpy.array_equal(top.data[inside], numpy.maximum(ta.filled(-32768)[0], tb.data[0])[inside])
    png, media = access.mosaic([a, b], area, fmt="png", max_size=64)
    assert media == "image/png" and png.startswith(b"\x89PNG")


def test_mosaic_limits_and_bodies(server: RangeServer, settings: RasterSettings, access: RasterAccess) -> None:
    items = [make_item(server, f"i{i}", {"band": "cog.tif"}) for i in range(3)]
    capped = RasterAccess(RasterSettings(asset_hosts=settings.asset_hosts, max_mosaic_items=2, timeout=TIMEOUT))
    with pytest.raises(TooLarge, match="cap for a mosaic is 2") as err:
        capped.mosaic(items, Area.from_geojson(GREENLAND))
    assert err.value.status == 413
    mars = make_item(server, "hirise", {"image": "cog_hirise_mars.tif"}, bbox=[-180, -90, 180, 90])
    with pytest.raises(AreaError, match="Mars raster"):
        access.mosaic([items[0], mars], Area.from_geojson(GREENLAND))
    with pytest.raises(ParameterError, match="method"):
        access.mosaic(items[:1], Area.from_geojson(GREENLAND), method="loudest")


# -- point and time series ------------------------------------------------------------------------------
def test_point_values(access: RasterAccess, server: RangeServer) -> None:
    item = make_item(server, "p", {"band": "cog_int16.tif"})
    with rasterio.open(FIXTURES / "cog_int16.tif") as src:
        full = src.read(1, masked=True)
        rows, cols = numpy.nonzero(~full.mask)
        nrows, ncols = numpy.nonzero(full.mask)
        to_lonlat = rasterio.warp.transform
        r, c = rows[len(rows) // 2], cols[len(cols) // 2]
        x, y = src.xy(r, c)
        (lon,), (lat,) = to_lonlat(src.crs, "EPSG:4326", [x], [y])
        nx, ny = src.xy(nrows[len(nrows) // 2], ncols[len(ncols) // 2])
        (nlon,), (nlat,) = to_lonlat(src.crs, "EPSG:4326", [nx], [ny])
        expected = float(full[r, c])
    assert access.point(item, lon, lat)["values"] == {"band": expected}
    assert access.point(item, nlon, nlat)["values"] == {"band": None}  # nodata
    with pytest.raises(AreaError, match="outside asset band"):
        access.point(item, 10.0, 10.0)


def test_timeseries_ordered_with_an_error_row(access: RasterAccess, server: RangeServer) -> None:
    area = Area.from_geojson(GREENLAND)
    items = [make_item(server, "late", {"band": "cog.tif"}, datetime="2021-03-01T00:00:00Z"),
             make_item(server, "early", {"band": "cog_int16.tif"}, datetime="2019-03-01T00:00:00Z"),
             make_item(server, "broken", {"band": "404/cog.tif"}, datetime="2020-03-01T00:00:00Z")]
    rows = access.timeseries(items, area, stat="mean")
    assert [r["item"] for r in rows] == ["early", "broken", "late"]
    assert rows[1]["error"]["code"] == "UpstreamError" and "404" in rows[1]["error"]["description"]
    assert rows[2]["values"]["band"] == pytest.approx(access.statistics(items[0], area)["bands"]["band"]["mean"])
    assert rows[0]["valid_percent"] < 100 and rows[2]["valid_percent"] == 100
    lines = timeseries_csv(rows).strip().split("\n")
    assert lines[0] == "datetime,collection,item,valid_percent,band,error_code,error"
    assert len(lines) == 4 and lines[2].startswith("2020-03-01T00:00:00Z,fixtures,broken,,,UpstreamError,")


# -- failures and the href policy -----------------------------------------------------------------------
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_one(access: RasterAccess, item: dict[str, Any]) -> dict[str, Any]:
    return access.statistics(item, Area.from_geojson(GREENLAND))


@pytest.mark.parametrize("path, error, status, text", [
    ("404/cog.tif", UpstreamError, 502, "asset band: .* HTTP 404"),
    ("403/cog.tif", UpstreamError, 502, "asset band: .* HTTP 403"),
    ("slow/cog.tif", UpstreamTimeout, 504, "did not answer"),
    ("truncated/cog.tif", NotARaster, 502, "asset band is not a readable raster"),
    ("html/cog.tif", NotARaster, 502, "asset band is not a readable raster"),
    ("redirect-host/cog.tif", HrefRefused, 403, "host localhost:[0-9]+ is not allowed.*GEOSTUDIES_ASSET_HOSTS"),
])
def test_upstream_failures(access: RasterAccess, server: RangeServer, path: str, error: type, status: int,
                           text: str) -> None:
    with pytest.raises(error, match=text) as err:
        read_one(access, make_item(server, "x", {"band": path}))
    assert err.value.status == status


def test_unreachable_host() -> None:
    port = closed_port()
    access = RasterAccess(RasterSettings(asset_hosts=(f"127.0.0.1:{port}",), timeout=TIMEOUT))
    item = make_item(None, "x", {"band": f"http://127.0.0.1:{port}/cog.tif"}, raw_hrefs=True,
                     bbox=[-61, 72, -52, 75])
    with pytest.raises(UpstreamError, match="cannot reach host") as err:
        read_one(access, item)
    assert err.value.status == 502


def test_redirect_to_an_allowed_path_works(access: RasterAccess, server: RangeServer) -> None:
    direct_stats = read_one(access, make_item(server, "x", {"band": "cog.tif"}))["bands"]["band"]
    redirected = read_one(access, make_item(server, "x", {"band": "redirect/cog.tif"}))["bands"]["band"]
    assert redirected == direct_stats


@pytest.mark.parametrize("href, text", [
    ("ftp://example.org/a.tif", "scheme 'ftp'"),
    ("s3://bucket/a.tif", "scheme 's3'"),
    ("/vsicurl/https://example.org/a.tif", "virtual file system"),
    ("file:///etc/passwd.tif", "local file hrefs are not read"),
    ("relative/a.tif", "relative"),
    ("http://user:pw@example.org/a.tif", "user info"),
])
def test_refused_hrefs(access: RasterAccess, href: str, text: str) -> None:
    item = make_item(None, "x", {"band": href}, raw_hrefs=True, bbox=[-61, 72, -52, 75])
    with pytest.raises(HrefRefused, match=text) as err:
        read_one(access, item)
    assert err.value.status == 403


def test_loopback_is_refused_without_the_allowlist(server: RangeServer) -> None:
    open_access = RasterAccess(RasterSettings(timeout=TIMEOUT))
    with pytest.raises(HrefRefused, match="non-public address 127.0.0.1.*GEOSTUDIES_ASSET_HOSTS"):
        read_one(open_access, make_item(server, "x", {"band": "cog.tif"}))
    item = make_item(None, "x", {"band": "http://[::1]:9/a.tif"}, raw_hrefs=True,
                     bbox=[-61, 72, -52, 75])
    with pytest.raises(HrefRefused, match="non-public address ::1"):
        read_one(open_access, item)


def test_local_dirs(tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    shutil.copy(FIXTURES / "cog.tif", allowed / "cog.tif")
    shutil.copy(FIXTURES / "cog.tif", tmp_path / "secret.tif")
    (allowed / "link.tif").symlink_to(tmp_path / "secret.tif")
    access = RasterAccess(RasterSettings(local_dirs=(allowed,), timeout=TIMEOUT))
    bbox = [-61, 72, -52, 75]
    ok = read_one(access, make_item(None, "x", {"band": (allowed / "cog.tif").as_uri()}, raw_hrefs=True,
                                    bbox=bbox))
    assert ok["bands"]["band"]["count"] > 0
    plain = read_one(access, make_item(None, "x", {"band": str(allowed / "cog.tif")}, raw_hrefs=True,
                                       bbox=bbox))
    assert plain["bands"] == ok["bands"]
    for escape in (f"{allowed}/../secret.tif", f"file://{allowed}/../secret.tif", str(allowed / "link.tif")):
        with pytest.raises(HrefRefused, match="outside the directories"):
            read_one(access, make_item(None, "x", {"band": escape}, raw_hrefs=True, bbox=bbox))


def test_assets_must_exist_and_be_rasters(access: RasterAccess, server: RangeServer) -> None:
    item = make_item(server, "x", {"band": "cog.tif"})
    item["assets"]["meta"] = {"href": server.url("cog.json"), "type": "application/json", "roles": ["metadata"]}
    with pytest.raises(AssetError, match="no asset 'nope'") as err:
        access.statistics(item, Area.from_geojson(GREENLAND), assets=["nope"])
    assert err.value.status == 404
    with pytest.raises(AssetError, match="not a GeoTIFF") as err:
        access.statistics(item, Area.from_geojson(GREENLAND), assets=["meta"])
    assert err.value.status == 400
    assert access.statistics(item, Area.from_geojson(GREENLAND))["assets"] == {"band": server.url("cog.tif")}


# -- bounded work ---------------------------------------------------------------------------------------
def test_busy_when_the_slots_are_taken(server: RangeServer, settings: RasterSettings) -> None:
    access = RasterAccess(RasterSettings(asset_hosts=settings.asset_hosts, max_concurrent=1, wait=0.2,
                                         timeout=TIMEOUT))
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with access.gate.slot():
            held.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(5)
        with pytest.raises(Busy) as err:
            read_one(access, make_item(server, "x", {"band": "cog.tif"}))
        assert err.value.status == 503 and err.value.retry_after >= 1
    finally:
        release.set()
        thread.join()
    assert read_one(access, make_item(server, "x", {"band": "cog.tif"}))["bands"]["band"]["count"] > 0


# -- signers --------------------------------------------------------------------------------------------
class TokenHandler(http.server.BaseHTTPRequestHandler):
    """Imitates the Planetary Computer SAS token endpoint: /api/sas/v1/token/{collection}."""

    calls: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        TokenHandler.calls.append(self.path)
        body = json.dumps({"msft:expiry": "2999-01-01T00:00:00Z", "token": "st=2024&sig=abc%3D"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_planetary_computer_signer_against_a_local_token_service() -> None:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), TokenHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{httpd.server_address[1]}/api/sas/v1/token"
        signer = load_signer(RasterSettings(signer="planetary-computer", signer_url=base))
        assert isinstance(signer, PlanetaryComputerSigner)
        item = {"id": "s2", "collection": "sentinel-2-l2a"}
        href = "https://account.blob.core.windows.net/container/B04.tif"
        assert signer.sign(href, item) == href + "?st=2024&sig=abc%3D"
        assert signer.sign(href, item) == href + "?st=2024&sig=abc%3D"
        assert TokenHandler.calls == ["/api/sas/v1/token/sentinel-2-l2a"]  # the token is reused
        assert signer.sign("https://example.org/a.tif", item) == "https://example.org/a.tif"
    finally:
        httpd.shutdown()
        httpd.server_close()
    with pytest.raises(ValueError, match="unknown href signer"):
        load_signer(RasterSettings(signer="nobody"))


def test_a_signed_href_is_read_with_its_query(server: RangeServer, settings: RasterSettings) -> None:
    class QuerySigner:
        def sign(self, href: str, item: dict[str, Any]) -> str:
            return href.replace("/unsigned/", "/") + "?token=secret"

    access = RasterAccess(settings, signer=QuerySigner())
    result = read_one(access, make_item(server, "x", {"band": "unsigned/cog.tif"}))
    assert result["bands"]["band"]["count"] > 0
    assert result["assets"] == {"band": server.url("unsigned/cog.tif")}
    with pytest.raises(UpstreamError) as err:
        read_one(access, make_item(server, "x", {"band": "unsigned/404/cog.tif"}))
    assert "secret" not in err.value.description  # tokens never reach messages


# -- bytes read -----------------------------------------------------------------------------------------
def test_a_cold_clip_fetches_at_most_twice_the_tile_floor(access: RasterAccess, server: RangeServer) -> None:
    for bbox in ([10.0, 45.0, 11.0, 46.0], [100.2, 30.3, 101.2, 31.3]):
        area = Area.from_bbox(bbox)
        path = f"fresh/{uuid.uuid4().hex}/cog_world.tif"  # a URL GDAL has never seen: a cold read
        server.reset()
        data = access.clip(make_item(server, "world", {"mask": path}), area)
        fetched = server.bytes()
        floor = sum(tile_floor(FIXTURES / "cog_world.tif", bbox))
        with cog(data) as out:
            assert out.width == 100 and out.height == 100
        assert fetched <= 2 * floor, f"{fetched} bytes fetched for a floor of {floor}"
        assert server.requests() <= 5


def test_overlay_is_web_mercator_with_lonlat_bounds(access: RasterAccess, server: RangeServer) -> None:
    item = make_item(server, "greenland", {"band": "cog.tif"})
    area = Area.from_geojson(GREENLAND)
    picture, media_type, (west, south, east, north) = access.overlay(item, area, max_size=256)
    assert media_type == "image/png"
    # The overlay covers the area's lon/lat box (whole output pixels, so a fraction of one more at most).
    minx, miny, maxx, maxy = shapely.geometry.shape(GREENLAND).bounds
    eps = 1e-9
    assert west <= minx + eps and south <= miny + eps and east >= maxx - eps and north >= maxy - eps
    assert east - west < (maxx - minx) * 1.05 and north - south < (maxy - miny) * 1.05
    with cog(picture) as png:
        assert max(png.width, png.height) == 256 and png.count == 2  # grey + alpha
