"""The store contract, as executable tests: what every backend must do (``catalog/store/protocols.py``).

Each test runs against every backend in ``BACKENDS``; a new backend is added there and must pass all of
them. Documents are written by hand here, so the contract does not depend on the build.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from catalog.store import (
    RELEVANCE,
    Aggregation,
    CollectionQuery,
    Conflict,
    NotFound,
    QueryError,
    QueryTimeout,
    SearchQuery,
    Store,
    normalise_timestamp,
    open_store,
)

BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], str]] = {
    "sqlite": lambda request, tmp: str(tmp / "contract.db"),
    "sqlite-url": lambda request, tmp: f"sqlite:///{tmp / 'contract-url.db'}",
    # a fresh database per test: a copy of the migrated template (tests/pgcluster.py)
    "postgresql": lambda request, tmp: request.getfixturevalue("pg_cluster").new_database("contract"),
}


@pytest.fixture(params=sorted(BACKENDS))


def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with open_store(BACKENDS[request.param](request, tmp_path)) as opened:
        yield opened


def collection(cid: str, bbox: list[float] | None = None, interval: list[Any] | None = None,
               kind: str | None = "dataset", **extra: Any) -> dict[str, Any]:
    return {"type": "Collection", "stac_version": "1.1.0", "id": cid, "description": extra.pop("description", cid),
            "license": "CC-BY-4.0", "links": [], "geostudies:kind": kind,
            "extent": {"spatial": {"bbox": [bbox or [-180, -90, 180, 90]]},
                       "temporal": {"interval": [interval or [None, None]]}}, **extra}


def box(west: float, south: float, east: float, north: float) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[west, south], [east, south], [east, north], [west, north],
                                                [west, south]]]}


def item(iid: str, geometry: dict[str, Any] | None, start: str, end: str | None = None, cid: str = "c",
         **props: Any) -> dict[str, Any]:
    properties: dict[str, Any] = {"datetime": start, **props}
    if end:
        properties.update(start_datetime=start, end_datetime=end)
    doc: dict[str, Any] = {"type": "Feature", "stac_version": "1.1.0", "id": iid, "collection": cid,
                           "geometry": geometry, "properties": properties, "links": [], "assets": {}}
    if geometry and geometry["type"] == "MultiPolygon":
        doc["bbox"] = [179.0, -18.0, -179.0, -16.0]  # crosses the antimeridian
    return doc


FIJI = {"type": "MultiPolygon", "coordinates": [
    [[[179, -18], [180, -18], [180, -16], [179, -16], [179, -18]]],
    [[[-180, -18], [-179, -18], [-179, -16], [-180, -16], [-180, -18]]]]}


@pytest.fixture()


def filled(store: Store) -> Store:
    with store.transaction():
        store.upsert_collection(collection("c", [100, -30, 180, 40], ["2000-01-01T00:00:00Z", None],
                                           title="Scenes of Asia", keywords=["optical"]))
        store.upsert_collection(collection("d", [-10, 40, 10, 60], ["1990-01-01T00:00:00Z", "1995-12-31T00:00:00Z"],
                                           title="European gauges", description="water levels 河流"))
        store.upsert_items([
            item("taiwan", box(120, 22, 121, 23), "2006-12-26T00:00:00Z", title="Pingtung quake",
                 tags=["seismology", "taiwan"], year=2006, description="地震 屏东 earthquakes"),
            item("fiji", FIJI, "2011-01-01T00:00:00Z", "2012-01-01T00:00:00Z", title="Fiji", tags=["ocean"], year=2011),
            item("moon", box(120, 22, 121, 23), "2020-01-01T00:00:00Z", title="A lunar basin",
                 **{"geostudies:target": "moon"}),
            item("lab", None, "2015-05-05T00:00:00Z", title="Lab experiment", tags=["lab"], year=2015),
            item("gauge", box(0, 50, 1, 51), "1992-06-01T00:00:00Z", cid="d", title="Gauge", year=1992),
        ])
    return store


def ids(store: Store, **kwargs: Any) -> set[str]:
    page = store.search(SearchQuery(limit=1000, **kwargs))
    assert page.matched == len(page.items)
    return {i["id"] for i in page.items}


# -- documents in, documents out ---------------------------------------------------------------

def test_documents_come_back_exactly_as_written(filled: Store):
    assert filled.get_item("c", "taiwan")["properties"]["description"] == "地震 屏东 earthquakes"
    assert filled.get_collection("d")["extent"]["temporal"]["interval"] == [["1990-01-01T00:00:00Z",
                                                                            "1995-12-31T00:00:00Z"]]
    assert [c["id"] for c in filled.collections()] == ["c", "d"]
    assert filled.get_item("c", "nope") is None and filled.get_collection("nope") is None


def test_upserts_report_new_updated_unchanged(filled: Store):
    doc = filled.get_item("c", "taiwan")
    assert filled.upsert_items([doc]) == {"new": 0, "updated": 0, "unchanged": 1}
    doc["properties"]["title"] = "changed"
    assert filled.upsert_items([doc]) == {"new": 0, "updated": 1, "unchanged": 0}
    assert filled.get_item("c", "taiwan")["properties"]["title"] == "changed"
    assert filled.upsert_collection(filled.get_collection("c")) == "unchanged"
    assert filled.upsert_collection(collection("e")) == "new"
    assert filled.upsert_collection(collection("e", title="now with a title")) == "updated"


def test_write_modes_raise_conflict_and_not_found(filled: Store):
    with pytest.raises(Conflict):
        filled.upsert_items([filled.get_item("c", "taiwan")], mode="insert")
    with pytest.raises(NotFound):
        filled.upsert_items([item("new", None, "2000-01-01T00:00:00Z")], mode="update")
    with pytest.raises(NotFound):
        filled.upsert_items([item("orphan", None, "2000-01-01T00:00:00Z", cid="no-such-collection")])
    assert filled.upsert_items([item("new", None, "2000-01-01T00:00:00Z")], mode="insert")["new"] == 1


def test_the_same_item_twice_in_one_write_is_written_once_last_wins(filled: Store):
    first = item("twice", box(10, 10, 11, 11), "2001-01-01T00:00:00Z", title="first")
    changed = item("twice", box(20, 20, 21, 21), "2001-01-01T00:00:00Z", title="second")
    elsewhere = item("twice", None, "2001-01-01T00:00:00Z", cid="d", title="same id, other collection")
    counts = filled.upsert_items([first, dict(first), elsewhere, changed])
    assert counts == {"new": 2, "unchanged": 1, "updated": 1}
    assert filled.get_item("c", "twice")["properties"]["title"] == "second"
    assert filled.get_item("d", "twice")["properties"]["title"] == "same id, other collection"
    # one row, indexed where the last version is: the first box no longer finds it
    assert "twice" in ids(filled, bbox=[20, 20, 21, 21]) and "twice" not in ids(filled, bbox=[10, 10, 11, 11])
    assert sum(i == "twice" for i in [d["id"] for d in filled.search(SearchQuery(limit=1000)).items]) == 2
    again = item("again", None, "2001-01-01T00:00:00Z")
    with pytest.raises(Conflict):
        filled.upsert_items([again, dict(again)], mode="insert")
    assert filled.get_item("c", "again") is None  # the write is one transaction: the first did not land


def test_deletes(filled: Store):
    filled.delete_item("c", "lab")
    assert filled.get_item("c", "lab") is None and "lab" not in ids(filled)
    with pytest.raises(NotFound):
        filled.delete_item("c", "lab")
    with pytest.raises(Conflict):
        filled.delete_collection("d")
    assert filled.delete_collection("d", cascade=True) == 1
    assert filled.get_collection("d") is None and filled.get_item("d", "gauge") is None
    with pytest.raises(NotFound):
        filled.delete_collection("d")
    assert filled.delete_items("c", keep_ids={"taiwan"}) == 2
    assert [i["id"] for i in filled.iter_items("c")] == ["taiwan"]


def test_a_failed_transaction_leaves_everything_as_it_was(filled: Store):
    before = [i["id"] for i in filled.iter_items()]
    with pytest.raises(RuntimeError):
        with filled.transaction():
            filled.upsert_items([item("doomed", None, "2000-01-01T00:00:00Z")])
            filled.delete_item("c", "taiwan")
            filled.upsert_collection(collection("doomed"))
            raise RuntimeError("stop")
    assert [i["id"] for i in filled.iter_items()] == before
    assert filled.get_collection("doomed") is None
    with filled.transaction():  # a bad query inside a transaction is the caller's error, not the transaction's
        filled.upsert_items([item("kept", None, "2000-01-01T00:00:00Z")])
        with pytest.raises(QueryError):
            filled.search(SearchQuery(filter={"op": "=", "args": [{"property": "bad name;"}, 1]}))
        assert filled.search(SearchQuery(ids=["kept"])).matched == 1
    assert filled.get_item("c", "kept") is not None
    with pytest.raises(NotFound):  # a failing upsert rolls back its own earlier items too
        filled.upsert_items([item("first", None, "2000-01-01T00:00:00Z"), item("x", None, "2000-01-01T00:00:00Z",
                                                                                cid="missing")])
    assert filled.get_item("c", "first") is None


def test_counts_ids_iteration_types_values_and_last_modified(filled: Store):
    assert filled.count_items() == 5 and filled.count_items("c") == 4
    assert filled.item_ids("c", 2) == ["fiji", "lab"]
    assert [i["id"] for i in filled.iter_items("c")] == ["taiwan", "fiji", "moon", "lab"]
    types = filled.property_types("c")
    assert types["tags"] == "array" and types["year"] == "number" and types["title"] == "string"
    assert "year" in filled.property_types()
    assert filled.property_values("tags", "c") == ["lab", "ocean", "seismology", "taiwan"]
    stamp = filled.last_modified("c", "taiwan")
    assert stamp and filled.last_modified("c") >= stamp


def test_state_round_trips_json(store: Store):
    assert store.get_state("harvest:x") is None
    store.set_state("harvest:x", {"at": "2026-01-01T00:00:00Z", "n": [1, 2]})
    assert store.get_state("harvest:x") == {"at": "2026-01-01T00:00:00Z", "n": [1, 2]}
    store.set_state("harvest:a", 1)
    store.set_state("harvest_not", 2)
    assert store.state_keys("harvest:") == ["harvest:a", "harvest:x"]
    assert {"harvest:a", "harvest:x", "harvest_not"} <= set(store.state_keys())


# -- item search -------------------------------------------------------------------------------

def test_spatial_search_with_exact_geometry_antimeridian_and_bodies(filled: Store):
    assert ids(filled, bbox=[120.5, 22.5, 121.5, 23.5]) == {"taiwan"}
    assert ids(filled, bbox=[179, -18, -179, -16]) == {"fiji"}
    assert ids(filled, bbox=[-179.9, -17, -179.5, -16.5]) == {"fiji"}
    assert ids(filled, bbox=[170, -18, 175, -16]) == set()
    triangle = {"type": "Polygon", "coordinates": [[[119, 21], [120.4, 21], [119, 22.4], [119, 21]]]}
    assert ids(filled, intersects=triangle) == set()  # inside the item's bbox corner's reach, but not touching
    assert ids(filled, intersects={"type": "Point", "coordinates": [120.5, 22.5]}) == {"taiwan"}
    assert "moon" not in ids(filled, bbox=[-180, -90, 180, 90])
    assert ids(filled, bbox=[119, 21, 122, 24], target="moon") == {"moon"}
    assert "lab" not in ids(filled, bbox=[-180, -90, 180, 90])


def test_bbox_searches_are_exact_on_the_geometry_whatever_the_declared_bbox(store: Store):
    """A tilted footprint whose bbox meets the search box but whose polygon does not is not a match; an
    Item whose declared bbox is too small is still found on its geometry."""
    store.upsert_collection(collection("c"))
    tilted = {"type": "Polygon", "coordinates": [[[10, 10], [12, 10], [10, 12], [10, 10]]]}  # bbox 10..12
    small = {**item("small-bbox", box(20, 20, 24, 24), "2020-01-01T00:00:00Z"), "bbox": [20, 20, 21, 21]}
    store.upsert_items([item("tilted", tilted, "2020-01-01T00:00:00Z"), small,
                        item("inside", box(30, 30, 31, 31), "2020-01-01T00:00:00Z")])
    assert ids(store, bbox=[11.5, 11.5, 13, 13]) == set()            # the bbox corner, not the triangle
    assert ids(store, bbox=[10.5, 10.5, 13, 13]) == {"tilted"}
    assert ids(store, bbox=[23, 23, 25, 25]) == {"small-bbox"}      # outside the declared bbox, on the polygon
    assert ids(store, bbox=[19, 19, 25, 25]) == {"small-bbox"}
    assert ids(store, bbox=[29, 29, 32, 32], datetime=(normalise_timestamp("2019-01-01T00:00:00Z"),
                                                      normalise_timestamp("2021-01-01T00:00:00Z"))) == {"inside"}
    assert ids(store, bbox=[29, 29, 32, 32], datetime=(normalise_timestamp("2021-01-01T00:00:00Z"), None)) == set()


def test_time_ids_collections_and_text(filled: Store):
    y2011 = (normalise_timestamp("2011-06-01T00:00:00Z"), normalise_timestamp("2011-07-01T00:00:00Z"))
    assert ids(filled, datetime=y2011) == {"fiji"}
    assert ids(filled, datetime=(None, normalise_timestamp("2000-01-01T00:00:00Z"))) == {"gauge"}
    assert ids(filled, bbox=[-180, -90, 180, 90], datetime=y2011) == {"fiji"}
    assert ids(filled, ids=["taiwan", "gauge"], collections=["d"]) == {"gauge"}
    assert ids(filled, q=["earthquake"]) == {"taiwan"}  # stemmed
    assert ids(filled, q=["屏东"]) == {"taiwan"} and ids(filled, q=["东屏"]) == set()
    assert ids(filled, q=["fiji", "lunar"]) == {"fiji", "moon"}  # OR between terms
    assert ids(filled, q=['"); DROP TABLE items; --']) == set()


def test_cql2_filters(filled: Store):
    contains = {"op": "a_contains", "args": [{"property": "tags"}, ["seismology"]]}
    assert ids(filled, filter=contains) == {"taiwan"}
    equals = {"op": "a_equals", "args": [{"property": "tags"}, ["taiwan", "seismology"]]}
    assert ids(filled, filter=equals) == {"taiwan"}
    assert ids(filled, filter={"op": "a_equals", "args": [{"property": "tags"}, ["taiwan"]]}) == set()
    after = {"op": ">=", "args": [{"property": "year"}, 2011]}
    assert ids(filled, filter=after) == {"fiji", "lab"}
    spatial = {"op": "s_intersects", "args": [{"property": "geometry"}, box(0, 50, 2, 52)]}
    assert ids(filled, filter=spatial) == {"gauge"}
    temporal = {"op": "t_intersects", "args": [{"property": "datetime"},
                                               {"interval": ["2011-03-01T00:00:00Z", "2011-04-01T00:00:00Z"]}]}
    assert ids(filled, filter=temporal) == {"fiji"}
    for interval in (["2011-12-01T00:00:00Z", "2013-01-01T00:00:00Z"], ["2010-06-01T00:00:00Z", "2011-02-01T00:00:00Z"],
                     ["2011-12-31T00:00:00Z", ".."]):  # overlapping either end of fiji's 2011-01-01/2012-01-01
        overlapping = {"op": "t_intersects", "args": [{"property": "datetime"}, {"interval": interval}]}
        assert "fiji" in ids(filled, filter=overlapping), interval
    before = {"op": "t_intersects", "args": [{"property": "datetime"},
                                             {"interval": ["2009-01-01T00:00:00Z", "2010-12-31T00:00:00Z"]}]}
    assert "fiji" not in ids(filled, filter=before)
    instant = {"op": "t_intersects", "args": [{"property": "datetime"}, {"timestamp": "2011-06-01T00:00:00Z"}]}
    assert ids(filled, filter=instant) == {"fiji"}
    evil = {"op": "=", "args": [{"property": "title"}, "x' OR '1'='1"]}
    assert ids(filled, filter=evil) == set()
    with pytest.raises(QueryError):
        filled.search(SearchQuery(filter={"op": "=", "args": [{"property": "x') OR 1=1 --"}, 1]}))


def test_sort_and_keyset_paging_both_ways(filled: Store):
    seen, token, pages = [], None, []
    while True:
        page = filled.search(SearchQuery(limit=2, token=token, sortby=[("datetime", False)]))
        assert page.matched == 5
        pages.append(page)
        seen += [i["id"] for i in page.items]
        token = page.next_token
        if not token:
            break
    assert seen == ["moon", "lab", "fiji", "taiwan", "gauge"]
    back = filled.search(SearchQuery(limit=2, token=pages[-1].prev_token, sortby=[("datetime", False)]))
    assert [i["id"] for i in back.items] == [i["id"] for i in pages[-2].items]
    by_year = filled.search(SearchQuery(limit=10, sortby=[("year", True)], collections=["c"]))
    assert [i["id"] for i in by_year.items] == ["taiwan", "fiji", "lab", "moon"]  # no value: last when ascending


def test_newest_first_pages_cover_every_match_once_in_order(filled: Store):
    truth = sorted(filled.iter_items(), key=lambda i: i["properties"]["datetime"], reverse=True)
    for conditions in ({}, {"collections": ["c"]}, {"bbox": [-180, -90, 180, 90], "target": "earth"}):
        expected = [i["id"] for i in truth if ids_match(i, conditions)]
        seen, token = [], None
        while True:
            page = filled.search(SearchQuery(limit=2, token=token, sortby=[("datetime", False)], **conditions))
            seen += [i["id"] for i in page.items]
            token = page.next_token
            if not token:
                break
        assert seen == expected, conditions


def ids_match(item: dict[str, Any], conditions: dict[str, Any]) -> bool:
    if "collections" in conditions:
        return item["collection"] in conditions["collections"]
    if "bbox" in conditions:  # the whole Earth: every Earth item with a geometry
        return item["geometry"] is not None and item["properties"].get("geostudies:target", "earth") == "earth"
    return True


def test_aggregations_count_what_the_search_matches(filled: Store):
    specs = {"n": Aggregation("count"), "tags": Aggregation("terms", "tags"), "cid": Aggregation("terms", "collection"),
             "years": Aggregation("interval", "datetime", "year"), "first": Aggregation("min", "datetime"),
             "last": Aggregation("max", "datetime"), "tiles": Aggregation("geotile", precision=1)}
    everything = filled.aggregate(SearchQuery(), specs)
    assert everything["n"].value == 5
    assert {b.key: b.frequency for b in everything["tags"].buckets} == {"seismology": 1, "taiwan": 1, "ocean": 1,
                                                                       "lab": 1}
    assert {b.key: b.frequency for b in everything["cid"].buckets} == {"c": 4, "d": 1}
    assert [(b.key, b.frequency) for b in everything["years"].buckets] == [
        ("1992", 1), ("2006", 1), ("2011", 1), ("2015", 1), ("2020", 1)]
    assert everything["first"].value == "1992-06-01T00:00:00Z" and everything["last"].value == "2020-01-01T00:00:00Z"
    # zoom 1: taiwan, the moon box and the gauge (0.5 E) in the north-east tile, fiji (centred on 180) south-east;
    # the lab item has no geometry
    assert {b.key: b.frequency for b in everything["tiles"].buckets} == {"1/1/0": 3, "1/1/1": 1}
    asia = filled.aggregate(SearchQuery(bbox=[100, 0, 140, 40]), {"n": Aggregation("count")})
    assert asia["n"].value == filled.search(SearchQuery(bbox=[100, 0, 140, 40], limit=100)).matched == 1
    with pytest.raises(QueryError):
        filled.aggregate(SearchQuery(), {"bad": Aggregation("terms", "no such; property")})


def _pages(store: Store, **kwargs: Any) -> tuple[list[str], list[Any]]:
    """Every id of a search, page by page through the next tokens, and the pages."""
    seen: list[str] = []
    pages: list[Any] = []
    token = None
    while True:
        page = store.search(SearchQuery(token=token, **kwargs))
        pages.append(page)
        seen += [i["id"] for i in page.items]
        token = page.next_token
        if not token:
            return seen, pages


@pytest.fixture()


def areas(store: Store) -> Store:
    """Studies of known areas around a query box [0, 0, 10, 10]: inside, half inside, around it, global."""
    store.upsert_collection(collection("s"))
    rows = [("site", box(1, 1, 2, 2), 12_300.0), ("region", box(2, 2, 8, 8), 442_000.0),
            ("half", box(5, 0, 15, 10), 1_230_000.0), ("around", box(-20, -20, 30, 30), 30_500_000.0),
            ("global-a", box(-180, -90, 180, 90), 510_065_621.7), ("global-b", box(-180, -90, 180, 90), 510_065_621.7),
            ("far", box(100, 40, 101, 41), 9_400.0), ("lab", None, None)]
    store.upsert_items([item(i, g, "2020-01-01T00:00:00Z", cid="s", **{"geostudies:area_km2": a})
                        for i, g, a in rows])
    return store


def test_relevance_is_the_share_inside_the_query_area_then_the_smallest_area(areas: Store):
    order, _ = _pages(areas, bbox=[0, 0, 10, 10], sortby=[(RELEVANCE, False)], limit=2)
    # site and region lie wholly inside (100 %: the smaller first), then half, around, the two globals
    assert order == ["site", "region", "half", "around", "global-a", "global-b"]
    reverse, _ = _pages(areas, bbox=[0, 0, 10, 10], sortby=[(RELEVANCE, True)], limit=4)
    assert reverse == order[::-1]
    shape = box(-1, -1, 11, 11)
    assert [i["id"] for i in areas.search(SearchQuery(intersects=shape, sortby=[(RELEVANCE, False)])).items] \
        == order
    _, pages = _pages(areas, bbox=[0, 0, 10, 10], sortby=[(RELEVANCE, False)], limit=2)
    back = areas.search(SearchQuery(bbox=[0, 0, 10, 10], sortby=[(RELEVANCE, False)], limit=2,
                                    token=pages[-1].prev_token))
    assert [i["id"] for i in back.items] == [i["id"] for i in pages[-2].items]
    with pytest.raises(QueryError, match="bbox or intersects"):
        areas.search(SearchQuery(sortby=[(RELEVANCE, False)]))


def test_sort_by_area_both_ways_pages_with_tokens(areas: Store):
    up, _ = _pages(areas, sortby=[("geostudies:area_km2", True)], limit=3)
    assert up == ["far", "site", "region", "half", "around", "global-a", "global-b", "lab"]  # no area: last
    down, pages = _pages(areas, sortby=[("geostudies:area_km2", False)], limit=3)
    assert down == up[::-1]
    back = areas.search(SearchQuery(sortby=[("geostudies:area_km2", False)], limit=3, token=pages[-1].prev_token))
    assert [i["id"] for i in back.items] == [i["id"] for i in pages[-2].items]
    small = {"op": "<", "args": [{"property": "geostudies:area_km2"}, 500_000]}
    assert ids(areas, filter=small) == {"far", "site", "region"}


def test_an_item_whose_datetime_is_not_its_data_time_matches_no_datetime_window(filled: Store):
    filled.upsert_items([item("deep", box(120, 22, 121, 23), "2024-05-01T00:00:00Z",
                              **{"geostudies:datetime_is_publication_date": True})])
    for window in (("2024-01-01T00:00:00Z", "2024-12-31T23:59:59Z"), ("2024-01-01T00:00:00Z", None),
                   (None, "2030-01-01T00:00:00Z"), ("2024-05-01T00:00:00Z", "2024-05-01T00:00:00Z")):
        stored = tuple(normalise_timestamp(v) if v else None for v in window)
        assert "deep" not in ids(filled, datetime=stored), window
        assert "deep" not in ids(filled, bbox=[119, 21, 122, 24], datetime=stored), window
    assert "deep" in ids(filled, bbox=[119, 21, 122, 24])  # found by everything else
    published = {"op": "=", "args": [{"property": "datetime"}, {"timestamp": "2024-05-01T00:00:00Z"}]}
    assert ids(filled, filter=published) == {"deep"}  # the property itself is still its value


def test_bad_tokens_are_query_errors(filled: Store):
    for token in ("not-a-token", "eyJkIjogMX0", "e30"):
        with pytest.raises(QueryError):
            filled.search(SearchQuery(token=token))


# -- collection search -------------------------------------------------------------------------

def test_collection_search_by_extent_text_and_page(filled: Store):
    def found(**kwargs: Any) -> list[str]:
        return [c["id"] for c in filled.search_collections(CollectionQuery(limit=100, **kwargs)).collections]

    assert found(bbox=[0, 45, 5, 50]) == ["d"]
    assert found(bbox=[170, 0, -170, 10]) == ["c"]  # crosses the antimeridian
    assert found(datetime=(normalise_timestamp("1991-01-01T00:00:00Z"), normalise_timestamp("1991-02-01T00:00:00Z"))) \
        == ["d"]
    assert found(q=["asia"]) == ["c"] and found(q=["河流"]) == ["d"] and found(q=["optical", "gauges"]) == ["c", "d"]
    page = filled.search_collections(CollectionQuery(limit=1, offset=1))
    assert page.matched == 2 and [c["id"] for c in page.collections] == ["d"]


def test_readers_in_threads_see_committed_writes(filled: Store):
    results: list[set[str]] = []

    def read() -> None:
        results.append(ids(filled, collections=["c"]))

    filled.upsert_items([item("late", None, "2000-01-01T00:00:00Z")])
    thread = threading.Thread(target=read)
    thread.start()
    thread.join()
    assert results == [{"taiwan", "fiji", "moon", "lab", "late"}]


def test_a_search_over_its_time_limit_stops_with_query_timeout_and_the_store_goes_on(store: Store):
    store.upsert_collection(collection("many"))
    store.upsert_items([item(f"m{i}", box(i % 350 - 175, i % 170 - 85, i % 350 - 174, i % 170 - 84),
                             "2020-01-01T00:00:00Z", cid="many", title=f"scene {i}") for i in range(4000)])
    slow = SearchQuery(filter={"op": "like", "args": [{"property": "title"}, "%9%9%9%"]}, limit=10, timeout=0.001)
    with pytest.raises(QueryTimeout) as stopped:
        store.search(slow)
    assert "time limit" in str(stopped.value)
    # Given time, the same search answers (the store is not left in a broken state).
    slow.timeout = 60
    page = store.search(slow)
    assert page.matched == sum(1 for i in range(4000) if "9" in str(i) and str(i).count("9") >= 3)
