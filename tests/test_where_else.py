"""What else was done here: study areas in km², the relevance order of spatial searches, sorting by area,
datetime that means the data's time, publication time, geologic time and related studies.

Expectations are computed from the records by brute force, with a different method where one exists: areas of
lon/lat boxes in closed form on the ellipsoid, shares inside a query area in an equal-area projection
(Lambert cylindrical equal-area on WGS84) instead of the geodesic sums the catalogue uses.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyproj
import pytest
import shapely
import shapely.geometry
from click.testing import CliRunner
from flask.testing import FlaskClient

from catalog.gazetteer import gazetteer
from catalog.geotime import parse_span
from catalog.records import load_records
from service.app import create_app
from service.cli import main
from service.config import ServiceConfig

TAIWAN = [119, 21, 122.5, 25.5]
PINGTUNG = "pingtung-2006-doublet-intraslab-stress"
WGS84_A, WGS84_F = 6378137.0, 1 / 298.257223563
RECORDS = load_records()
STUDIES = {s.id: s for s in RECORDS.studies}
CEA = pyproj.Transformer.from_crs("EPSG:4326", "+proj=cea +ellps=WGS84", always_xy=True)


@pytest.fixture(scope="module")
def client(catalogue_db: Path) -> FlaskClient:
    return create_app(ServiceConfig(store=str(catalogue_db), tile_url="")).test_client()


def every(client: FlaskClient, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every feature of a GET search, following next links page by page."""
    response = client.get(path, query_string=params)
    assert response.status_code == 200, response.get_json()
    doc = response.get_json()
    features = list(doc["features"])
    while (nxt := next((lk for lk in doc["links"] if lk["rel"] == "next"), None)) is not None:
        doc = client.get(nxt["href"]).get_json()
        features += doc["features"]
    return features


def box_area_km2(west: float, south: float, east: float, north: float) -> float:
    """The area of a lon/lat box on the WGS84 ellipsoid in closed form (authalic latitude integral)."""
    e = math.sqrt(WGS84_F * (2 - WGS84_F))
    b = WGS84_A * (1 - WGS84_F)

    def q(lat: float) -> float:
        s = math.sin(math.radians(lat))
        return s / (1 - e * e * s * s) + math.log((1 + e * s) / (1 - e * s)) / (2 * e)

    return math.radians(east - west) * b * b / 2 * (q(north) - q(south)) / 1e6


def equal_area(shape: Any) -> Any:
    return shapely.transform(shapely.segmentize(shape, 0.25),
                             lambda c: np.column_stack(CEA.transform(c[:, 0], c[:, 1])))


def share_cea(geometry: dict[str, Any], query: Any) -> float:
    """The share of a geometry's area inside ``query``, measured in an equal-area projection of WGS84."""
    shape = shapely.geometry.shape(geometry)
    if not shape.intersects(query):
        return 0.0
    return equal_area(shape.intersection(query)).area / equal_area(shape).area


# -- areas ---------------------------------------------------------------------------------------

def test_every_study_carries_its_area_on_its_body_and_its_scope(client: FlaskClient):
    items = {f["id"]: f for f in every(client, "/collections/studies/items", limit=100)}
    assert set(items) == set(STUDIES)
    checked = 0
    for sid, study in STUDIES.items():
        props = items[sid]["properties"]
        assert props["geostudies:scope"] == study.study_area.scope
        geometry = study.study_area.geometry
        if geometry is None:
            assert props["geostudies:area_km2"] is None
            continue
        shape = shapely.geometry.shape(geometry)
        if study.target == "earth" and shape.geom_type == "Polygon" and len(shape.exterior.coords) == 5 \
                and shape.equals(shapely.geometry.box(*shape.bounds)):
            assert props["geostudies:area_km2"] == pytest.approx(box_area_km2(*shape.bounds), rel=1e-5, abs=0.06), sid
            checked += 1
        if study.study_area.scope == "global":
            radius = {"earth": None, "moon": 1737.4, "mars": None}[study.target]
            if radius:
                assert props["geostudies:area_km2"] == pytest.approx(4 * math.pi * radius ** 2, rel=1e-6)
    assert checked >= 20  # the global boxes and most regions
    assert items["global-lake-surface-extent-seasonality"]["properties"]["geostudies:area_km2"] == \
        pytest.approx(510_065_622, rel=1e-6)  # the WGS84 ellipsoid's area
    queryables = client.get("/queryables").get_json()["properties"]
    assert queryables["geostudies:area_km2"]["type"] == "number"
    assert queryables["geostudies:published"]["format"] == "date"
    assert set(queryables["geostudies:scope"]["enum"]) == {s.study_area.scope for s in RECORDS.studies}


# -- relevance -----------------------------------------------------------------------------------

def test_the_taiwan_bbox_ranks_every_regional_and_site_study_before_every_global_one(client: FlaskClient):
    ranked = every(client, "/search", bbox=",".join(map(str, TAIWAN)), sortby="-geostudies:relevance", limit=4)
    plain = every(client, "/search", bbox=",".join(map(str, TAIWAN)), limit=100)
    assert sorted(f["id"] for f in ranked) == sorted(f["id"] for f in plain)  # nothing dropped, nothing twice
    scopes = [f["properties"]["geostudies:scope"] for f in ranked]
    local = [i for i, s in enumerate(scopes) if s != "global"]
    assert local and "global" in scopes and max(local) < scopes.index("global"), scopes
    assert ranked[0]["id"] == PINGTUNG
    # brute force: studies covering the whole Earth last; before them and among them the shares, measured in
    # an equal-area projection, never increase down the list; within equal shares the area never decreases
    query = shapely.geometry.box(*TAIWAN)
    globe = box_area_km2(-180, -90, 180, 90)
    keys = [(equal_area(shapely.geometry.shape(STUDIES[f["id"]].study_area.geometry)).area / 1e6 >= 0.999 * globe,
             share_cea(STUDIES[f["id"]].study_area.geometry, query), f["properties"]["geostudies:area_km2"])
            for f in ranked]
    assert [k[0] for k in keys] == sorted(k[0] for k in keys)
    for (whole, share, area), (next_whole, next_share, next_area) in zip(keys, keys[1:], strict=False):
        if whole == next_whole:
            assert share >= next_share - 1e-3
            if abs(share - next_share) < 1e-6:
                assert area <= next_area
    reverse = every(client, "/search", bbox=",".join(map(str, TAIWAN)), sortby="geostudies:relevance", limit=5)
    assert [f["id"] for f in reverse] == [f["id"] for f in ranked][::-1]


def test_relevance_by_post_and_intersects_and_its_errors(client: FlaskClient):
    polygon = shapely.geometry.mapping(shapely.geometry.box(*TAIWAN))
    body = {"intersects": polygon, "sortby": [{"field": "geostudies:relevance", "direction": "desc"}], "limit": 3}
    first = client.post("/search", json=body).get_json()
    assert first["features"][0]["id"] == PINGTUNG and first["numberMatched"] > 3
    bad = client.get("/search", query_string={"sortby": "-geostudies:relevance"})
    assert bad.status_code == 400 and "bbox or intersects" in bad.get_json()["description"]


@pytest.mark.parametrize("path", ["/search", "/collections/studies/items"])
def test_sort_by_area_both_ways_pages_correctly(client: FlaskClient, path: str):
    truth = sorted(STUDIES, key=lambda s: (STUDIES[s].study_area.geometry is None, s))
    up = every(client, path, sortby="geostudies:area_km2", limit=7, **({"collections": "studies"}
                                                                        if path == "/search" else {}))
    down = every(client, path, sortby="-geostudies:area_km2", limit=7, **({"collections": "studies"}
                                                                           if path == "/search" else {}))
    assert sorted(f["id"] for f in up) == sorted(truth) and len(up) == len(truth)
    assert [f["id"] for f in down] == [f["id"] for f in up][::-1]
    areas = [f["properties"]["geostudies:area_km2"] for f in up]
    known = [a for a in areas if a is not None]
    assert areas[:len(known)] == sorted(known) and all(a is None for a in areas[len(known):])  # no area: last
    # the page before the last one, reached back through its prev link
    response = client.get(path, query_string={"sortby": "-geostudies:area_km2", "limit": 7,
                                              **({"collections": "studies"} if path == "/search" else {})})
    pages = [response.get_json()]
    while (nxt := next((lk for lk in pages[-1]["links"] if lk["rel"] == "next"), None)) is not None:
        pages.append(client.get(nxt["href"]).get_json())
    prev = next(lk for lk in pages[-1]["links"] if lk["rel"] == "prev")
    assert [f["id"] for f in client.get(prev["href"]).get_json()["features"]] == \
        [f["id"] for f in pages[-2]["features"]]


def test_geostudies_search_lists_a_bbox_search_by_relevance(catalogue_db: Path):
    result = CliRunner().invoke(main, ["search", "--db", str(catalogue_db), "--bbox", "119,21,122.5,25.5",
                                       "--limit", "100"])
    assert result.exit_code == 0, result.output
    items = [orjson.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    scopes = [i["properties"]["geostudies:scope"] for i in items]
    assert items[0]["id"] == PINGTUNG and max(i for i, s in enumerate(scopes) if s != "global") < \
        scopes.index("global")


# -- time ----------------------------------------------------------------------------------------

def overlaps_2024(study: Any) -> bool:
    span = study.time_span
    return span is not None and span.start.year <= 2024 <= span.end.year


def test_a_2024_datetime_search_finds_data_of_2024_not_studies_published_then(client: FlaskClient):
    found = {f["id"] for f in every(client, "/search", datetime="2024-01-01T00:00:00Z/2024-12-31T23:59:59Z",
                                    collections="studies", limit=100)}
    assert found == {s.id for s in RECORDS.studies if overlaps_2024(s)}
    published_2024_without_span = {s.id for s in RECORDS.studies if s.time_span is None and s.published.year == 2024}
    assert published_2024_without_span and not found & published_2024_without_span
    for sid in ("hadean-protocrust-continental-trace-elements", "phanerozoic-gmst-485-myr-data-assimilation",
                "moon-ilmenite-layer-vestiges-grail-gravity"):
        assert sid in published_2024_without_span and sid not in found
    open_end = {f["id"] for f in every(client, "/search", datetime="../2030-01-01T00:00:00Z",
                                       collections="studies", limit=100)}
    assert open_end == {s.id for s in RECORDS.studies if s.time_span is not None}


def test_publication_time_is_searched_with_the_published_queryable(client: FlaskClient):
    text = "\"geostudies:published\" >= DATE('2024-01-01') AND \"geostudies:published\" <= DATE('2024-12-31')"
    found = {f["id"] for f in every(client, "/search", filter=text, collections="studies", limit=100)}
    assert found == {s.id for s in RECORDS.studies if s.published.year == 2024}
    day = min(s.published for s in RECORDS.studies)
    exact = f"\"geostudies:published\" = DATE('{day.isoformat()}')"
    assert {f["id"] for f in every(client, "/search", filter=exact, limit=100)} == \
        {s.id for s in RECORDS.studies if s.published == day}
    during = f"t_intersects(\"geostudies:published\", INTERVAL('{day.isoformat()}T12:00:00Z', '..'))"
    assert {f["id"] for f in every(client, "/search", filter=during, limit=100)} == \
        {s.id for s in RECORDS.studies if s.published >= day}


@pytest.mark.parametrize("asked", ["Toarcian", "190/170", "Early Jurassic", "Phanerozoic", "4500/4000", "0.1/0"])
def test_geologic_time_finds_the_studies_whose_span_overlaps(client: FlaskClient, asked: str):
    older, younger = parse_span(asked)
    truth = {s.id for s in RECORDS.studies if s.geologic_ma and s.geologic_ma[0] >= younger
             and s.geologic_ma[1] <= older}
    found = {f["id"] for f in every(client, "/search", geologic_time=asked, limit=100)}
    assert found == truth
    if asked in ("Toarcian", "190/170", "Early Jurassic"):
        assert "toarcian-co2-hydroclimate-lacustrine-carbon-burial" in found
    post = client.post("/search", json={"geologic_time": asked, "limit": 100}).get_json()
    assert {f["id"] for f in post["features"]} == truth


def test_a_geologic_time_that_cannot_be_read_is_a_400_that_helps(client: FlaskClient):
    response = client.get("/search", query_string={"geologic_time": "Toarcain"})
    assert response.status_code == 400 and "nearest: Toarcian" in response.get_json()["description"]
    for bad in ("170/190", "9000", "a/b/c"):
        assert client.get("/search", query_string={"geologic_time": bad}).status_code == 400


def test_every_record_with_a_geologic_span_maps_it_to_ma_on_its_item(client: FlaskClient):
    items = {f["id"]: f["properties"] for f in every(client, "/collections/studies/items", limit=100)}
    spans = {s.id: s for s in RECORDS.studies if s.geologic_span}
    assert len(spans) >= 15
    for sid, study in spans.items():
        assert (items[sid]["geostudies:age_older_ma"], items[sid]["geostudies:age_younger_ma"]) == \
            parse_span(study.geologic_span)
    assert parse_span("Toarcian") == (184.2, 174.7)  # the ICS chart v2026/06


# -- related studies -----------------------------------------------------------------------------

def _regions(study) -> list[tuple[str, str]]:
    """(id, name) of the gazetteer regions a study lies in, features and seas before countries."""
    found = gazetteer().regions_of(study.study_area.geometry, study.target) \
        if study.study_area.scope not in ("global", "lab") else []
    return [(p.id, p.name) for p in sorted(found, key=lambda p: (p.kind == "country", p.name))]


def brute_force_related(sid: str) -> dict[str, tuple[float, list[str], list[str], list[str]]]:
    here = STUDIES[sid]
    mine_regions = _regions(here)
    out = {}
    for other in RECORDS.studies:
        if other.id == sid:
            continue
        share = 0.0
        if here.study_area.geometry and other.study_area.geometry and here.target == other.target == "earth":
            share = share_cea(other.study_area.geometry, shapely.geometry.shape(here.study_area.geometry))
        mine = [u.dataset_id for u in here.datasets if u.dataset_id]
        theirs = {u.dataset_id for u in other.datasets if u.dataset_id}
        datasets = list(dict.fromkeys(d for d in mine if d in theirs))
        disciplines = [d for d in here.disciplines if d in other.disciplines]
        theirs_regions = {rid for rid, _ in _regions(other)}
        regions = [name for rid, name in mine_regions if rid in theirs_regions]
        if share > 1e-9 or datasets or disciplines or regions:
            out[other.id] = (share, datasets, disciplines, regions)
    return out


@pytest.mark.parametrize("sid", [PINGTUNG, "tibetan-plateau-uplift-mantle-delamination",
                                 "yangtze-block-late-cretaceous-strike-slip-zhe",
                                 "grace-terrestrial-water-storage-interdecadal"])
def test_related_studies_are_ranked_by_overlap_then_regions_datasets_and_disciplines(client: FlaskClient, sid: str):
    doc = client.get(f"/studies/{sid}/related", query_string={"limit": 100}).get_json()
    truth = brute_force_related(sid)
    listed = {r["id"]: r for r in doc["related"]}
    assert set(listed) == set(truth) and doc["numberMatched"] == len(truth)
    titles = {d.id: d.title for d in RECORDS.datasets}
    for rid, r in listed.items():
        share, datasets, disciplines, regions = truth[rid]
        assert r["overlap"] == pytest.approx(share, abs=2e-3)
        assert r["shared_datasets"] == datasets and r["shared_disciplines"] == disciplines
        assert r["shared_regions"] == regions
        assert (f"same region: {', '.join(regions)}" in r["reasons"]) == bool(regions)
        assert any(x.startswith("overlaps ") and x.endswith(" % of its area") for x in r["reasons"]) == \
            (r["overlap"] > 0)
        if datasets:
            assert f"also used {', '.join(titles[d] for d in datasets)}" in r["reasons"]
        if disciplines:
            assert f"also {', '.join(disciplines)}" in r["reasons"]
    keys = [(-r["overlap"], -len(r["shared_regions"]), -len(r["shared_datasets"]), -len(r["shared_disciplines"]))
            for r in doc["related"]]
    assert keys == sorted(keys)
    assert len(client.get(f"/studies/{sid}/related").get_json()["related"]) == min(10, len(truth))


def test_related_errors_and_the_study_page(client: FlaskClient):
    assert client.get("/studies/no-such-study/related").status_code == 404
    assert client.get(f"/studies/{PINGTUNG}/related", query_string={"limit": "0"}).status_code == 400
    assert client.get(f"/studies/{PINGTUNG}/related", query_string={"x": "1"}).status_code == 400
    page = client.get(f"/studies/{PINGTUNG}", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert "Other studies here" in page and f"/studies/{PINGTUNG}/related" in page
    api = client.get("/api").get_json()
    assert "/studies/{studyId}/related" in api["paths"]
