"""Data access through the service and the CLI: real COGs served with Range requests by a loopback server,
Items loaded with ``geostudies load``, the routes in-process and through gunicorn, ``geostudies data``.

The fixture rasters are rio-tiler's test COGs (``../shared/fixtures/rasters``); their pixel values are not
data of any study. The test studies are drawn over them on purpose.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy
import orjson
import pytest
import rasterio
import yaml
from flask.testing import FlaskClient
from rasterio.io import MemoryFile

from catalog.build import build
from catalog.store import open_store
from rasters import Area, RasterSettings
from service.app import create_app
from service.config import ServiceConfig

from .conftest import REPO, SMALL_RECORDS, needs_browser, needs_shared, start_server, stop_server
from .rangeserver import RangeServer
from .test_rasters import FIXTURES, GREENLAND, area_in, direct, mars_area, numpy_stats

pytestmark = needs_shared
ARTIFACTS = REPO / "artifacts" / "screenshots"
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
ALEUTIANS = {"type": "MultiPolygon", "coordinates": [
    [[[179.5, 51.0], [180.0, 51.0], [180.0, 52.0], [179.5, 52.0], [179.5, 51.0]]],
    [[[-180.0, 51.0], [-179.4, 51.0], [-179.4, 52.0], [-180.0, 52.0], [-180.0, 51.0]]]]}


def study_record(study_id: str, geometry: dict[str, Any], target: str = "earth") -> dict[str, Any]:
    return {"id": study_id, "title": {"en": f"Fixture study {study_id}", "zh": "测试研究"}, "journal": "Test Journal",
            "published": "2025-01-01", "doi": None, "keywords": ["test"], "disciplines": ["remote-sensing"],
            "summary": {"en": "A study area drawn over a test raster.", "zh": "测试。"}, "target": target,
            "time_span": {"start": "2020-01-01", "end": "2021-12-31"}, "geologic_time": None,
            "flags": ["doi: test record"],
            "study_area": {"scope": "region", "places": ["test"], "note": "Drawn over a fixture raster.",
                           "geometry": geometry},
            "datasets": [{"name": "Test rasters", "kind": "other", "use": "tests"}]}


def scene(server: RangeServer, item_id: str, files: dict[str, str], studies: list[str], datetime: str,
          target: str | None = None) -> dict[str, Any]:
    bounds = {m["file"]: m for m in orjson.loads((FIXTURES / "manifest.json").read_bytes())}
    first = bounds[next(iter(files.values())).split("/")[-1]]
    w, s, e, n = first.get("bounds_lonlat") or [-180, -90, 180, 90]
    geometry = None if w > e else {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}
    props: dict[str, Any] = {"datetime": datetime, "geostudies:studies": studies, "title": f"Fixture {item_id}"}
    if target:
        props["geostudies:target"] = target
    return {"type": "Feature", "stac_version": "1.1.0", "id": item_id, "geometry": geometry,
            **({"bbox": [w, s, e, n]} if geometry else {}), "properties": props, "links": [],
            "assets": {name: {"href": server.url(path), "type": COG_TYPE, "roles": ["data"]}
                       for name, path in files.items()}}


@pytest.fixture(scope="module")
def rangeserver() -> Iterator[RangeServer]:
    srv = RangeServer(FIXTURES, slow_seconds=3).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def data_db(tmp_path_factory: pytest.TempPathFactory, rangeserver: RangeServer) -> Path:
    """The small test catalogue plus three fixture studies, and scenes loaded with ``geostudies load``."""
    work = tmp_path_factory.mktemp("data")
    records = work / "records"
    shutil.copytree(SMALL_RECORDS, records)
    mars = mars_area().to_geojson()
    for study_id, geometry, target in (("greenland-fixture", GREENLAND, "earth"),
                                       ("aleutians-fixture", ALEUTIANS, "earth"), ("mars-fixture", mars, "mars")):
        (records / "studies" / f"{study_id}.yaml").write_text(
            yaml.safe_dump(study_record(study_id, geometry, target), allow_unicode=True))
    db = work / "data.db"
    with open_store(db) as store:
        build(store, records, schemas=False)
    items = [
        scene(rangeserver, "greenland-2020-06", {"band": "cog.tif"}, ["greenland-fixture"], "2020-06-01T00:00:00Z"),
        scene(rangeserver, "greenland-2020-07", {"band": "cog_int16.tif"}, ["greenland-fixture"],
              "2020-07-01T00:00:00Z"),
        scene(rangeserver, "greenland-2021-06", {"band": "cog.tif"}, ["greenland-fixture"], "2021-06-01T00:00:00Z"),
        scene(rangeserver, "aleutians", {"band": "cog_dateline.tif"}, ["aleutians-fixture"], "2020-05-01T00:00:00Z"),
        scene(rangeserver, "hirise", {"image": "cog_hirise_mars.tif"}, ["mars-fixture"], "2020-05-01T00:00:00Z",
              target="mars"),
        scene(rangeserver, "carolina", {"red": "red.tif", "green": "green.tif", "blue": "blue.tif"}, [],
              "2020-05-01T00:00:00Z"),
        scene(rangeserver, "gone", {"band": "404/cog.tif"}, ["aleutians-fixture"], "2020-01-01T00:00:00Z"),
    ]
    (work / "items.ndjson").write_bytes(b"\n".join(orjson.dumps(i) for i in items) + b"\n")
    collection = {"type": "Collection", "stac_version": "1.1.0", "id": "fixture-scenes", "license": "BSD-3-Clause",
                  "description": "rio-tiler's test COGs served by the tests", "links": [],
                  "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]}, "temporal": {"interval": [[None, None]]}}}
    (work / "collection.json").write_bytes(orjson.dumps(collection))
    run = subprocess.run([sys.executable, "-m", "service.cli", "load", str(work / "items.ndjson"), "--collection",
                          str(work / "collection.json"), "--db", str(db)], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "loaded 7 items" in run.stdout and "items/s" in run.stdout
    return db


@pytest.fixture(scope="module")
def client(data_db: Path, rangeserver: RangeServer) -> FlaskClient:
    config = ServiceConfig(store=str(data_db), tile_url="",
                           rasters=RasterSettings(asset_hosts=(rangeserver.host,), timeout=2, wait=2))
    return create_app(config).test_client()


ITEM = "/collections/fixture-scenes/items"


def tiff(data: bytes) -> tuple[numpy.ma.MaskedArray, dict[str, str], Any]:
    with MemoryFile(data) as memory, memory.open() as dataset:
        return dataset.read(masked=True), dataset.tags(), dataset.crs


def test_study_data_lists_items_by_collection_with_links(client: FlaskClient):
    doc = client.get("/studies/greenland-fixture/data").get_json()
    [group] = doc["collections"]
    assert group["id"] == "fixture-scenes" and group["readable"] == 3
    assert [i["id"] for i in group["items"]] == ["greenland-2020-06", "greenland-2020-07", "greenland-2021-06"]
    links = group["items"][0]["links"]
    assert links["clip"].endswith(f"{ITEM}/greenland-2020-06/clip.tif?study=greenland-fixture")
    assert "timeseries" in group and "mosaic" in group
    assert client.get("/studies/nope/data").status_code == 404


def test_clip_route_equals_a_direct_read_masked_by_the_study_area(client: FlaskClient):
    response = client.get(f"{ITEM}/greenland-2020-06/clip.tif?study=greenland-fixture")
    assert response.status_code == 200 and response.mimetype == "image/tiff"
    assert 'filename="greenland-2020-06-greenland-fixture.tif"' in response.headers["Content-Disposition"]
    pixels, tags, _ = tiff(response.data)
    area = Area.from_geojson(GREENLAND)
    truth, inside, _ = direct(FIXTURES / "cog.tif", area_in(FIXTURES / "cog.tif", area))
    assert pixels.shape == truth.shape
    assert numpy.array_equal(numpy.ma.getmaskarray(pixels)[0], ~inside | numpy.ma.getmaskarray(truth)[0])
    assert numpy.array_equal(pixels.data[0][inside], truth.data[0][inside])
    assert tags["GEOSTUDIES_ITEM"] == "greenland-2020-06" and "cog.tif" in tags["GEOSTUDIES_ASSETS"]


def test_statistics_route_equals_numpy(client: FlaskClient):
    body = client.get(f"{ITEM}/greenland-2020-07/statistics?study=greenland-fixture&histogram_bins=5").get_json()
    area = Area.from_geojson(GREENLAND)
    truth, inside, _ = direct(FIXTURES / "cog_int16.tif", area_in(FIXTURES / "cog_int16.tif", area))
    values = truth.data[0][inside & ~truth.mask[0]].astype("float64")
    band = body["bands"]["band"]
    for key, expected in numpy_stats(values).items():
        assert band[key] == pytest.approx(float(expected), rel=1e-9), key
    assert len(band["histogram"]["counts"]) == 5


def test_preview_point_and_overlay(client: FlaskClient):
    png = client.get(f"{ITEM}/greenland-2020-06/preview.png?study=greenland-fixture&max_size=200&colormap=viridis")
    assert png.status_code == 200 and png.mimetype == "image/png"
    with MemoryFile(png.data) as memory, memory.open() as picture:
        assert max(picture.width, picture.height) == 200 and picture.count == 4  # RGBA from a colormap
    rgb = client.get(f"{ITEM}/carolina/preview.webp?assets=red,green,blue&bbox=-80.5,32.5,-79.5,33.5")
    assert rgb.status_code == 200 and rgb.mimetype == "image/webp"
    overlay = client.get(f"{ITEM}/greenland-2020-06/overlay.png?study=greenland-fixture")
    west, south, east, north = map(float, overlay.headers["Geostudies-Bounds"].split(","))
    assert west == pytest.approx(-60, abs=0.01) and north == pytest.approx(74.3, abs=0.01)
    point = client.get(f"{ITEM}/greenland-2020-06/point/-58.5,73.8").get_json()
    with rasterio.open(FIXTURES / "cog.tif") as src:
        x, y = rasterio.warp.transform("EPSG:4326", src.crs, [-58.5], [73.8])
        expected = next(src.sample([(x[0], y[0])]))[0]
    assert point["values"] == {"band": float(expected)}


def test_timeseries_json_and_csv(client: FlaskClient):
    body = client.get("/studies/greenland-fixture/timeseries?collection=fixture-scenes&stat=max").get_json()
    assert [r["item"] for r in body["rows"]] == ["greenland-2020-06", "greenland-2020-07", "greenland-2021-06"]
    assert all("band" in r["values"] for r in body["rows"])
    csv = client.get("/studies/greenland-fixture/timeseries?collection=fixture-scenes&format=csv")
    lines = csv.get_data(as_text=True).strip().splitlines()
    assert csv.mimetype == "text/csv" and lines[0].startswith("datetime,") and len(lines) == 4


def test_mosaic_of_the_study_items_is_first_valid(client: FlaskClient):
    response = client.get("/studies/greenland-fixture/mosaic.tif?collection=fixture-scenes"
                          "&datetime=2020-01-01T00:00:00Z/2020-12-31T00:00:00Z")
    assert response.status_code == 200
    pixels, tags, _ = tiff(response.data)
    assert orjson.loads(tags["GEOSTUDIES_ITEMS"]) == ["fixture-scenes/greenland-2020-06",
                                                      "fixture-scenes/greenland-2020-07"]
    first = tiff(client.get(f"{ITEM}/greenland-2020-06/clip.tif?study=greenland-fixture").data)[0]
    assert numpy.array_equal(pixels.filled(0), first.filled(0))  # cog.tif has no holes: it wins everywhere


def test_antimeridian_and_mars_through_the_routes(client: FlaskClient):
    aleutians = client.get(f"{ITEM}/aleutians/statistics?study=aleutians-fixture").get_json()
    assert aleutians["bands"]["band"]["count"] > 0
    mars = client.get(f"{ITEM}/hirise/clip.tif?study=mars-fixture")
    assert mars.status_code == 200 and tiff(mars.data)[0].count() > 0
    earth_on_mars = client.get(f"{ITEM}/hirise/clip.tif?bbox=-10,-10,10,10")
    assert earth_on_mars.status_code == 400 and "Mars raster" in earth_on_mars.get_json()["description"]
    mars_on_earth = client.get(f"{ITEM}/greenland-2020-06/clip.tif?study=mars-fixture")
    assert mars_on_earth.status_code == 400 and "on Mars" in mars_on_earth.get_json()["description"]


@pytest.mark.parametrize("path,status,code,fragment", [
    (f"{ITEM}/greenland-2020-06/clip.tif?assets=nope", 404, "UnknownAsset", "nope"),
    (f"{ITEM}/gone/clip.tif?study=aleutians-fixture", 502, "UpstreamError", "band"),
    (f"{ITEM}/greenland-2020-06/clip.tif?colour=red", 400, "InvalidParameterValue", "colour"),
    (f"{ITEM}/greenland-2020-06/clip.tif?bbox=1,2", 400, "InvalidParameterValue", "bbox"),
    (f"{ITEM}/greenland-2020-06/clip.tif?study=greenland-fixture&bbox=1,2,3,4", 400, "InvalidParameterValue", "one"),
    (f"{ITEM}/greenland-2020-06/clip.tif?bbox=0,0,1,1", 400, "InvalidArea", "overlap"),
    (f"{ITEM}/greenland-2020-06/preview.gif", 404, "NotFound", "gif"),
    (f"{ITEM}/nope/clip.tif", 404, "NotFound", "nope"),
    ("/studies/greenland-fixture/timeseries", 400, "InvalidParameterValue", "collection"),
    ("/studies/greenland-fixture/timeseries?collection=fixture-scenes&stat=mode", 400, "InvalidParameterValue",
     "stat"),
    (f"{ITEM}/greenland-2020-06/point/500,1", 400, "InvalidParameterValue", "lon,lat"),
])
def test_bad_data_requests_are_json_errors(client: FlaskClient, path: str, status: int, code: str, fragment: str):
    response = client.get(path)
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] == code and fragment in body["description"]


def test_caps_and_the_href_policy(data_db: Path, rangeserver: RangeServer):
    tight = create_app(ServiceConfig(store=str(data_db), rasters=RasterSettings(
        asset_hosts=(rangeserver.host,), max_pixels=1000))).test_client()
    too_big = tight.get(f"{ITEM}/greenland-2020-06/clip.tif?study=greenland-fixture")
    assert too_big.status_code == 413 and "1,000 pixels" in too_big.get_json()["description"]
    default = create_app(ServiceConfig(store=str(data_db))).test_client()  # no allowlist: loopback refused
    refused = default.get(f"{ITEM}/greenland-2020-06/clip.tif?study=greenland-fixture")
    assert refused.status_code == 403 and "GEOSTUDIES_ASSET_HOSTS" in refused.get_json()["description"]


def test_the_data_routes_are_in_the_openapi_document(client: FlaskClient):
    paths = client.get("/api").get_json()["paths"]
    for path in ("/collections/{collectionId}/items/{itemId}/clip.tif", "/studies/{studyId}/timeseries",
                 "/studies/{studyId}/mosaic.{fmt}", "/studies/{studyId}/data"):
        assert path in paths and "502" in paths[path]["get"]["responses"]


def test_routes_through_gunicorn(data_db: Path, rangeserver: RangeServer):
    server = start_server(data_db, env={"GEOSTUDIES_ASSET_HOSTS": rangeserver.host})
    try:
        clip = server.get(f"{ITEM}/greenland-2020-06/clip.tif?study=greenland-fixture")
        assert clip.status_code == 200 and tiff(clip.content)[0].count() > 0
        stats = server.get(f"{ITEM}/greenland-2020-06/statistics?study=greenland-fixture").json()
        assert stats["bands"]["band"]["count"] > 0
    finally:
        stop_server(server)


def geostudies(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "service.cli", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=300)


def test_geostudies_data_fetches_every_clip_and_resumes(data_db: Path, rangeserver: RangeServer, tmp_path: Path):
    env = {"GEOSTUDIES_ASSET_HOSTS": rangeserver.host}
    out = tmp_path / "out"
    first = geostudies("data", "greenland-fixture", "--out", out, "--db", data_db, env=env)
    assert first.returncode == 0, first.stderr
    files = sorted((out / "fixture-scenes").glob("*.tif"))
    assert [f.stem for f in files] == ["greenland-2020-06", "greenland-2020-07", "greenland-2021-06"]
    assert "3 written" in first.stdout
    files[0].unlink()
    (out / "fixture-scenes" / "greenland-2020-06.tif.part").write_bytes(b"half")  # an interrupted download
    again = geostudies("data", "greenland-fixture", "--out", out, "--db", data_db, env=env)
    assert "1 written, 2 already complete" in again.stdout
    assert tiff(files[0].read_bytes())[0].count() > 0 and not list(out.rglob("*.part"))
    csv = geostudies("data", "greenland-fixture", "--format", "csv", "--out", out, "--db", data_db, env=env)
    assert csv.returncode == 0 and (out / "fixture-scenes-timeseries.csv").read_text().count("\n") == 4
    broken = geostudies("data", "aleutians-fixture", "--out", out, "--db", data_db, env=env)
    assert broken.returncode == 1 and "fixture-scenes/gone: UpstreamError" in broken.stdout
    assert (out / "fixture-scenes" / "aleutians.tif").exists()  # one failing Item does not stop the others


def test_geostudies_load_refuses_bad_lines_and_writes_nothing(data_db: Path, tmp_path: Path):
    db = tmp_path / "copy.db"
    shutil.copy(data_db, db)
    lines = tmp_path / "bad.ndjson"
    good = {"type": "Feature", "id": "ok", "collection": "fixture-scenes", "geometry": None,
            "properties": {"datetime": "2020-01-01T00:00:00Z"}, "assets": {}, "links": []}
    late = {**good, "id": "late", "properties": {"datetime": "2020-13-45"}}
    lines.write_text("\n".join([orjson.dumps(good).decode(), "{not json", orjson.dumps(late).decode()]))
    run = geostudies("load", lines, "--db", db)
    assert run.returncode == 1
    assert f"{lines}:2: (line): is not JSON" in run.stderr and f"{lines}:3: properties.datetime" in run.stderr
    with open_store(db, readonly=True) as store:
        assert store.get_item("fixture-scenes", "ok") is None
    skipping = geostudies("load", lines, "--db", db, "--skip-invalid")
    assert skipping.returncode == 0 and "2 problem(s) skipped" in skipping.stdout
    with open_store(db, readonly=True) as store:
        assert store.get_item("fixture-scenes", "ok") is not None


@needs_browser
def test_study_page_shows_previews_chart_and_overlay(data_db: Path, rangeserver: RangeServer, page):
    server = start_server(data_db, env={"GEOSTUDIES_ASSET_HOSTS": rangeserver.host, "GEOSTUDIES_TILES": ""})
    try:
        page.goto(f"{server.url}/studies/greenland-fixture")
        page.wait_for_function("() => document.body.getAttribute('data-charts') === 'ready'", timeout=30_000)
        page.wait_for_function("() => [...document.querySelectorAll('img.preview')].every(i => i.complete)",
                               timeout=30_000)
        widths = page.eval_on_selector_all("img.preview", "imgs => imgs.map(i => i.naturalWidth)")
        assert len(widths) == 3 and all(w > 0 for w in widths)
        assert page.get_attribute(".timeseries", "data-points") == "3"
        assert page.locator(".timeseries canvas").count() >= 1
        page.click("li[data-item='greenland-2020-06'] button.overlay")
        page.wait_for_selector(".leaflet-image-layer", timeout=20_000)
        assert page.get_attribute("#mapbox", "data-overlay") == "greenland-2020-06"
        href = page.get_attribute("li[data-item='greenland-2020-06'] a.clip", "href")
        assert href.endswith("/clip.tif?study=greenland-fixture")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "study-data.png"), full_page=True)
        assert page.problems == []
    finally:
        stop_server(server)
