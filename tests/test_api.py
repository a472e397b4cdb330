"""The STAC API over a real gunicorn server on a loopback port, driven by HTTP and by pystac-client."""
from __future__ import annotations

import gzip
import json

import pystac_client
import pytest
import requests

PINGTUNG = "pingtung-2006-doublet-intraslab-stress"
TAIWAN = [119.0, 21.0, 122.5, 25.5]


@pytest.fixture()
def server(catalogue_server):
    """This module's tests run against every backend (conftest ``catalogue_server``)."""
    return catalogue_server


def test_landing_page_links_and_conformance(server):
    landing = server.get("/").json()
    rels = {lk["rel"] for lk in landing["links"]}
    assert {"self", "root", "conformance", "data", "search", "service-desc", "service-doc", "child"} <= rels
    conformance = server.get("/conformance").json()["conformsTo"]
    assert conformance == landing["conformsTo"]
    assert "https://api.stacspec.org/v1.0.0/item-search" in conformance


def test_pystac_client_open_collections_search_and_fetch(server):
    client = pystac_client.Client.open(server.url)
    collections = {c.id for c in client.get_collections()}
    assert {"studies", "grace-grace-fo", "sentinel-2-l2a"} <= collections
    search = client.search(collections=["studies"], bbox=TAIWAN, datetime="2006-01-01/2007-12-31")
    found = {i.id for i in search.items()}
    assert PINGTUNG in found
    item = client.get_collection("studies").get_item(PINGTUNG)
    assert item is not None and item.properties["geostudies:title_zh"].startswith("2006")
    assert any(lk.rel == "derived_from" and lk.href.endswith("/collections/gcmt") for lk in item.links)


def test_pystac_client_pages_through_all_results(server):
    client = pystac_client.Client.open(server.url)
    search = client.search(collections=["studies"], limit=7)
    ids = [i.id for i in search.items()]
    assert len(ids) == len(set(ids)) == 49
    post = client.search(collections=["studies"], limit=5, method="POST", sortby="-properties.datetime")
    post_ids = [i.id for i in post.items()]
    assert sorted(post_ids) == sorted(ids)


def test_pystac_client_filter_cql2_text_and_json(server):
    client = pystac_client.Client.open(server.url)
    mascons = "grace-fo-jpl-mascon-cri"
    text = client.search(filter=f"a_contains(\"geostudies:datasets\", ('{mascons}'))", filter_lang="cql2-text")
    by_json = client.search(filter={"op": "a_contains", "args": [{"property": "geostudies:datasets"},
                                                                   [mascons]]}, filter_lang="cql2-json")
    a, b = {i.id for i in text.items()}, {i.id for i in by_json.items()}
    assert a == b and "grace-terrestrial-water-storage-interdecadal" in a


def test_studies_that_used_grace_in_asia_after_2024(server):
    asia = "POLYGON((60 5, 150 5, 150 55, 60 55, 60 5))"
    cql = (f"a_contains(\"geostudies:datasets\", ('grace-grace-fo')) AND s_intersects(geometry, {asia}) "
           "AND \"geostudies:year\" >= 2024")
    body = server.get("/search", params={"filter": cql, "limit": 100}).json()
    for feature in body["features"]:
        assert "grace-grace-fo" in feature["properties"]["geostudies:datasets"]
        assert feature["properties"]["geostudies:year"] >= 2024
    assert body["numberMatched"] == len(body["features"]) >= 1


@pytest.mark.parametrize("value", [
    "2006-12-26T00:00:00Z", "2006-12-26T12:00:00+08:00", "2006-12-26t00:00:00.5z",
    "2006-01-01T00:00:00Z/2007-01-01T00:00:00Z", "../2007-01-01T00:00:00Z", "2006-01-01T00:00:00Z/..",
    "/2007-01-01T00:00:00Z", "2006-01-01T00:00:00Z/",
])
def test_datetime_forms_the_spec_allows(server, value):
    response = server.get("/search", params={"datetime": value, "bbox": ",".join(map(str, TAIWAN)), "limit": 100})
    assert response.status_code == 200, response.text
    assert PINGTUNG in {f["id"] for f in response.json()["features"]}


@pytest.mark.parametrize("path,params,fragment", [
    ("/search", {"bbox": "1,2,3"}, "'bbox'"),
    ("/search", {"bbox": "a,b,c,d"}, "'bbox'"),
    ("/search", {"bbox": "0,10,1,5"}, "south"),
    ("/search", {"datetime": "2006-13-01T00:00:00Z"}, "'datetime'"),
    ("/search", {"datetime": "yesterday"}, "'datetime'"),
    ("/search", {"datetime": "../.."}, "'datetime'"),
    ("/search", {"datetime": "2007-01-01T00:00:00Z/2006-01-01T00:00:00Z"}, "starts after"),
    ("/search", {"filter": "title = "}, "not valid CQL2"),
    ("/search", {"filter": "{\"op\": \"nope\"}", "filter-lang": "cql2-json"}, "CQL2"),
    ("/search", {"limit": "0"}, "'limit'"),
    ("/search", {"limit": "ten"}, "'limit'"),
    ("/search", {"intersects": "{\"type\": \"Polygon\"}"}, "'intersects'"),
    ("/search", {"sortby": "+"}, ""),
    ("/search", {"token": "garbage"}, "token"),
    ("/search", {"colections": "studies"}, "unknown parameter"),
    ("/collections/studies/items", {"bbox": "x"}, "'bbox'"),
])
def test_bad_requests_are_4xx_json_saying_what_is_wrong(server, path, params, fragment):
    response = server.get(path, params=params)
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"code", "description"}
    assert fragment in body["description"]


def test_unknown_collection_and_item_are_404_json(server):
    for path in ("/collections/nope", "/collections/nope/items", "/collections/studies/items/nope"):
        response = server.get(path)
        assert response.status_code == 404 and response.json()["code"] == "NotFound"


def test_wrong_post_bodies_are_400(server):
    cases = [b"{not json", b"[1, 2]", json.dumps({"bbox": "1,2,3,4"}).encode(),
             json.dumps({"intersects": "POINT(1 2)"}).encode(), json.dumps({"fields": None}).encode()]
    for body in cases:
        response = server.post("/search", data=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, (body, response.text)
        assert response.json()["description"]


def test_size_caps(server):
    ring = [[i / 1000, 0] for i in range(11_000)] + [[0, 1], [0, 0]]
    big = {"intersects": {"type": "Polygon", "coordinates": [ring]}}
    response = server.post("/search", json=big)
    assert response.status_code == 413 and "vertices" in response.json()["description"]
    response = server.post("/search", data=b"{" + b" " * 1_100_000 + b"}", headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["code"]


def test_limit_above_the_maximum_is_served_as_the_maximum(server):
    body = server.get("/search", params={"limit": 5000}).json()
    assert body["numberReturned"] == 49  # the whole catalogue fits under the maximum of 1000


def test_paging_links_work_for_get_and_post(server):
    first = server.get("/search", params={"limit": 20, "sortby": "id"}).json()
    nxt = next(lk for lk in first["links"] if lk["rel"] == "next")
    second = requests.get(nxt["href"], timeout=30).json()
    prev = next(lk for lk in second["links"] if lk["rel"] == "prev")
    assert [f["id"] for f in requests.get(prev["href"], timeout=30).json()["features"]] == \
        [f["id"] for f in first["features"]]
    posted = server.post("/search", json={"limit": 20, "sortby": [{"field": "id", "direction": "asc"}]}).json()
    link = next(lk for lk in posted["links"] if lk["rel"] == "next")
    assert link["method"] == "POST" and link["body"]["token"]
    page2 = requests.post(link["href"], json=link["body"], timeout=30).json()
    assert [f["id"] for f in page2["features"]] == [f["id"] for f in second["features"]]
    ids = [f["id"] for f in first["features"] + second["features"]]
    assert ids == sorted(ids) and len(set(ids)) == 40


def test_collection_items_bbox_datetime_paging(server):
    body = server.get("/collections/studies/items", params={"bbox": ",".join(map(str, TAIWAN)), "limit": 2}).json()
    assert body["numberMatched"] >= 2 and body["numberReturned"] == 2
    assert any(lk["rel"] == "next" for lk in body["links"])


def test_free_text_in_english_and_chinese(server):
    assert {f["id"] for f in server.get("/search", params={"q": "屏东"}).json()["features"]} == {PINGTUNG}
    quake = {f["id"] for f in server.get("/search", params={"q": "地震", "limit": 100}).json()["features"]}
    assert PINGTUNG in quake and len(quake) > 3
    doublet = {f["id"] for f in server.get("/search", params={"q": "earthquake doublet"}).json()["features"]}
    assert PINGTUNG in doublet


def test_sort_fields_and_query_extensions(server):
    body = server.post("/search", json={"sortby": [{"field": "properties.geostudies:year", "direction": "desc"}],
                                        "fields": {"include": ["properties.title"]}, "limit": 49,
                                        "query": {"geostudies:target": {"eq": "moon"}}}).json()
    assert body["features"] and all(set(f) <= {"type", "stac_version", "id", "links", "properties"}
                                    for f in body["features"])
    assert all(set(f["properties"]) == {"title"} for f in body["features"])
    ids = {f["id"] for f in body["features"]}
    assert ids == {"moon-ilmenite-layer-vestiges-grail-gravity", "chang-e-5-basalt-magma-plumbing-evolution"}


def test_other_bodies_only_when_asked(server):
    box = {"bbox": "-180,-90,180,90", "limit": 100}
    earth = {f["properties"]["geostudies:target"] for f in server.get("/search", params=box).json()["features"]}
    assert earth == {"earth"}
    moon = server.get("/search", params={**box, "target": "moon"}).json()["features"]
    assert moon and {f["properties"]["geostudies:target"] for f in moon} == {"moon"}


def test_queryables_list_real_properties(server):
    q = server.get("/queryables").json()
    props = q["properties"]
    assert "seismology" in props["geostudies:disciplines"]["items"]["enum"]
    assert "grace-grace-fo" in props["geostudies:datasets"]["items"]["enum"]
    assert props["geostudies:year"]["type"] == "number"
    per = server.get("/collections/studies/queryables").json()
    assert per["$id"].endswith("/collections/studies/queryables")


def test_collection_search(server):
    body = server.get("/collections", params={"q": "GRACE"}).json()
    assert "grace-grace-fo" in {c["id"] for c in body["collections"]}
    assert body["numberMatched"] < 98
    page = server.get("/collections", params={"limit": 10}).json()
    assert page["numberReturned"] == 10 and any(lk["rel"] == "next" for lk in page["links"])


def test_etag_last_modified_cors_and_gzip(server):
    path = f"/collections/studies/items/{PINGTUNG}"
    first = server.get(path, headers={"Origin": "https://stac-browser.example"})
    assert first.headers["Access-Control-Allow-Origin"] in ("*", "https://stac-browser.example")
    assert first.headers["ETag"] and first.headers["Last-Modified"]
    again = server.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    raw = requests.get(server.url + "/search?limit=20", headers={"Accept-Encoding": "gzip"}, stream=True, timeout=30)
    assert raw.headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(raw.raw.read()))["type"] == "FeatureCollection"


def test_items_link_back_and_carry_access_links(server):
    item = server.get(f"/collections/studies/items/{PINGTUNG}").json()
    rels = {lk["rel"]: lk["href"] for lk in item["links"]}
    assert rels["self"] == f"{server.url}/collections/studies/items/{PINGTUNG}"
    assert rels["collection"] == f"{server.url}/collections/studies"
    access = [lk for lk in item["links"] if lk["rel"] == "geostudies:access"]
    assert any(lk["geostudies:dataset"] == "usgs-comcat" and "minlatitude=21" in lk["href"] for lk in access)


def test_openapi_document_and_docs_page(server):
    doc = server.get("/api")
    assert doc.headers["Content-Type"].startswith("application/vnd.oai.openapi+json")
    assert "/search" in doc.json()["paths"]
    assert "<h1>geostudies STAC API</h1>" in server.get("/api.html").text
