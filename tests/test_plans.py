"""Query plans of the SQLite store, per query shape: the index that should narrow a search does, whatever else
the search carries (a regression here is what made /search slow at 10^6 items with collections=)."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from catalog.store import RELEVANCE, SearchQuery, normalise_timestamp, open_store

WINDOW = (normalise_timestamp("2020-01-01T00:00:00Z"), normalise_timestamp("2020-06-30T00:00:00Z"))
CLOUDY = {"op": "<", "args": [{"property": "eo:cloud_cover"}, 10]}
BOX = [10.0, 40.0, 13.0, 43.0]


@pytest.fixture(scope="module")


def store(tmp_path_factory: pytest.TempPathFactory):
    path = Path(tmp_path_factory.mktemp("plans")) / "plans.db"
    rng = random.Random(7)
    with open_store(path) as s:
        for cid in ("scenes-a", "scenes-b"):
            s.upsert_collection({"type": "Collection", "id": cid, "stac_version": "1.1.0", "description": cid,
                                 "license": "other", "links": [], "extent": {
                                     "spatial": {"bbox": [[-180, -90, 180, 90]]},
                                     "temporal": {"interval": [[None, None]]}}})
        docs = []
        for i in range(3000):
            x, y = rng.uniform(-170, 169), rng.uniform(-80, 79)
            docs.append({"type": "Feature", "stac_version": "1.1.0", "id": f"s{i}",
                         "collection": "scenes-a" if i % 3 else "scenes-b", "bbox": [x, y, x + 1, y + 1],
                         "geometry": {"type": "Polygon", "coordinates": [[[x, y], [x + 1, y], [x + 1, y + 1],
                                                                          [x, y + 1], [x, y]]]},
                         "properties": {"datetime": f"20{16 + i % 9}-0{1 + i % 9}-01T00:00:00Z",
                                        "eo:cloud_cover": i % 100, "geostudies:area_km2": 1000.0 + i % 500,
                                        **({"geostudies:datetime_is_publication_date": True} if i % 7 == 0
                                           else {})}, "assets": {}, "links": []})
        s.upsert_items(docs)
        s.conn.execute("ANALYZE")
        yield s


def plans(store, **kwargs) -> dict[str, str]:
    return {name: " | ".join(steps) for name, steps in store.explain(SearchQuery(**kwargs)).items()}


@pytest.mark.parametrize("shape", [
    {"bbox": BOX},
    {"bbox": BOX, "datetime": WINDOW},
    {"bbox": BOX, "collections": ["scenes-a"]},
    {"bbox": BOX, "collections": ["scenes-a", "scenes-b"], "datetime": WINDOW},
    {"bbox": [170, -10, -170, 10], "collections": ["scenes-b"]},  # across the antimeridian
    {"intersects": {"type": "Point", "coordinates": [11, 41]}, "collections": ["scenes-a"], "datetime": WINDOW},
    {"bbox": BOX, "collections": ["scenes-a"], "filter": CLOUDY},
    {"bbox": BOX, "collections": ["scenes-a"], "sortby": [("eo:cloud_cover", True)]},
    {"bbox": BOX, "collections": ["scenes-a"], "ids": ["s1", "s2"]},
    {"bbox": BOX, "sortby": [("datetime", False)], "datetime": WINDOW},
    {"bbox": BOX, "sortby": [(RELEVANCE, False)]},
    {"bbox": BOX, "collections": ["scenes-a"], "sortby": [(RELEVANCE, False)], "datetime": WINDOW},
    {"intersects": {"type": "Point", "coordinates": [11, 41]}, "sortby": [(RELEVANCE, True)]},
    {"bbox": BOX, "sortby": [("geostudies:area_km2", True)]},
    {"bbox": BOX, "collections": ["scenes-a"], "sortby": [("geostudies:area_km2", False)]},
])


def test_every_spatial_search_is_driven_by_the_space_time_collection_index(store, shape):
    for name, plan in plans(store, **shape).items():
        assert "items_rtree4 VIRTUAL TABLE INDEX" in plan, (name, plan)
        assert "USING INDEX items_collection" not in plan and "USING INDEX items_datetime" not in plan, plan
        assert "SCAN items " not in plan + " " and not plan.startswith("SCAN items"), (name, plan)


def test_other_shapes_have_an_index_too(store):
    assert "items_datetime" in plans(store, datetime=WINDOW)["count"]
    assert "items_datetime" in plans(store, datetime=WINDOW)["page"]
    assert "items_collection" in plans(store, collections=["scenes-a"])["page"]  # deep paging, no sort
    assert "TEMP B-TREE" not in plans(store, collections=["scenes-a"])["page"]
    assert "items_id" in plans(store, ids=["s1"])["page"]
    # newest first (pgstac's default order) over a whole listing is an index walk, not a sort of the catalogue
    newest = plans(store, sortby=[("datetime", False)])["page"]
    assert "items_datetime" in newest and "TEMP B-TREE" not in newest
    for ascending in (True, False):  # sorting the whole catalogue by area walks its index: no sort step
        page = plans(store, sortby=[("geostudies:area_km2", ascending)])["page"]
        assert "items_area" in page and "TEMP B-TREE" not in page, page


def test_a_page_sorted_by_area_or_relevance_is_what_brute_force_gives(store):
    everything = list(store.iter_items())
    inside = [d for d in everything if d["bbox"][0] <= BOX[2] and d["bbox"][2] >= BOX[0]
              and d["bbox"][1] <= BOX[3] and d["bbox"][3] >= BOX[1]]
    page = store.search(SearchQuery(bbox=BOX, sortby=[("geostudies:area_km2", False)], limit=1000))
    areas = [d["properties"]["geostudies:area_km2"] for d in page.items]
    assert len(areas) == len(inside) and areas == sorted(areas, reverse=True)
    by_relevance = store.search(SearchQuery(bbox=BOX, sortby=[(RELEVANCE, False)], limit=1000)).items
    assert {d["id"] for d in by_relevance} == {d["id"] for d in inside}
    within = [d["id"] for d in inside if BOX[0] <= d["bbox"][0] and d["bbox"][2] <= BOX[2]
              and BOX[1] <= d["bbox"][1] and d["bbox"][3] <= BOX[3]]
    assert {d["id"] for d in by_relevance[:len(within)]} == set(within)  # wholly inside the box: first


def test_a_property_filter_has_a_plan_once_the_property_is_indexed(store):
    assert plans(store, filter=CLOUDY)["count"].startswith("SCAN items")
    index = store.index_property("eo:cloud_cover")
    for plan in plans(store, filter=CLOUDY).values():
        assert index in plan, plan
    page = store.search(SearchQuery(filter=CLOUDY, limit=1000))
    assert page.matched == sum(1 for i in range(3000) if i % 100 < 10) == len(page.items)


def _leaf_widths(conn) -> list[float]:
    """Longitude width spanned by the boxes of each R*Tree leaf (items_rtree4_rowid maps entries to leaves)."""
    rows = conn.execute("SELECT p.nodeno, min(r.minx), max(r.maxx) FROM items_rtree4 r "
                        "JOIN items_rtree4_rowid p ON p.rowid = r.id GROUP BY p.nodeno").fetchall()
    return [hi - lo for _, lo, hi in rows]


def test_boxes_arriving_in_time_order_still_make_a_local_tree(tmp_path: Path):
    """Scenes arrive in time order from all over the globe; inserted that way, every R*Tree leaf spans the
    globe and a small search visits most of the tree. Written in one call, they go in along a Hilbert curve."""
    rng = random.Random(3)
    with open_store(tmp_path / "order.db") as s:
        s.upsert_collection({"type": "Collection", "id": "scenes", "stac_version": "1.1.0", "description": "s",
                             "license": "other", "links": [], "extent": {
                                 "spatial": {"bbox": [[-180, -90, 180, 90]]},
                                 "temporal": {"interval": [[None, None]]}}})
        docs = []
        for i in range(4000):
            x, y = rng.uniform(-179, 178), rng.uniform(-80, 79)
            day = f"2020-{1 + i // 400:02d}-{1 + (i // 14) % 28:02d}T00:00:{i % 60:02d}Z"  # time order
            docs.append({"type": "Feature", "stac_version": "1.1.0", "id": f"t{i}", "collection": "scenes",
                         "bbox": [x, y, x + 1, y + 1], "geometry": {"type": "Point", "coordinates": [x + .5, y + .5]},
                         "properties": {"datetime": day}, "assets": {}, "links": []})
        s.upsert_items(docs[:3000])
        s.upsert_items(docs[3000:])  # a second write joins the tree without spoiling it
        widths = sorted(_leaf_widths(s.conn))
        assert len(widths) > 20
        assert widths[len(widths) // 2] < 120, widths  # arrival order: leaves ~350 degrees wide
        inside = {d["id"] for d in docs if all(0 <= c <= 20 for c in d["geometry"]["coordinates"])}
        page = s.search(SearchQuery(bbox=[0, 0, 20, 20], limit=1000))
        assert inside and {d["id"] for d in page.items} == inside and page.matched == len(inside)


def test_boxes_wait_for_the_transaction_yet_its_own_searches_see_them(tmp_path: Path):
    with open_store(tmp_path / "wait.db") as s:
        s.upsert_collection({"type": "Collection", "id": "c", "stac_version": "1.1.0", "description": "c",
                             "license": "other", "links": [], "extent": {
                                 "spatial": {"bbox": [[-180, -90, 180, 90]]},
                                 "temporal": {"interval": [[None, None]]}}})

        def item(i: int) -> dict:
            return {"type": "Feature", "stac_version": "1.1.0", "id": f"i{i}", "collection": "c",
                    "bbox": [i, 0, i + 1, 1], "geometry": {"type": "Point", "coordinates": [i + .5, .5]},
                    "properties": {"datetime": "2020-01-01T00:00:00Z"}, "assets": {}, "links": []}

        with s.transaction():
            s.upsert_items([item(1), item(2)])
            assert s.search(SearchQuery(bbox=[0, 0, 5, 1])).matched == 2  # before the commit
            s.upsert_items([item(3)])
        with pytest.raises(RuntimeError), s.transaction():
            s.upsert_items([item(4)])
            raise RuntimeError("abandoned")
        s.upsert_items([item(2)])  # unchanged, and nothing of the abandoned write comes back with it
        assert sorted(d["id"] for d in s.search(SearchQuery(bbox=[0, 0, 9, 1])).items) == ["i1", "i2", "i3"]
        assert s.conn.execute("SELECT count(*) FROM temp.pending_boxes").fetchone()[0] == 0
        assert s.conn.execute("SELECT count(*) FROM items_rtree4").fetchone()[0] == 3


@pytest.mark.parametrize("cap", [1, 5, 1000])


def test_counts_are_exact_whether_the_first_page_holds_every_match_or_not(store, monkeypatch, cap):
    import catalog.store.sqlite as sqlite_store

    monkeypatch.setattr(sqlite_store, "COUNT_WITH_PAGE", cap)
    everything = {d["id"]: d for d in store.iter_items()}
    for bbox in ([0, 0, 40, 40], [10, 40, 13, 43], [-170, -80, 170, 80]):
        truth = [i for i, d in everything.items() if d["bbox"][0] <= bbox[2] and d["bbox"][2] >= bbox[0]
                 and d["bbox"][1] <= bbox[3] and d["bbox"][3] >= bbox[1]]
        page = store.search(SearchQuery(bbox=bbox, limit=3))
        assert page.matched == len(truth) and len(page.items) == min(3, len(truth))
        assert (page.next_token is not None) == (len(truth) > 3)


def _scenes(n: int, seed: int, prefix: str = "b") -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        x, y = rng.uniform(-170, 169), rng.uniform(-80, 79)
        out.append({"type": "Feature", "stac_version": "1.1.0", "id": f"{prefix}{i}", "collection": "scenes-a",
                    "bbox": [x, y, x + 1, y + 1], "geometry": {"type": "Polygon", "coordinates": [
                        [[x, y], [x + 1, y], [x + 1, y + 1], [x, y + 1], [x, y]]]},
                    "properties": {"datetime": f"20{16 + i % 9}-0{1 + i % 9}-01T00:00:00Z",
                                   "eo:cloud_cover": i % 100}, "assets": {}, "links": []})
    return out


def _indexes(conn) -> list[tuple[str, str]]:
    return conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'items' "
                        "ORDER BY name").fetchall()


def test_a_bulk_write_builds_the_indexes_after_the_rows_and_ends_with_the_same_indexes_and_plans(
        store, tmp_path: Path, monkeypatch):
    from catalog.store import sqlite as sqlite_store

    monkeypatch.setattr(sqlite_store, "BULK_ITEMS", 100)  # the threshold, not the mechanism, is scaled down
    path = tmp_path / "bulk.db"
    with open_store(path) as bulk, open_store(tmp_path / "rows.db") as by_row:
        for s in (bulk, by_row):
            s.upsert_collection({"type": "Collection", "id": "scenes-a", "stac_version": "1.1.0", "description": "a",
                                 "license": "other", "links": [], "extent": {
                                     "spatial": {"bbox": [[-180, -90, 180, 90]]},
                                     "temporal": {"interval": [[None, None]]}}})
        before = _indexes(bulk.conn)
        dropped: list[int] = []
        with bulk.transaction(), bulk.bulk_write(500):
            dropped.append(len(_indexes(bulk.conn)))
            bulk.upsert_items(_scenes(500, 3))
        by_row.upsert_items(_scenes(500, 3))
        assert dropped[0] < len(before)  # the secondary indexes were gone while the rows went in
        assert _indexes(bulk.conn) == before == _indexes(by_row.conn)
        assert bulk.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        query = SearchQuery(bbox=BOX, collections=["scenes-a"], sortby=[("datetime", False)], limit=50)
        assert [i["id"] for i in bulk.search(query).items] == [i["id"] for i in by_row.search(query).items]
        # Fewer items coming than are stored already: nothing is dropped (rebuilding would cost more).
        with bulk.transaction(), bulk.bulk_write(200):
            assert _indexes(bulk.conn) == before


def test_a_failed_bulk_write_rolls_back_with_its_indexes_intact(tmp_path: Path, monkeypatch):
    from catalog.store import sqlite as sqlite_store

    monkeypatch.setattr(sqlite_store, "BULK_ITEMS", 100)
    with open_store(tmp_path / "bulk.db") as s:
        s.upsert_collection({"type": "Collection", "id": "scenes-a", "stac_version": "1.1.0", "description": "a",
                             "license": "other", "links": [], "extent": {
                                 "spatial": {"bbox": [[-180, -90, 180, 90]]},
                                 "temporal": {"interval": [[None, None]]}}})
        before = _indexes(s.conn)
        with pytest.raises(RuntimeError), s.transaction(), s.bulk_write(1000):
            s.upsert_items(_scenes(300, 5))
            raise RuntimeError("the load failed half-way")
        assert _indexes(s.conn) == before and s.count_items() == 0
        # Caught inside the transaction, which then commits: the indexes are back before the commit.
        with s.transaction():
            try:
                with s.bulk_write(1000):
                    s.upsert_items(_scenes(300, 5))
                    raise RuntimeError("caught by the caller")
            except RuntimeError:
                pass
        assert _indexes(s.conn) == before and s.count_items() == 300


def test_the_load_estimates_how_many_items_a_file_holds_from_its_first_lines(tmp_path: Path):
    import orjson

    from catalog.load import expected_lines

    path = tmp_path / "items.ndjson"
    path.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in _scenes(2000, 9)))
    assert 1800 <= expected_lines(path) <= 2200
    (tmp_path / "empty.ndjson").write_bytes(b"")
    assert expected_lines(tmp_path / "empty.ndjson") == 0


def test_big_sorts_leave_the_connection_as_they_found_it(tmp_path: Path, monkeypatch):
    from catalog.store import sqlite as sqlite_store
    from catalog.store import sqlite_schema

    # The thresholds, not the mechanism, are scaled down: the index rebuild and the packed boxes both sort in pieces.
    monkeypatch.setattr(sqlite_store, "BULK_ITEMS", 100)
    monkeypatch.setattr(sqlite_schema, "REPACK_AT", 100)
    with open_store(tmp_path / "sorts.db") as s:
        s.upsert_collection({"type": "Collection", "id": "scenes-a", "stac_version": "1.1.0", "description": "a",
                             "license": "other", "links": [], "extent": {
                                 "spatial": {"bbox": [[-180, -90, 180, 90]]},
                                 "temporal": {"interval": [[None, None]]}}})
        settings = [s.conn.execute(f"PRAGMA {name}").fetchone()[0] for name in ("cache_size", "threads")]
        seen: list[object] = []
        real = sqlite_schema.sorting_in_pieces

        def watched(conn):
            seen.append(conn)
            return real(conn)

        monkeypatch.setattr(sqlite_schema, "sorting_in_pieces", watched)
        monkeypatch.setattr(sqlite_store, "sorting_in_pieces", watched)
        with s.bulk_write(300):
            s.upsert_items(_scenes(300, 6))
        assert len(seen) == 2  # the indexes after the rows, then the boxes at the commit
        assert [s.conn.execute(f"PRAGMA {name}").fetchone()[0] for name in ("cache_size", "threads")] == settings
        assert s.count_items() == 300 and s.conn.execute("SELECT rtreecheck('items_rtree4')").fetchone()[0] == "ok"
