"""The Aggregation extension: counts over what a search matches, equal to counting the search's own pages."""
from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from service.app import create_app
from service.config import ServiceConfig

SHAPES = [
    {"collections": "studies"},
    {"collections": "studies", "bbox": "119,21,122.5,25.5"},
    {"collections": "studies", "datetime": "2000-01-01T00:00:00Z/2015-12-31T23:59:59Z"},
    {"collections": "studies", "q": "earthquake"},
    {"collections": "studies", "filter": "\"geostudies:year\" >= 2025", "filter-lang": "cql2-text"},
    {"collections": "studies", "target": "moon", "bbox": "-180,-90,180,90"},
    {},
]
TERMS = {"discipline_frequency": "geostudies:disciplines", "dataset_frequency": "geostudies:datasets",
         "journal_frequency": "geostudies:journal", "scope_frequency": "geostudies:scope",
         "body_frequency": "geostudies:target", "year_frequency": "geostudies:year"}


@pytest.fixture(scope="module")
def client(catalogue_db: Path) -> FlaskClient:
    return create_app(ServiceConfig(store=str(catalogue_db), tile_url="")).test_client()


def every_match(client: FlaskClient, params: dict[str, str]) -> list[dict[str, Any]]:
    """Brute force: page through /search and keep every Item."""
    found, url, query = [], "/search", {**params, "limit": "1000"}
    while url:
        page = client.get(url, query_string=query).get_json()
        found += page["features"]
        url = next((lk["href"].split("://", 1)[1].split("/", 1)[1] for lk in page["links"] if lk["rel"] == "next"),
                   "")
        url, query = ("/" + url, {}) if url else ("", {})
    return found


def tile(lon: float, lat: float, zoom: int) -> str:
    lat = max(-85.05112878, min(85.05112878, lat))
    n = 2 ** zoom
    x = min(n - 1, int((lon + 180) / 360 * n))
    y = min(n - 1, int((1 - math.log(math.tan(math.radians(lat)) + 1 / math.cos(math.radians(lat))) / math.pi)
                       / 2 * n))
    return f"{zoom}/{x}/{y}"


@pytest.mark.parametrize("params", SHAPES)
def test_every_aggregation_equals_counting_the_search(client: FlaskClient, params: dict[str, str]):
    items = every_match(client, params)
    names = ["total_count", "collection_frequency", "datetime_min", "datetime_max", "datetime_frequency",
             "geometry_geotile_grid_frequency", *TERMS]
    response = client.get("/aggregate", query_string={**params, "aggregations": ",".join(names),
                                                      "geometry_geotile_grid_frequency_precision": "3"})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["type"] == "AggregationCollection"
    result = {a["name"]: a for a in body["aggregations"]}
    assert [a["name"] for a in body["aggregations"]] == names
    assert result["total_count"]["value"] == len(items)

    def buckets(name: str) -> dict[str, int]:
        return {b["key"]: b["frequency"] for b in result[name]["buckets"]}

    assert buckets("collection_frequency") == Counter(i["collection"] for i in items)
    datetimes = sorted(i["properties"]["datetime"] for i in items if i["properties"].get("datetime"))
    assert result["datetime_min"]["value"] == (datetimes[0] if datetimes else None)
    assert result["datetime_max"]["value"] == (datetimes[-1] if datetimes else None)
    assert buckets("datetime_frequency") == Counter(d[:4] for d in datetimes)
    for name, prop in TERMS.items():
        expected: Counter[str] = Counter()
        for item in items:
            value = item["properties"].get(prop)
            for v in set(value if isinstance(value, list) else [] if value is None else [value]):
                expected[str(v)] += 1
        assert buckets(name) == expected, name
    tiles: Counter[str] = Counter()
    for item in items:
        if item.get("geometry"):
            w, s, e, n = item["bbox"][:2] + item["bbox"][-2:] if len(item["bbox"]) == 4 else \
                [item["bbox"][0], item["bbox"][1], item["bbox"][3], item["bbox"][4]]
            lon = (w + (e if e >= w else e + 360)) / 2
            tiles[tile(lon - 360 if lon > 180 else lon, (s + n) / 2, 3)] += 1
    assert buckets("geometry_geotile_grid_frequency") == tiles
    counts = [b["frequency"] for b in result["discipline_frequency"]["buckets"]]
    assert counts == sorted(counts, reverse=True)  # most frequent first


def test_collection_route_post_and_defaults(client: FlaskClient):
    studies = client.get("/collections/studies/aggregate").get_json()
    names = [a["name"] for a in studies["aggregations"]]
    assert names == ["total_count", "collection_frequency", "datetime_min", "datetime_max"]
    assert studies["aggregations"][0]["value"] == 49
    posted = client.post("/aggregate", json={"collections": ["studies"], "bbox": [119, 21, 122.5, 25.5],
                                             "aggregations": ["total_count"]}).get_json()
    got = client.get("/aggregate", query_string={"collections": "studies", "bbox": "119,21,122.5,25.5",
                                                 "aggregations": "total_count"}).get_json()
    assert posted["aggregations"] == got["aggregations"]
    assert client.get("/collections/nope/aggregate").status_code == 404


def test_aggregations_are_advertised_and_bad_requests_are_400(client: FlaskClient):
    landing = client.get("/").get_json()
    rels = {lk["rel"]: lk for lk in landing["links"]}
    assert "aggregations" in rels and "aggregate" in rels
    available = {a["name"] for a in client.get("/aggregations").get_json()["aggregations"]}
    assert set(rels["aggregate"]["aggregations"]) == available
    assert "https://api.stacspec.org/v0.3.0/aggregation" in client.get("/conformance").get_json()["conformsTo"]
    for query in ({"aggregations": "nope"}, {"aggregations": "total_count", "bbox": "1,2"},
                  {"geometry_geotile_grid_frequency_precision": "99"}, {"limitless": "1"}):
        response = client.get("/aggregate", query_string=query)
        assert response.status_code == 400 and {"code", "description"} <= set(response.get_json()), query


def test_page_parameters_are_accepted_ignored_and_documented_as_such(client: FlaskClient):
    """A search's own parameters can go to /aggregate unchanged; those that shape a page change no count, and
    the OpenAPI document says so instead of offering them as if they worked."""
    search = {"collections": "studies", "bbox": "119,21,122.5,25.5", "aggregations": "total_count,journal_frequency"}
    plain = client.get("/aggregate", query_string=search).get_json()["aggregations"]
    assert plain[0]["value"] > 1
    paged = client.get("/aggregate", query_string={**search, "limit": "1", "sortby": "-datetime",
                                                    "fields": "-properties"}).get_json()["aggregations"]
    assert paged == plain
    body = {"collections": ["studies"], "bbox": [119, 21, 122.5, 25.5], "limit": 1, "aggregations": ["total_count"]}
    assert client.post("/aggregate", json=body).get_json()["aggregations"][0]["value"] == plain[0]["value"]
    document = client.get("/api").get_json()
    for route in ("/aggregate", "/collections/{collectionId}/aggregate"):
        described = {p["name"]: p.get("description", "") for p in document["paths"][route]["get"]["parameters"]}
        for name in ("limit", "token", "sortby", "fields"):
            assert "ignored" in described[name], (route, name, described[name])
        assert "ignored" not in described["bbox"] and "ignored" not in described["datetime"]
        members = document["paths"][route]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert "ignored" in members["properties"]["limit"]["description"]
    search_limit = next(p for p in document["paths"]["/search"]["get"]["parameters"] if p["name"] == "limit")
    assert "ignored" not in search_limit.get("description", "")
