"""Store queries: spatial (R*Tree + exact geometry), antimeridian, bodies, text (English/Chinese), time."""
from __future__ import annotations

from pathlib import Path

import pytest

from catalog.build import build
from catalog.store import QueryError, SearchQuery, StoreError, normalise_timestamp, open_store
from catalog.store.sqlite_schema import SCHEMA_VERSION


@pytest.fixture()
def small_store(small_records: Path, tmp_path: Path):
    store = open_store(tmp_path / "small.db")
    build(store, small_records, schemas=False)
    return store


def ids(store, **kwargs) -> set[str]:
    page = store.search(SearchQuery(limit=1000, **kwargs))
    assert page.matched == len(page.items)
    return {i["id"] for i in page.items}


def test_bbox_finds_the_study_inside_and_nothing_elsewhere(small_store):
    assert ids(small_store, bbox=[120, 22, 121, 22.5]) == {"taiwan-quake"}
    assert ids(small_store, bbox=[0, 0, 1, 1]) == set()


def test_exact_geometry_is_checked_after_the_bbox_index(small_store):
    # Between the two sites: inside the MultiPolygon's bbox but touching neither part.
    assert ids(small_store, bbox=[14, 45.2, 16, 45.8]) == set()
    assert ids(small_store, bbox=[10.5, 45.2, 10.6, 45.8]) == {"two-sites"}


def test_polygon_intersects(small_store):
    triangle = {"type": "Polygon", "coordinates": [[[120, 20], [123, 20], [120, 22.5], [120, 20]]]}
    assert ids(small_store, intersects=triangle) == {"taiwan-quake"}
    point = {"type": "Point", "coordinates": [20.5, 45.5]}
    assert ids(small_store, intersects=point) == {"two-sites"}


def test_antimeridian_crossing_bbox_and_item(small_store):
    assert ids(small_store, bbox=[179, -18, -179, -16]) == {"fiji-antimeridian"}
    assert ids(small_store, bbox=[179.5, -18, 179.9, -16]) == {"fiji-antimeridian"}
    assert ids(small_store, bbox=[-179.9, -18, -179.5, -16]) == {"fiji-antimeridian"}
    assert ids(small_store, bbox=[170, -18, 175, -16]) == set()


def test_other_bodies_never_match_an_earth_query_unless_asked(small_store):
    # moon-basin lies at the same lon/lat as Taiwan, but on the Moon.
    assert "moon-basin" not in ids(small_store, bbox=[119, 21, 122, 24])
    assert ids(small_store, bbox=[119, 21, 122, 24], target="moon") == {"moon-basin"}


def test_lab_studies_without_geometry_never_match_spatial_queries(small_store):
    assert "lab-experiment" not in ids(small_store, bbox=[-180, -90, 180, 90])
    assert "lab-experiment" in ids(small_store)


def test_free_text_english_and_chinese(small_store):
    assert ids(small_store, q=["earthquake"]) == {"taiwan-quake"}
    assert ids(small_store, q=["earthquakes"]) == {"taiwan-quake"}  # stemmed
    assert ids(small_store, q=["屏东"]) == {"taiwan-quake"}
    assert ids(small_store, q=["地震"]) == {"taiwan-quake"}
    assert ids(small_store, q=["东屏"]) == set()  # the characters, but not as a term
    assert ids(small_store, q=["glacier", "月球"]) == {"two-sites", "moon-basin"}  # comma = OR
    assert ids(small_store, q=['"); DROP TABLE items; --']) == set()


def test_time_ranges(small_store):
    assert ids(small_store, datetime=("2006-12-27T12:00:00.000000Z", "2006-12-27T12:00:00.000000Z")) \
        >= {"taiwan-quake"}
    assert "taiwan-quake" not in ids(small_store, datetime=("2007-01-01T00:00:00.000000Z", None))
    assert ids(small_store, datetime=("2011-01-01T00:00:00.000000Z", "2011-02-01T00:00:00.000000Z")) == \
        {"fiji-antimeridian", "two-sites"}


def test_cql2_filters_are_parameterised_and_checked(small_store):
    flt = {"op": "a_contains", "args": [{"property": "geostudies:datasets"}, ["demo-events"]]}
    assert ids(small_store, filter=flt) == {"taiwan-quake"}
    evil = {"op": "=", "args": [{"property": "title"}, "x' OR '1'='1"]}
    assert ids(small_store, filter=evil) == set()
    with pytest.raises(QueryError):
        small_store.search(SearchQuery(filter={"op": "=", "args": [{"property": "x') OR 1=1 --"}, 1]}))


def test_paging_forward_and_back_covers_everything_once(small_store):
    seen, token, pages = [], None, []
    while True:
        page = small_store.search(SearchQuery(limit=2, token=token, sortby=[("datetime", False)]))
        pages.append(page)
        seen += [i["id"] for i in page.items]
        token = page.next_token
        if not token:
            break
    assert len(seen) == len(set(seen)) == 5
    back = small_store.search(SearchQuery(limit=2, token=pages[-1].prev_token, sortby=[("datetime", False)]))
    assert [i["id"] for i in back.items] == [i["id"] for i in pages[-2].items]


def test_bad_token_is_a_query_error(small_store):
    with pytest.raises(QueryError):
        small_store.search(SearchQuery(token="not-a-token"))


def test_bundled_catalogue_pingtung_by_region_text_and_dataset(store):
    assert "pingtung-2006-doublet-intraslab-stress" in ids(store, bbox=[120, 21.5, 121, 22.5])
    assert ids(store, q=["屏东"]) == {"pingtung-2006-doublet-intraslab-stress"}
    mascons = {"op": "a_contains", "args": [{"property": "geostudies:datasets"}, ["grace-fo-jpl-mascon-cri"]]}
    grace = ids(store, filter=mascons)
    assert "grace-terrestrial-water-storage-interdecadal" in grace
    # Havre Seamount sits near 179W: found by an antimeridian-crossing box.
    assert "havre-seamount-multidirectional-bottom-currents" in ids(store, bbox=[178, -33, -178, -29])


def test_bbox_with_datetime_agrees_with_the_space_time_index(small_store):
    world = [-180, -90, 180, 90]
    y2006 = ("2006-01-01T00:00:00.000000Z", "2006-12-31T23:59:59.000000Z")
    assert ids(small_store, bbox=world, datetime=y2006) == {"taiwan-quake", "two-sites"}  # 2000-2020 overlaps
    assert ids(small_store, bbox=[179, -18, -179, -16], datetime=("2011-06-01T00:00:00.000000Z", None)) == \
        {"fiji-antimeridian"}
    assert ids(small_store, bbox=[179, -18, -179, -16], datetime=y2006) == set()
    tri = {"type": "Polygon", "coordinates": [[[120, 20], [123, 20], [120, 22.5], [120, 20]]]}
    assert ids(small_store, intersects=tri, datetime=(None, "2006-12-26T12:00:00.000000Z")) == {"taiwan-quake"}
    assert ids(small_store, intersects=tri, datetime=(None, "2006-12-25T00:00:00.000000Z")) == set()


def test_an_old_store_is_migrated_to_the_space_time_index(small_records, tmp_path):
    path = tmp_path / "old.db"
    store = open_store(path)
    build(store, small_records, schemas=False)
    store.conn.execute("DROP TABLE items_rtree4")  # as a catalogue written before schema v4
    store.set_state("schema_version", 3)
    store.close()
    migrated = open_store(path)
    assert migrated.get_state("schema_version") == SCHEMA_VERSION
    assert ids(migrated, bbox=[119, 21, 122, 24], datetime=("2006-12-26T00:00:00.000000Z", None)) == {"taiwan-quake"}


def test_number_matched_is_carried_across_pages(small_store):
    first = small_store.search(SearchQuery(limit=2))
    second = small_store.search(SearchQuery(limit=2, token=first.next_token))
    assert first.matched == second.matched == 5


def test_an_old_catalogue_opened_read_only_is_refused_with_how_to_migrate_it(small_records, tmp_path):
    path = tmp_path / "old.db"
    store = open_store(path)
    build(store, small_records, schemas=False)
    store.set_state("schema_version", 2)
    store.close()
    with pytest.raises(StoreError, match="schema version 2.*open it once writable"):
        open_store(path, readonly=True)
    open_store(path).close()  # writable: migrated
    assert ids(open_store(path, readonly=True), bbox=[119, 21, 122, 24]) == {"taiwan-quake"}


def test_a_v7_catalogue_gets_areas_and_loses_publication_dates_as_data_time(small_records, tmp_path):
    """Schema v8: the area column (sortby by area) and no time for Items whose datetime is a publication date."""
    path = tmp_path / "v7.db"
    store = open_store(path)
    build(store, small_records, schemas=False)
    moon = store.get_item("studies", "moon-basin")
    assert moon["properties"]["geostudies:datetime_is_publication_date"] is True
    published = moon["properties"]["datetime"]
    window = (normalise_timestamp(published), None)
    assert "moon-basin" not in ids(store, datetime=window)
    # as a v7 file: no area column, publication dates indexed as data time
    store.conn.execute("DROP INDEX items_area")
    store.conn.execute("ALTER TABLE items DROP COLUMN area_km2")
    store.conn.execute("UPDATE items SET end_datetime = datetime WHERE end_datetime = ''")
    store.set_state("schema_version", 7)
    store.close()
    migrated = open_store(path)
    assert migrated.get_state("schema_version") == SCHEMA_VERSION >= 8
    assert "moon-basin" not in ids(migrated, datetime=window)
    areas = [i["properties"].get("geostudies:area_km2") for i in
             migrated.search(SearchQuery(limit=100, sortby=[("geostudies:area_km2", True)])).items]
    known = [a for a in areas if a is not None]
    assert known and areas[:len(known)] == sorted(known)
    migrated.close()


def test_a_v8_catalogue_indexes_its_chinese_text_in_simplified_form(small_records, tmp_path):
    """Schema v9: text written before v9 (Traditional characters as they were) is indexed again in Simplified
    form, so either form finds it."""
    path = tmp_path / "v8.db"
    store = open_store(path)
    build(store, small_records, schemas=False)
    pingtung = store.get_item("studies", "taiwan-quake")
    rowid = store.conn.execute("SELECT rowid FROM items WHERE id = 'taiwan-quake'").fetchone()[0]
    # as a v8 file whose index holds Traditional text
    store.conn.execute("UPDATE items_fts SET body = body || ' 臺 灣 ' WHERE rowid = ?", (rowid,))
    store.set_state("schema_version", 8)
    store.close()
    migrated = open_store(path)
    assert migrated.get_state("schema_version") == SCHEMA_VERSION
    assert pingtung is not None
    found = {i["id"] for i in migrated.search(SearchQuery(q=["屏東"], limit=10)).items}
    assert found == {i["id"] for i in migrated.search(SearchQuery(q=["屏东"], limit=10)).items} == {"taiwan-quake"}
    assert "臺" not in migrated.conn.execute("SELECT body FROM items_fts WHERE rowid = ?", (rowid,)).fetchone()[0]
