"""geostudies load with worker processes: the same rows, counts and problems as a load in one process."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest

from catalog import load as loading
from catalog.load import LoadRefused, load_items
from catalog.store import open_store
from catalog.store.types import Conflict

from .test_plans import _scenes

COLLECTION = {"type": "Collection", "id": "scenes-a", "stac_version": "1.1.0", "description": "a", "license": "other",
              "links": [], "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                                      "temporal": {"interval": [[None, None]]}}}


@pytest.fixture(autouse=True)
def small_thresholds(monkeypatch):
    # The thresholds, not the mechanism, are scaled down: ~25 spans of a 6,000-Item file go to the workers.
    monkeypatch.setattr(loading, "PARALLEL_AT", 1000)
    monkeypatch.setattr(loading, "SPAN_BYTES", 32 * 1024)


def _lines(n: int, seed: int = 4) -> list[dict]:
    docs = _scenes(n, seed)
    for i, doc in enumerate(docs):
        if i % 7 == 0:  # some with text (an FTS row), some antimeridian-crossing (two boxes), some new keys
            doc["properties"]["title"] = f"Scene {i} over the 北部 coast"
        if i % 11 == 0:
            doc["bbox"] = [179.5, 10.0, -179.5, 11.0]
            doc["geometry"] = None
        if i == 4321:
            doc["properties"]["late:key"] = [1, 2]
    return docs


def _write(path: Path, docs: list[dict], replace: dict[int, bytes] | None = None) -> Path:
    lines = [orjson.dumps(d) for d in docs]
    for number, text in (replace or {}).items():
        lines[number - 1] = text
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _contents(db: Path) -> dict[str, list]:
    with open_store(db, readonly=True) as store:
        docs = sorted((d["id"], orjson.dumps(d, option=orjson.OPT_SORT_KEYS)) for d in store.iter_items())
        types = store.property_types("scenes-a")
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT rtreecheck('items_rtree4')").fetchone()[0] == "ok"
        rows = conn.execute("SELECT collection, id, datetime, end_datetime, target, geometry, links_at, area_km2 "
                            "FROM items ORDER BY id").fetchall()
        boxes = conn.execute("SELECT i.id, r.minx, r.maxx, r.miny, r.maxy, r.mint, r.maxt, r.minc FROM items_rtree4 r "
                             "JOIN items i ON i.rowid = r.id >> 1 ORDER BY i.id, r.id & 1").fetchall()
        text = conn.execute("SELECT i.id, f.title, f.body FROM items_fts f JOIN items i ON i.rowid = f.rowid "
                            "ORDER BY i.id").fetchall()
    return {"docs": docs, "rows": rows, "boxes": boxes, "text": text, "types": sorted(types.items())}


def _load(db: Path, items: Path, **options) -> loading.LoadReport:
    with open_store(db) as store:
        return load_items(store, items, collection=COLLECTION, **options)


def test_a_load_with_workers_writes_what_a_load_in_one_process_writes(tmp_path):
    items = _write(tmp_path / "items.ndjson", _lines(6000))
    alone = _load(tmp_path / "alone.db", items, workers=0)
    shared = _load(tmp_path / "shared.db", items, workers=2)
    assert (shared.read, shared.new, shared.updated, shared.unchanged) == (6000, 6000, 0, 0)
    assert (alone.read, alone.new, alone.by_workers) == (6000, 6000, 0)
    assert 3000 < shared.by_workers < 6000  # all but the first batch (which trains the dictionary)
    expected, got = _contents(tmp_path / "alone.db"), _contents(tmp_path / "shared.db")
    assert len(got["boxes"]) == 6000 + len(range(0, 6000, 11))  # the crossing ones have two
    assert ("late:key", "array") in got["types"]
    assert got == expected
    # The same file again: every Item recognised as unchanged from the hashes the workers computed.
    again = _load(tmp_path / "shared.db", items, workers=2)
    assert (again.new, again.updated, again.unchanged) == (0, 0, 6000)


def test_a_load_with_workers_counts_updates_and_new_items_against_what_is_stored(tmp_path):
    docs = _lines(6000)
    _load(tmp_path / "c.db", _write(tmp_path / "first.ndjson", docs[:3000]), workers=0)
    for doc in docs[1000:2000]:
        doc["properties"]["eo:cloud_cover"] = 101
    report = _load(tmp_path / "c.db", _write(tmp_path / "all.ndjson", docs), workers=2)
    assert (report.new, report.updated, report.unchanged) == (3000, 1000, 2000) and report.by_workers > 3000
    with open_store(tmp_path / "c.db", readonly=True) as store:
        assert store.count_items() == 6000
        assert store.get_item("scenes-a", "b1500")["properties"]["eo:cloud_cover"] == 101


def test_an_item_repeated_in_the_file_is_written_once_and_the_last_version_wins(tmp_path):
    docs = _lines(6000)
    repeated = [dict(docs[10])]  # unchanged, in the first batch (written in this process)
    for i, west in ((3000, 30.0), (100, 40.0)):  # changed: one inside a worker's span, one spans apart
        doc = orjson.loads(orjson.dumps(docs[i]))
        doc["properties"]["eo:cloud_cover"] = 101
        doc["bbox"], doc["geometry"] = [west, 1.0, west + 1, 2.0], None
        repeated.append(doc)
    lines = docs[:11] + repeated[:1] + docs[11:3001] + repeated[1:2] + docs[3001:] + repeated[2:]
    items = _write(tmp_path / "items.ndjson", lines)
    alone = _load(tmp_path / "alone.db", items, workers=0)
    shared = _load(tmp_path / "shared.db", items, workers=2)
    for report in (alone, shared):
        assert (report.read, report.new, report.updated, report.unchanged) == (6003, 6000, 2, 1)
    assert shared.by_workers > 3000
    expected, got = _contents(tmp_path / "alone.db"), _contents(tmp_path / "shared.db")
    assert got == expected
    by_id = {row[0]: row for row in got["boxes"]}
    assert by_id[docs[3000]["id"]][1:5] == (30.0, 31.0, 1.0, 2.0)  # one box each, where the last version is
    assert by_id[docs[100]["id"]][1:5] == (40.0, 41.0, 1.0, 2.0)
    assert len(got["boxes"]) == 6000 + len(range(0, 6000, 11))  # the crossing ones have two, the rest one
    with open_store(tmp_path / "shared.db", readonly=True) as store:
        assert store.count_items() == 6000
        assert store.get_item("scenes-a", docs[100]["id"])["properties"]["eo:cloud_cover"] == 101


def test_bad_lines_anywhere_are_reported_by_line_number_and_nothing_is_written(tmp_path):
    bad = {12: b"{not json", 4999: orjson.dumps({"type": "Feature", "id": "x/y", "properties": {}}),
           5998: b'{"type": "Feature", "id": "late", "properties": {"datetime": "2020-13-45"}}'}
    items = _write(tmp_path / "items.ndjson", _lines(6000), replace=bad)
    with pytest.raises(LoadRefused) as refused:
        _load(tmp_path / "c.db", items, workers=2)
    places = [problem.file for problem in refused.value.problems]
    assert places[0] == f"{items}:12" and f"{items}:4999" in places and places[-1] == f"{items}:5998"
    assert {p.file for p in refused.value.problems} == {f"{items}:{n}" for n in bad}
    with open_store(tmp_path / "c.db", readonly=True) as store:
        assert store.count_items() == 0
    in_one_process = _load(tmp_path / "one.db", items, workers=0, skip_invalid=True)
    skipping = _load(tmp_path / "c.db", items, workers=2, skip_invalid=True)
    assert [str(p) for p in skipping.skipped] == [str(p) for p in in_one_process.skipped]
    assert skipping.read == skipping.new == 6000 - 3


def _journal_during_load(db: Path, items: Path, **options) -> tuple[set[str], loading.LoadReport]:
    """The journal modes the file was in while ``items`` loaded (seen after each written batch)."""
    seen: set[str] = set()
    with open_store(db) as store:
        report = load_items(store, items, collection=COLLECTION,
                            progress=lambda _: seen.add(store.conn.execute("PRAGMA journal_mode").fetchone()[0]),
                            **options)
    return seen, report


def _journal_mode(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return conn.execute("PRAGMA journal_mode").fetchone()[0]


def test_a_first_load_writes_with_a_rollback_journal_and_leaves_the_file_in_wal_mode(tmp_path, monkeypatch):
    from catalog.store import sqlite as sqlite_store

    monkeypatch.setattr(sqlite_store, "BULK_ITEMS", 1000)  # the threshold, not the mechanism, is scaled down
    items = _write(tmp_path / "items.ndjson", _lines(6000))
    seen, report = _journal_during_load(tmp_path / "first.db", items, workers=2)
    assert seen == {"delete"} and report.new == 6000 and report.by_workers > 3000
    assert _journal_mode(tmp_path / "first.db") == "wal"
    _load(tmp_path / "by_rows.db", items, workers=0)
    assert _contents(tmp_path / "first.db") == _contents(tmp_path / "by_rows.db")
    # A second load into the same file: Items are stored, so the WAL stays (readers keep their snapshot).
    seen, report = _journal_during_load(tmp_path / "first.db", items, workers=2)
    assert seen == {"wal"} and report.unchanged == 6000


def test_a_first_load_stays_in_wal_mode_while_a_reader_has_the_file_open(tmp_path, monkeypatch):
    from catalog.store import sqlite as sqlite_store

    monkeypatch.setattr(sqlite_store, "BULK_ITEMS", 1000)
    db = tmp_path / "served.db"
    with open_store(db) as store:
        store.upsert_collection(COLLECTION)
    with open_store(db, readonly=True) as reader:
        assert reader.count_items() == 0  # its connection is open from here on
        seen, report = _journal_during_load(db, _write(tmp_path / "items.ndjson", _lines(3000)), workers=0)
        assert seen == {"wal"} and report.new == 3000 and reader.count_items() == 3000


def test_a_refused_first_load_leaves_the_empty_catalogue_in_wal_mode(tmp_path, monkeypatch):
    from catalog.store import sqlite as sqlite_store

    monkeypatch.setattr(sqlite_store, "BULK_ITEMS", 1000)
    db = tmp_path / "c.db"
    with open_store(db) as store:
        store.upsert_collection(COLLECTION)
    items = _write(tmp_path / "items.ndjson", _lines(6000), replace={5990: b"{not json"})
    with pytest.raises(LoadRefused):
        _load(db, items, workers=2)
    assert _journal_mode(db) == "wal" and not Path(f"{db}-journal").exists()
    with open_store(db, readonly=True) as store:
        assert store.count_items() == 0 and [c["id"] for c in store.collections()] == ["scenes-a"]


def test_a_part_of_a_prepared_batch_is_what_preparing_those_items_alone_gives(tmp_path):
    docs = _lines(12)  # items 0 and 11 cross the antimeridian (two boxes), 0 and 7 have text
    with open_store(tmp_path / "p.db") as store:
        preparer = store.item_preparer()
        whole = preparer(docs)
        for start, stop in ((0, 1), (1, 8), (7, 12), (11, 12)):
            part, alone = whole.part(start, stop), store.item_preparer()(docs[start:stop])
            columns = [*part.ITEM_COLUMNS, "box_item", "box_part", "box", "box_key", "text_item", "text"]
            assert {c: getattr(part, c) for c in columns} == {c: getattr(alone, c) for c in columns}
            assert part.new_types == (alone.new_types if start == 0 else {})
    assert whole.box_item.count(11) == 2 and whole.box_part[-2:] == [0, 1] and whole.text_item == [0, 7]


def test_a_batch_after_an_all_new_one_still_finds_what_is_stored(tmp_path, monkeypatch):
    # After a batch of new Items the next is inserted without lookups; a stored Item in it must still be
    # matched: an update counted as one, an insert refused as a Conflict with nothing of that batch kept.
    docs = _lines(3000)
    with open_store(tmp_path / "s.db") as store:
        store.upsert_collection(COLLECTION)
        first = store.upsert_items(docs[:1500])  # trains the dictionary: later batches are all compressed
        assert first == {"new": 1500, "updated": 0, "unchanged": 0}
        preparer = store.item_preparer()
        tries: list[bool] = []  # look_up of each attempt at a batch
        real = type(store)._write_rows
        monkeypatch.setattr(type(store), "_write_rows", lambda s, *a, look_up: (tries.append(look_up), real(
            s, *a, look_up=look_up))[1])
        assert store.write_prepared(preparer(docs[1500:2000]))["new"] == 500
        changed = orjson.loads(orjson.dumps(docs[10]))
        changed["properties"]["eo:cloud_cover"] = 77
        counts = store.write_prepared(preparer([*docs[2000:2400], changed, docs[11]]))
        assert counts == {"new": 400, "updated": 1, "unchanged": 1}
        assert tries == [False, False, True]  # the first two without lookups; the second failed and was redone
        assert store.write_prepared(preparer(docs[2400:2600]))["new"] == 200
        with pytest.raises(Conflict):
            store.write_prepared(preparer([*docs[2600:2700], docs[5]]), mode="insert")
        assert store.count_items() == 2600
        assert store.get_item("scenes-a", docs[10]["id"])["properties"]["eo:cloud_cover"] == 77
    with sqlite3.connect(tmp_path / "s.db") as conn:
        assert conn.execute("SELECT count(*) FROM items_rtree4").fetchone()[0] == \
            2600 + len([i for i in range(0, 2600, 11)])
