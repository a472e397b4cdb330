"""The fast tier: the API in-process (Flask test client over the real built catalogue), for parameters,
links, fields, content negotiation and the lists assembled from the extensions."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from catalog.store import open_store
from service.app import create_app
from service.config import ServiceConfig
from service.extensions import COLLECTIONS, ITEMS, SEARCH, ExtensionSet, default_extensions

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
PINGTUNG = "pingtung-2006-doublet-intraslab-stress"


_APPS: dict[str, FlaskClient] = {}


@pytest.fixture()
def client(catalogue: str) -> FlaskClient:
    """The app over the bundled catalogue, on each backend (conftest ``catalogue``), made once per backend."""
    if catalogue not in _APPS:
        _APPS[catalogue] = create_app(ServiceConfig(store=catalogue, tile_url="")).test_client()
    return _APPS[catalogue]


def test_conformance_is_assembled_from_the_extensions(client: FlaskClient):
    declared = [uri for e in default_extensions() for uri in e.conformance]
    served = client.get("/conformance").get_json()["conformsTo"]
    assert sorted(served) == sorted(set(declared)) and len(served) == len(declared)
    assert client.get("/").get_json()["conformsTo"] == served


def test_openapi_parameters_are_exactly_the_accepted_ones(client: FlaskClient):
    doc = client.get("/api").get_json()
    extensions = ExtensionSet(default_extensions())
    get_search = {p["name"] for p in doc["paths"]["/search"]["get"]["parameters"]}
    assert get_search == extensions.accepted(SEARCH)
    body = set(doc["paths"]["/search"]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"])
    assert body == extensions.accepted(SEARCH) - {"f"}
    items = {p["name"] for p in doc["paths"]["/collections/{collectionId}/items"]["get"]["parameters"]}
    assert items == extensions.accepted(ITEMS) | {"collectionId"}
    listing = {p["name"] for p in doc["paths"]["/collections"]["get"]["parameters"]}
    assert listing == extensions.accepted(COLLECTIONS)


def test_unknown_parameters_are_refused_with_the_accepted_list(client: FlaskClient):
    response = client.get("/search?colections=studies")
    assert response.status_code == 400
    description = response.get_json()["description"]
    assert "colections" in description and "collections" in description
    assert client.get("/collections?ids=x").status_code == 400
    assert client.get("/collections/studies/items?intersects={}").status_code == 400


def test_items_accept_the_collections_parameter_pystac_client_sends(client: FlaskClient):
    same = client.get("/collections/studies/items?collections=studies&limit=2")
    assert same.status_code == 200 and same.get_json()["numberReturned"] == 2
    other = client.get("/collections/studies/items?collections=grace-grace-fo")
    assert other.status_code == 400 and "/search" in other.get_json()["description"]


def test_links_use_the_configured_public_url(catalogue: str):
    app = create_app(ServiceConfig(store=catalogue, public_url="https://geostudies.example/api/"))
    doc = app.test_client().get(f"/collections/studies/items/{PINGTUNG}", headers={"Host": "evil.example"}).get_json()
    hrefs = [lk["href"] for lk in doc["links"] if lk["rel"] in ("self", "root", "collection", "derived_from")]
    assert hrefs and all(h.startswith("https://geostudies.example/api/") for h in hrefs)


def test_dataset_collections_and_study_items_have_html_alternates(client: FlaskClient):
    grace = client.get("/collections/grace-grace-fo").get_json()
    alternate = [lk for lk in grace["links"] if lk["rel"] == "alternate"]
    assert alternate and alternate[0]["href"].endswith("/datasets/grace-grace-fo")
    assert alternate[0]["type"] == "text/html"
    study = client.get(f"/collections/studies/items/{PINGTUNG}").get_json()
    assert any(lk["rel"] == "alternate" and lk["href"].endswith(f"/studies/{PINGTUNG}") for lk in study["links"])
    assert client.get(alternate[0]["href"].split("localhost", 1)[1]).status_code == 200


def test_without_the_maps_plugin_there_are_no_html_alternates(catalogue: str):
    app = create_app(ServiceConfig(store=catalogue, web_plugins=()))
    client = app.test_client()
    grace = client.get("/collections/grace-grace-fo").get_json()
    assert not [lk for lk in grace["links"] if lk["rel"] == "alternate"]
    assert client.get("/map").status_code == 404
    assert client.get("/", headers=BROWSER).get_json()["id"] == "geostudies"


def test_browsers_get_html_errors_and_clients_json(client: FlaskClient):
    page = client.get("/studies/nope", headers=BROWSER)
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "no study &#39;nope&#39;" in page.get_data(as_text=True)
    api = client.get("/studies/nope")
    assert api.status_code == 404 and api.get_json()["code"] == "NotFound"
    bad = client.get("/search?bbox=1,2", headers=BROWSER)
    assert bad.status_code == 400 and bad.mimetype == "text/html" and "bbox" in bad.get_data(as_text=True)


def test_fields_include_exclude(client: FlaskClient):
    body = client.get("/search?fields=properties.title,-links&limit=3").get_json()
    for feature in body["features"]:
        assert set(feature) <= {"type", "stac_version", "id", "links", "properties"}
        assert set(feature["properties"]) == {"title"}
    full = client.get("/search?fields=-properties.description&limit=1").get_json()["features"][0]
    assert "description" not in full["properties"] and "geometry" in full


def test_f_names_a_format_item_searches_have(client: FlaskClient):
    assert client.get("/search?f=geojson&limit=1").status_code == 200
    assert client.get("/search?f=csv&limit=1").mimetype == "text/csv"
    for wrong in ("xlsx", "CSV;", "parquet2"):
        response = client.get("/search", query_string={"f": wrong})
        assert response.status_code == 400 and "csv" in response.get_json()["description"]


def test_overflowing_timestamps_are_400_not_500(client: FlaskClient):
    for value in ("9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"):
        for path in ("/search", "/collections", "/collections/studies/items"):
            response = client.get(path, query_string={"datetime": value})
            assert response.status_code == 400, (path, value, response.get_data(as_text=True))


def test_store_backends_are_chosen_by_url(catalogue_db: Path):
    with open_store(f"sqlite:///{catalogue_db}", readonly=True) as store:
        assert store.count_items("studies") == 49
    with pytest.raises(ValueError, match="no store backend"):
        open_store("nosuch://x")


def test_searches_serve_stored_json_with_only_the_links_rewritten(tmp_path: Path):
    """Search pages splice new links into the stored JSON (no parse); what comes out is what the Item route,
    which parses, serves: same members, links made absolute, members beyond STAC kept."""
    import orjson

    from catalog.load import load_items
    from catalog.store import SearchQuery

    lines = []
    for i in range(3):
        item = {"type": "Feature", "stac_version": "1.1.0", "id": f"scene-{i}", "collection": "mine",
                "links": [{"rel": "self", "href": "https://elsewhere.invalid/x"},
                          {"rel": "license", "href": "https://example.invalid/licence"}],
                "bbox": [10 + i, 40, 11 + i, 41],
                "geometry": {"type": "Polygon", "coordinates": [[[10 + i, 40], [11 + i, 40], [11 + i, 41],
                                                                 [10 + i, 41], [10 + i, 40]]]},
                "properties": {"datetime": "2021-05-01T00:00:00Z", "title": "caf\u00e9 \"quoted\""},
                "assets": {"data": {"href": "https://example.invalid/a.tif", "links": []}}}
        if i == 2:
            item["custom:member"] = {"links": [1]}  # beyond the STAC Item members: the parsing path
        lines.append(orjson.dumps(item))
    (tmp_path / "items.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    db = tmp_path / "mine.db"
    with open_store(db) as store:
        load_items(store, tmp_path / "items.ndjson", collection={
            "type": "Collection", "id": "mine", "stac_version": "1.1.0", "description": "d", "license": "other",
            "links": [], "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                                    "temporal": {"interval": [[None, None]]}}})
        stored = store.search(SearchQuery(collections=["mine"]), encoded=True).documents
        assert stored and all(d.json.endswith(b"]}") and d.json[d.links_at:].startswith(b'"links":') for d in stored)
    client = create_app(ServiceConfig(store=str(db), tile_url="", public_url="https://api.example")).test_client()
    for url in ("/search?collections=mine", "/collections/mine/items"):
        page = client.get(url)
        assert page.status_code == 200
        features = page.get_json()["features"]
        assert [f["id"] for f in features] == ["scene-0", "scene-1", "scene-2"]  # catalogue order
        for feature in features:
            single = client.get(f"/collections/mine/items/{feature['id']}").get_json()
            assert feature == single
            assert {lk["rel"]: lk["href"] for lk in feature["links"]}["self"] == \
                f"https://api.example/collections/mine/items/{feature['id']}"
            assert "https://elsewhere.invalid/x" not in page.get_data(as_text=True)
        assert features[2]["custom:member"] == {"links": [1]}
        assert features[0]["properties"]["title"] == "caf\u00e9 \"quoted\""
    fields = client.get("/search?collections=mine&fields=id").get_json()["features"]  # the parsing path
    assert fields[0].keys() <= {"id", "type", "links", "collection", "geometry", "bbox", "stac_version", "assets"}


def _study_ids(client: FlaskClient, q: str) -> set[str]:
    page = client.get("/search", query_string={"collections": "studies", "q": q, "limit": 100}).get_json()
    return {f["id"] for f in page["features"]}


def test_traditional_and_simplified_chinese_find_the_same_studies(client: FlaskClient):
    assert _study_ids(client, "屏東") == _study_ids(client, "屏东") == {PINGTUNG}
    assert _study_ids(client, "地質") == _study_ids(client, "地质") != set()


def test_english_words_match_the_start_of_longer_words_from_four_letters(client: FlaskClient):
    tibet = _study_ids(client, "Tibet")
    plateau = {i for i in _study_ids(client, "Tibetan") if i in tibet}
    assert plateau and plateau <= tibet  # "Tibet" finds every "Qinghai-Tibetan" study
    texts = {f["id"]: " ".join(str(v) for v in f["properties"].values()).lower() for f in client.get(
        "/search", query_string={"collections": "studies", "limit": 100}).get_json()["features"]}
    # a short word matches whole words only: every study found by "sea" has the word (or its stem) "sea"
    assert all(re.search(r"\bseas?\b", texts[i]) for i in _study_ids(client, "sea"))


@pytest.mark.parametrize("url", [
    "/search?bbox=119,21,122.5,25.5", "/search?bbox=119.0, 21.0, 122.5, 25.5", "/search?bbox=1e-05,-1E1,2,3",
    "/search?bbox=0,0,0,1,1,1", "/search?datetime=2024-02-29T00:00:00Z",
    "/search?datetime=2000-02-29T23:59:59.123456789-08:00",
    "/search?datetime=../2007-01-01T00:00:00Z", "/search?limit=5000", "/search?sortby=-datetime,%2Bid",
    "/search?sortby=properties.geostudies:year", "/search?fields=id,-links", "/search?target=Moon",
    "/collections?token=0&limit=2", '/search?query={"geostudies:year":{"gte":2024}}',
    "/search?bbox=0,0,1,1&datetime=0400-02-29T02:47:58Z/..",  # years before 1000 once broke the store's form
    '/search?intersects={"type":"Point","coordinates":[120.5,22]}',
])
def test_what_the_document_declares_valid_is_served(client: FlaskClient, url: str):
    response = client.get(url)
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize("url,fragment", [
    ("/search?bbox=1,2,3,4,5", "'bbox'"), ("/search?bbox=1_0,2,3,4", "'bbox'"), ("/search?bbox=1e999,0,1,1", "'bbox'"),
    ("/search?datetime=2023-02-29T00:00:00Z", "'datetime'"), ("/search?datetime=%202024-01-01T00:00:00Z", "'datetime'"),
    ("/search?limit=%205", "'limit'"), ("/search?limit=9007199254740992", "'limit'"),
    ("/search?sortby=datetime,,id", "'sortby'"), ("/search?sortby=a%20b", "'sortby'"),
    ("/search?fields=id,,links", "'fields'"), ("/search?target=%E2%84%AAelvin", "'target'"),
    ("/search?ids=" + "x" * 256 + "%20", "'ids'"), ("/collections?token=%C2%B2", "token"),
    ('/search?query={"title":{"eq":null}}', "'query"), ("/search?f=xml", "'f'"),
])
def test_what_the_document_declares_invalid_is_refused(client: FlaskClient, url: str, fragment: str):
    response = client.get(url)
    assert response.status_code == 400, response.get_json()
    assert fragment in response.get_json()["description"]


@pytest.mark.parametrize("body,fragment", [
    ({"limit": "5"}, "'limit'"), ({"limit": 5.0}, "'limit'"), ({"ids": ["x" * 257]}, "'ids'"),
    ({"sortby": "-datetime"}, "'sortby'"),
    ({"sortby": [{"field": "id", "direction": "ASC"}]}, "'sortby"), ({"fields": "id"}, "'fields'"),
    ({"query": "{}"}, "'query'"), ({"filter-lang": ""}, "'filter-lang'"), ({"f": "json"}, "request body"),
    ({"bbox": [0, 0, 1, 1], "intersects": {"type": "Point", "coordinates": [0, 0]}}, "bbox"),
    ({"datetime": ""}, "'datetime'"), ({"token": ""}, "'token'"),
])
def test_a_body_the_document_declares_invalid_is_refused(client: FlaskClient, body: dict, fragment: str):
    response = client.post("/search", json=body)
    assert response.status_code == 400, response.get_json()
    assert fragment in response.get_json()["description"]


def test_null_body_members_are_absent_parameters(client: FlaskClient):
    body = {"bbox": None, "datetime": None, "limit": None, "filter-lang": None, "sortby": None, "q": None}
    assert client.post("/search", json=body).status_code == 200
    # A list, or comma-separated text as the STAC API validator posts it.
    assert client.post("/search", json={"collections": "studies", "ids": PINGTUNG}).get_json()["numberReturned"] == 1


def test_an_item_without_rasters_has_no_data_to_read(client: FlaskClient):
    response = client.get(f"/collections/studies/items/{PINGTUNG}/statistics")
    assert response.status_code == 404 and response.get_json()["code"] == "NoRasterData"
