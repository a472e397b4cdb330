"""The packed R*Tree build (catalog/store/rtree_pack.py): a tree SQLite itself accepts and searches the same way."""
from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from catalog.store import open_store, rtree_pack
from catalog.store.hilbert import box_keys
from catalog.store.sqlite_schema import BOX_FORMAT, REPACK_AT

CAPACITY = 51  # cells per node of a 4-D R*Tree (SQLite's RTREE_MAXCELLS)


def _boxes(n: int, seed: int) -> list[tuple]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        x, y, t = rng.uniform(-180, 179), rng.uniform(-90, 89), rng.uniform(16000, 20000)
        # ids with gaps and both parities, as the items' boxes have (rowid * 2 + part)
        rows.append((i * 2 + rng.randint(0, 1), x, x + rng.uniform(0, 1.3), y, y + rng.uniform(0, 1.1),
                     t, t + rng.uniform(0, 3), 1.0, float(rng.randint(1, 3))))
    return [row for _, row in sorted(zip(box_keys(rows), rows, strict=True))]


def _packed(rows: list[tuple]) -> list[tuple[int, bytes]]:
    """Rows as pack() takes them: (id, the box as little-endian doubles)."""
    return [(row[0], BOX_FORMAT.pack(*row[1:])) for row in rows]


def _tree() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING rtree(id, minx, maxx, miny, maxy, mint, maxt, minc, maxc)")
    return conn


QUERY = ("SELECT id FROM t WHERE minx <= ? AND maxx >= ? AND miny <= ? AND maxy >= ? AND mint <= ? AND maxt >= ? "
         "AND minc <= ? AND maxc >= ? ORDER BY id")


def _queries(seed: int, n: int = 150) -> list[tuple]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        x, y, w, t = rng.uniform(-180, 175), rng.uniform(-90, 85), rng.uniform(0, 8), rng.uniform(16000, 20000)
        out.append((x + w, x, y + w, y, t + rng.uniform(0, 400), t, 2.0, 2.0))
    return out


@pytest.mark.parametrize("n", [0, 1, CAPACITY, CAPACITY + 1, CAPACITY ** 2, CAPACITY ** 2 + 1, 7_000])
def test_a_packed_tree_is_valid_and_answers_as_an_inserted_one(n):
    rows = _boxes(n, seed=n)
    inserted, packed = _tree(), _tree()
    inserted.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    assert rtree_pack.pack(packed, "t", _packed(rows), dims=4)
    assert packed.execute("SELECT rtreecheck('t')").fetchone()[0] == "ok"
    assert packed.execute("SELECT count(*) FROM t").fetchone()[0] == n
    for args in _queries(seed=n):
        assert packed.execute(QUERY, args).fetchall() == inserted.execute(QUERY, args).fetchall()
    # Every box is found by a query for exactly its own extent: float32 rounding went outwards, never in.
    for row in rows[:: max(1, n // 300)]:
        found = packed.execute(QUERY, (row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8])).fetchall()
        assert (row[0],) in found


def test_packed_nodes_are_full_and_the_tree_shallow():
    n = CAPACITY ** 2 * 2 + 17
    packed = _tree()
    rtree_pack.pack(packed, "t", _packed(_boxes(n, seed=3)), dims=4)
    leaves = packed.execute("SELECT count(DISTINCT nodeno) FROM t_rowid").fetchone()[0]
    assert leaves == -(-n // CAPACITY)  # ceil: every leaf but the last is full
    depth = int.from_bytes(packed.execute("SELECT data FROM t_node WHERE nodeno = 1").fetchone()[0][:2], "big")
    assert depth == 2  # 5,219 entries: 103 full leaves, 3 nodes over them, the root over those
    assert packed.execute("SELECT count(*) FROM t_node").fetchone()[0] == leaves + -(-leaves // CAPACITY) + 1


def test_a_packed_tree_takes_inserts_and_deletes_as_usual():
    rows = _boxes(5_000, seed=5)
    packed = _tree()
    rtree_pack.pack(packed, "t", _packed(rows), dims=4)
    more = [(10**9 + i, *row[1:]) for i, row in enumerate(_boxes(800, seed=6))]
    packed.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", more)
    packed.executemany("DELETE FROM t WHERE id = ?", [(row[0],) for row in rows[::3]])
    assert packed.execute("SELECT rtreecheck('t')").fetchone()[0] == "ok"
    expected = sorted({row[0] for row in rows} - {row[0] for row in rows[::3]} | {row[0] for row in more})
    assert [r[0] for r in packed.execute("SELECT id FROM t ORDER BY id")] == expected


def test_only_an_empty_tree_is_packed_and_clear_empties_one():
    conn = _tree()
    conn.execute("INSERT INTO t VALUES (1, 0, 1, 0, 1, 0, 1, 1, 1)")
    assert rtree_pack.pack(conn, "t", _packed(_boxes(10, seed=1)), dims=4) is False
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 1
    rtree_pack.clear(conn, "t")
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 0
    assert rtree_pack.pack(conn, "t", _packed(_boxes(10, seed=1)), dims=4)
    assert conn.execute("SELECT rtreecheck('t')").fetchone()[0] == "ok"


def _items(n: int, start: int = 0) -> list[dict]:
    rng = random.Random(start)
    out = []
    for i in range(start, start + n):
        x, y = rng.uniform(-170, 170), rng.uniform(-80, 80)
        ring = [[x, y], [x + 1, y], [x + 1, y + 1], [x, y + 1], [x, y]]
        out.append({"type": "Feature", "stac_version": "1.1.0", "id": f"s{i}", "collection": "c",
                    "bbox": [x, y, x + 1, y + 1], "geometry": {"type": "Polygon", "coordinates": [ring]},
                    "properties": {"datetime": f"20{10 + i % 10}-0{1 + i % 9}-15T00:00:00Z"}, "assets": {},
                    "links": []})
    return out


def _leaf_count(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT rtreecheck('items_rtree4')").fetchone()[0] == "ok"
        return conn.execute("SELECT count(DISTINCT nodeno) FROM items_rtree4_rowid").fetchone()[0]


def test_the_store_packs_a_first_write_repacks_a_bigger_one_and_inserts_a_small_one(tmp_path):
    path = tmp_path / "c.db"
    store = open_store(path)
    store.upsert_collection({"type": "Collection", "id": "c", "stac_version": "1.1.0", "description": "d",
                             "license": "CC-BY-4.0", "links": [],
                             "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                                        "temporal": {"interval": [[None, None]]}}})
    store.upsert_items(_items(3_000))
    assert _leaf_count(path) == -(-3_000 // CAPACITY)  # packed: full leaves
    store.upsert_items(_items(200, start=3_000))  # few: inserted into the tree, which stays valid
    assert _leaf_count(path) > -(-3_200 // CAPACITY)
    store.upsert_items(_items(REPACK_AT, start=3_200))  # outnumbers what is stored: all packed again
    total = 3_200 + REPACK_AT
    assert _leaf_count(path) == -(-total // CAPACITY)
    assert store.count_items() == total
    store.close()
