"""The clients a geoscientist already has, against the real server: pystac-client, stac-geoparquet, rustac,
geopandas and a CSV reader, with no workaround."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pystac_client
import pytest
import shapely.geometry
import shapely.wkt
import stac_geoparquet.arrow

from catalog.export import export_csv, export_geoparquet

TAIWAN = [119.0, 21.0, 122.5, 25.5]
PINGTUNG = "pingtung-2006-doublet-intraslab-stress"


def normalised(value: Any) -> Any:
    """An Item as readers give it back: nulls dropped, tuples as lists, RFC 3339 instants as datetimes."""
    if isinstance(value, dict):
        return {k: normalised(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [normalised(v) for v in value]
    if isinstance(value, str) and len(value) >= 20 and value[4] == "-" and value[10] == "T":
        try:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    return value


@pytest.fixture()
def server(catalogue_server):
    """This module's tests run against every backend (conftest ``catalogue_server``)."""
    return catalogue_server


def test_pystac_client_reads_every_collection_through_its_items_endpoint(server):
    client = pystac_client.Client.open(server.url)
    collections = list(client.get_collections())
    assert len(collections) > 50
    for collection in collections:
        # get_items() sends GET /collections/{id}/items?collections={id}: that must be accepted
        ids = [item.id for item in collection.get_items()]
        expected = server.get(f"/collections/{collection.id}/items", params={"limit": 1}).json()["numberMatched"]
        assert len(ids) == len(set(ids)) == expected, collection.id


def test_pystac_client_all_items_and_items_as_dicts(server):
    client = pystac_client.Client.open(server.url)
    everything = {item.id for item in client.get_items()}
    studies = {item.id for item in client.get_collection("studies").get_items()}
    assert studies <= everything and len(studies) == 49
    dicts = list(client.search(collections=["studies"], bbox=TAIWAN, limit=5).items_as_dicts())
    assert PINGTUNG in {d["id"] for d in dicts}
    assert all(isinstance(d["properties"], dict) for d in dicts)


def test_free_text_through_pystac_client_request_modifier(server):
    """pystac-client has no q= argument; the README's request_modifier example adds it."""
    def add_q(request):  # a requests.Request: .json for POST, .params for GET
        if request.url.endswith("/search"):
            if request.method == "POST":
                request.json = {**(request.json or {}), "q": "屏东"}
            else:
                request.params = {**(request.params or {}), "q": "屏东"}
        return request

    client = pystac_client.Client.open(server.url, request_modifier=add_q)
    for method in ("GET", "POST"):
        found = [item.id for item in client.search(collections=["studies"], method=method).items()]
        assert found == [PINGTUNG], method


def test_geoparquet_export_reads_back_into_the_same_items_with_both_readers(store, tmp_path: Path):
    import rustac

    path = tmp_path / "studies.parquet"
    result = export_geoparquet(store, path)
    items = {i["id"]: i for i in store.iter_items("studies")}
    without = sorted(i for i, doc in items.items() if doc["geometry"] is None)
    assert sorted(result.without_geometry) == without and len(without) == 2  # the two lab studies
    assert result.written == len(items) - len(without)

    table = pq.read_table(path)
    assert str(table.schema.field("datetime").type).startswith("timestamp")  # typed, not text
    assert {"type", "stac_version", "bbox", "links", "geometry"} <= set(table.schema.names)
    assert ("assets" in table.schema.names) == any(doc.get("assets") for doc in items.values())
    assert b"geo" in (table.schema.metadata or {})
    by_stac_geoparquet = {i["id"]: i for i in stac_geoparquet.arrow.stac_table_to_items(table)}
    by_rustac = {i["id"]: i for i in rustac.read_sync(str(path))["features"]}
    assert set(by_stac_geoparquet) == set(by_rustac) == set(items) - set(without)
    for item_id, back in by_stac_geoparquet.items():
        assert normalised(back) == normalised(items[item_id]), item_id
        assert normalised(by_rustac[item_id]) == normalised(items[item_id]), item_id


def test_search_as_parquet_and_csv_is_the_same_page_as_geojson(server):
    params = {"collections": "studies", "bbox": ",".join(map(str, TAIWAN)), "limit": 5}
    page = server.get("/search", params=params).json()
    ids = [f["id"] for f in page["features"]]
    assert len(ids) == 5

    parquet = server.get("/search", params={**params, "f": "parquet"})
    assert parquet.status_code == 200
    assert parquet.headers["Content-Type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(parquet.content))
    assert [i["id"] for i in stac_geoparquet.arrow.stac_table_to_items(table)] == ids
    assert 'rel="next"' in parquet.headers["Link"]

    text = server.get("/search", params={**params, "f": "csv"})
    assert text.status_code == 200 and text.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(text.content.decode("utf-8-sig"))))
    assert [r["id"] for r in rows] == ids
    by_id = {f["id"]: f for f in page["features"]}
    for row in rows:
        feature = by_id[row["id"]]
        assert shapely.wkt.loads(row["geometry_wkt"]).equals(shapely.geometry.shape(feature["geometry"]))
        assert json.loads(row["stac_item_json"]) == feature
        assert row["datetime"] == feature["properties"]["datetime"]
    assert "屏东" in text.content.decode("utf-8-sig") or PINGTUNG not in ids


def test_parquet_of_a_page_with_lab_studies_names_what_it_left_out(server):
    lab = server.get("/search", params={"collections": "studies", "limit": 100}).json()["features"]
    without = sorted(f["id"] for f in lab if f["geometry"] is None)
    assert without
    response = server.get("/search", params={"collections": "studies", "limit": 100, "f": "parquet"})
    assert response.status_code == 200
    for item_id in without:
        assert item_id in response.headers["Geostudies-Warning"]
    assert pq.read_table(io.BytesIO(response.content)).num_rows == len(lab) - len(without)


def test_empty_results_are_a_valid_empty_parquet_file(server):
    response = server.get("/search", params={"collections": "studies", "ids": "no-such-study", "f": "parquet"})
    assert response.status_code == 200
    assert pq.read_table(io.BytesIO(response.content)).num_rows == 0


def test_an_unknown_format_is_a_400_naming_the_choices(server):
    response = server.get("/search", params={"f": "xlsx"})
    assert response.status_code == 400
    assert "csv" in response.json()["description"]


def test_csv_export_keeps_chinese_text_and_every_item(store, tmp_path: Path):
    path = tmp_path / "studies.csv"
    assert export_csv(store, path) == 49
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a BOM, so that spreadsheet programs read UTF-8
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    pingtung = next(r for r in rows if r["id"] == PINGTUNG)
    assert "屏东" in pingtung["geostudies:title_zh"]
    assert float(pingtung["west"]) < 121 < float(pingtung["east"])
    assert sum(1 for r in rows if not r["geometry_wkt"]) == 2


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_items_endpoint_takes_the_format_too(server, fmt):
    response = server.get("/collections/studies/items", params={"limit": 3, "f": fmt})
    assert response.status_code == 200 and len(response.content) > 100
