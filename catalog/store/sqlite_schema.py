"""The SQLite store's schema, as an ordered list of migrations.

Each migration takes the catalogue from version N-1 to N inside one transaction; ``state.schema_version``
records how far a file has come. Migrations are plain SQL through sqlite-utils' table helpers where those
fit (plain tables and indexes), and hand-written where SQLite needs virtual tables (R*Tree, FTS5).
"""
from __future__ import annotations

import sqlite3
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext

import orjson
import sqlite_utils

from . import rtree_pack
from .fulltext import TOKENIZER, collection_text, document_text
from .hilbert import box_keys
from .indexing import FAR_DAYS, collection_index_rows, days, has_data_time, item_area, item_boxes, item_times
from .sqlite_docs import DocCodec

Migration = Callable[[sqlite3.Connection], None]

# Boxes of one write, waiting to go into items_rtree4 in Hilbert order (see hilbert.py); per connection. A box
# is kept as one blob of 8 little-endian doubles (minx, maxx, miny, maxy, mint, maxt, minc, maxc: BOX_FORMAT),
# so a big write's boxes are inserted, sorted and read back as three values a row, not ten.
PENDING_BOXES_TABLE = ("CREATE TEMP TABLE IF NOT EXISTS pending_boxes (key INTEGER NOT NULL, id INTEGER PRIMARY KEY, "
                       "box BLOB NOT NULL)")
BOX_FORMAT = struct.Struct("<8d")
BOX_COLUMNS = "id, minx, maxx, miny, maxy, mint, maxt, minc, maxc"
REPACK_AT = 50_000  # waiting boxes from which the whole tree is rebuilt packed when they outnumber its entries
# A big sort (an index built after a bulk load, the waiting boxes in Hilbert order): SQLite sorts in pieces the
# size of the page cache, on worker threads when allowed, then merges. At 10^6 Items small pieces on two
# threads beat one in-memory sort in a 64-256 MB cache: indexes 2.3 s against 4.2-4.6 s, boxes 0.8-1.2 s
# against 1.8-2.0 s (measured).
SORT_PIECE_KIB = 1024
SORT_THREADS = 2


@contextmanager
def sorting_in_pieces(conn: sqlite3.Connection) -> Iterator[None]:
    """The connection set up for big sorts (:data:`SORT_PIECE_KIB`, :data:`SORT_THREADS`), then as it was."""
    cache = conn.execute("PRAGMA cache_size").fetchone()[0]
    threads = conn.execute("PRAGMA threads").fetchone()[0]
    conn.execute(f"PRAGMA cache_size = -{SORT_PIECE_KIB}")
    conn.execute(f"PRAGMA threads = {SORT_THREADS}")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA threads = {threads}")
        conn.execute(f"PRAGMA cache_size = {cache}")


def flush_pending_boxes(conn: sqlite3.Connection) -> None:
    """Move the waiting boxes into the R*Tree, neighbours in space and time one after another.

    Into an empty tree (a first load) they are written as a packed tree (``rtree_pack.py``); when they are
    many and outnumber the entries already there, those join them and the whole tree is packed again.
    Otherwise they are inserted, in Hilbert order, one by one."""
    waiting = conn.execute("SELECT count(*) FROM temp.pending_boxes").fetchone()[0]
    if waiting == 0:
        return
    packed = False
    if waiting >= REPACK_AT and not rtree_pack.is_empty(conn, "items_rtree4") and waiting >= conn.execute(
            "SELECT count(*) FROM items_rtree4_rowid").fetchone()[0]:
        _tree_back_to_waiting(conn)
    in_order = "SELECT id, box FROM temp.pending_boxes ORDER BY key"
    # Checked before the sorted read, so that a small write into a big tree sorts its boxes once.
    if rtree_pack.is_empty(conn, "items_rtree4"):
        with sorting_in_pieces(conn) if waiting >= REPACK_AT else nullcontext():
            packed = rtree_pack.pack(conn, "items_rtree4", conn.execute(in_order), dims=4)
    if not packed:
        rows = conn.execute(in_order).fetchall()
        conn.executemany("INSERT INTO items_rtree4 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         [(box_id, *BOX_FORMAT.unpack(box)) for box_id, box in rows])
    conn.execute("DELETE FROM temp.pending_boxes")


def _tree_back_to_waiting(conn: sqlite3.Connection, batch: int = 50_000) -> None:
    """Every entry of items_rtree4 into temp.pending_boxes (with its Hilbert key), and the tree emptied."""
    last = -1
    while True:
        rows = conn.execute(f"SELECT {BOX_COLUMNS} FROM items_rtree4 WHERE id > ? ORDER BY id LIMIT ?",
                            (last, batch)).fetchall()
        if not rows:
            break
        conn.executemany("INSERT OR REPLACE INTO temp.pending_boxes VALUES (?, ?, ?)",
                         [(key, row[0], BOX_FORMAT.pack(*row[1:])) for key, row in zip(box_keys(rows), rows,
                                                                                      strict=True)])
        last = rows[-1][0]
    rtree_pack.clear(conn, "items_rtree4")


def _v1_tables(conn: sqlite3.Connection) -> None:
    """Documents, an R*Tree on item bboxes, FTS5 on item text, and small state facts."""
    db = sqlite_utils.Database(conn)
    db.table("collections").create({"id": str, "kind": str, "doc": str, "updated": str}, pk="id", if_not_exists=True)
    # The items table keeps an explicit INTEGER PRIMARY KEY rowid: the R*Trees and FTS index refer to it.
    conn.execute("""
        CREATE TABLE IF NOT EXISTS items (
            rowid INTEGER PRIMARY KEY,
            collection TEXT NOT NULL, id TEXT NOT NULL,
            datetime TEXT NOT NULL, end_datetime TEXT NOT NULL,
            target TEXT NOT NULL DEFAULT 'earth',
            geometry BLOB, doc TEXT NOT NULL, hash TEXT NOT NULL, updated TEXT NOT NULL,
            UNIQUE (collection, id))""")
    items = db.table("items")
    items.create_index(["datetime"], index_name="items_datetime", if_not_exists=True)
    items.create_index(["end_datetime"], index_name="items_end_datetime", if_not_exists=True)
    items.create_index(["collection", "datetime"], index_name="items_collection_datetime", if_not_exists=True)
    conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS items_rtree USING rtree(id, minx, maxx, miny, maxy)")
    conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS items_fts USING fts5(title, body, tokenize='{TOKENIZER}')")
    db.table("state").create({"key": str, "value": str}, pk="key", if_not_exists=True)


def _v2_space_time(conn: sqlite3.Connection) -> None:
    """Paging a collection in (collection, rowid) order without sorting it, and a space-time R*Tree
    that narrows bbox+datetime searches before anything is counted."""
    sqlite_utils.Database(conn).table("items").create_index(["collection"], index_name="items_collection",
                                                            if_not_exists=True)
    conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS items_rtree_t USING rtree(id, minx, maxx, miny, maxy, mint, maxt)")
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'items_rtree'").fetchone() is None:
        return  # superseded by v4's index (a file at v1 only in tests that rewind the version)
    rows = conn.execute("SELECT r.id, r.minx, r.maxx, r.miny, r.maxy, i.datetime, i.end_datetime "
                        "FROM items_rtree r JOIN items i ON i.rowid = r.id >> 1").fetchall()
    conn.execute("DELETE FROM items_rtree_t")
    conn.executemany("INSERT INTO items_rtree_t VALUES (?, ?, ?, ?, ?, ?, ?)",
                     [(*row[:5], days(row[5], -FAR_DAYS), days(row[6], FAR_DAYS)) for row in rows])


def _v3_collection_search_and_properties(conn: sqlite3.Connection) -> None:
    """Collection Search in SQL (extent boxes, time interval, FTS5 text) and property types in a table of
    their own instead of the harvest-state table."""
    conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS collections_rtree USING rtree(id, minx, maxx, miny, maxy)")
    conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS collections_fts USING fts5(title, body, "
                 f"tokenize='{TOKENIZER}')")
    columns = {r[1] for r in conn.execute("PRAGMA table_info(collections)")}
    for name in ("start", "end", "num"):
        if name not in columns:
            kind = "INTEGER" if name == "num" else "TEXT"
            conn.execute(f'ALTER TABLE collections ADD COLUMN "{name}" {kind}')
    conn.execute("DROP INDEX IF EXISTS collections_num")
    conn.execute("DELETE FROM collections_rtree")
    conn.execute("DELETE FROM collections_fts")
    for number, (collection_id, text) in enumerate(conn.execute("SELECT id, doc FROM collections").fetchall(), 1):
        doc = orjson.loads(text)
        start, end, boxes = collection_index_rows(doc)
        conn.execute('UPDATE collections SET "start" = ?, "end" = ?, num = ? WHERE id = ?',
                     (start, end, number, collection_id))
        for part, box in enumerate(boxes):
            conn.execute("INSERT INTO collections_rtree VALUES (?, ?, ?, ?, ?)", (number * 64 + part, *box))
        conn.execute("INSERT INTO collections_fts (rowid, title, body) VALUES (?, ?, ?)",
                     (number, *collection_text(doc)))
    conn.execute("CREATE UNIQUE INDEX IF NOT EXISTS collections_num ON collections(num)")
    conn.execute("CREATE TABLE IF NOT EXISTS properties (collection TEXT NOT NULL, name TEXT NOT NULL, "
                 "type TEXT NOT NULL, PRIMARY KEY (collection, name)) WITHOUT ROWID")
    for key, value in conn.execute("SELECT key, value FROM state WHERE key LIKE 'properties:%'").fetchall():
        for name, kind in orjson.loads(value).items():
            conn.execute("INSERT OR REPLACE INTO properties VALUES (?, ?, ?)", (key[len("properties:"):], name, kind))
    conn.execute("DELETE FROM state WHERE key LIKE 'properties:%'")


def _v4_compact_documents_and_one_index(conn: sqlite3.Connection) -> None:
    """Documents zstd-compressed (with per-collection dictionaries, ``sqlite_docs.py``), and one R*Tree over
    space, time and collection instead of a 2-D and a 3-D one: a search with ``collections=`` still narrows
    by space and time in the index, and writes maintain one tree instead of two."""
    columns = {r[1] for r in conn.execute("PRAGMA table_info(items)")}
    if "zdict" not in columns:
        conn.execute("ALTER TABLE items ADD COLUMN zdict INTEGER")  # NULL: plain JSON (rows before v4)
    conn.execute("CREATE TABLE IF NOT EXISTS zdicts (id INTEGER PRIMARY KEY, collection TEXT NOT NULL, "
                 "dict BLOB NOT NULL)")
    conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS items_rtree4 USING rtree(id, minx, maxx, miny, maxy, mint, maxt, "
                 "minc, maxc)")
    conn.execute("DELETE FROM items_rtree4")
    nums = dict(conn.execute("SELECT id, num FROM collections").fetchall())
    codec = DocCodec()
    codec.load(conn)
    rows = conn.execute("SELECT rowid, collection, doc, zdict FROM items").fetchall()
    for rowid, collection, doc, zdict in rows:
        item = orjson.loads(codec.decode(doc, zdict))
        _, _, start_days, end_days = item_times(item)
        num = nums.get(collection, 0)
        conn.executemany("INSERT INTO items_rtree4 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         [(rowid * 2 + part, *box, start_days, end_days, num, num)
                          for part, box in enumerate(item_boxes(item))])
    for name in ("items_rtree", "items_rtree_t"):
        conn.execute(f"DROP TABLE IF EXISTS {name}")
    conn.execute("DROP INDEX IF EXISTS items_end_datetime")
    conn.execute("CREATE INDEX IF NOT EXISTS items_id ON items(id)")  # ids= across collections


def _v5_paging_secret(conn: sqlite3.Connection) -> None:
    """A per-catalogue secret that signs paging tokens (``tokens.py``): every process serving the file agrees."""
    from .tokens import SECRET_KEY, new_secret

    conn.execute("INSERT OR IGNORE INTO state (key, value) VALUES (?, ?)",
                 (SECRET_KEY, orjson.dumps(new_secret()).decode()))


def _v6_index_in_hilbert_order(conn: sqlite3.Connection) -> None:
    """Rebuild items_rtree4 with its boxes in Hilbert order: trees filled in arrival (time) order had
    globe-wide nodes, and a small-area search visited most of them (``hilbert.py``)."""
    conn.execute(PENDING_BOXES_TABLE)
    _tree_back_to_waiting(conn)
    flush_pending_boxes(conn)


def _v7_links_offset(conn: sqlite3.Connection) -> None:
    """Where each stored Item's trailing ``links`` member starts (``itemjson.py``), so responses splice new
    links in without parsing the document. Rows written before v7 keep NULL and are served by parsing."""
    columns = {r[1] for r in conn.execute("PRAGMA table_info(items)")}
    if "links_at" not in columns:
        conn.execute("ALTER TABLE items ADD COLUMN links_at INTEGER")


def _v8_area_and_data_time(conn: sqlite3.Connection) -> None:
    """Each Item's ``geostudies:area_km2`` as a column with an index in sort order (``sortby`` by area, the
    second key of relevance), and Items whose datetime is not their data's time (``indexing.NO_DATA_TIME``)
    re-indexed with no time: before v8 a datetime search matched them by their publication date."""
    columns = {r[1] for r in conn.execute("PRAGMA table_info(items)")}
    if "area_km2" not in columns:
        conn.execute("ALTER TABLE items ADD COLUMN area_km2 REAL")
    codec = DocCodec()
    codec.load(conn)
    last = 0
    while True:
        rows = conn.execute("SELECT rowid, doc, zdict FROM items WHERE rowid > ? ORDER BY rowid LIMIT 5000",
                            (last,)).fetchall()
        if not rows:
            break
        for rowid, doc, zdict in rows:
            item = orjson.loads(codec.decode(doc, zdict))
            area = item_area(item)
            if area is not None:
                conn.execute("UPDATE items SET area_km2 = ? WHERE rowid = ?", (area, rowid))
            if not has_data_time(item):
                _, end, start_days, end_days = item_times(item)
                conn.execute("UPDATE items SET end_datetime = ? WHERE rowid = ?", (end, rowid))
                conn.execute("UPDATE items_rtree4 SET mint = ?, maxt = ? WHERE id IN (?, ?)",
                             (start_days, end_days, rowid * 2, rowid * 2 + 1))
        last = rows[-1][0]
    # Index expressions may not name the table; the sort key ifnull(items.area_km2, '') matches this one.
    conn.execute("CREATE INDEX IF NOT EXISTS items_area ON items(ifnull(area_km2, ''))")


def _v9_simplified_chinese_text(conn: sqlite3.Connection) -> None:
    """The text indexes again, Chinese in Simplified form (fulltext.index_text): Traditional text becomes findable
    by either form. Only Items that have a text row are read (harvested scenes without text have none)."""
    codec = DocCodec()
    codec.load(conn)
    last = 0
    while True:
        rows = conn.execute("SELECT items.rowid, items.doc, items.zdict FROM items_fts JOIN items ON "
                            "items.rowid = items_fts.rowid WHERE items_fts.rowid > ? ORDER BY items_fts.rowid "
                            "LIMIT 2000", (last,)).fetchall()
        if not rows:
            break
        for rowid, doc, zdict in rows:
            title, body = document_text(orjson.loads(codec.decode(doc, zdict)))
            conn.execute("UPDATE items_fts SET title = ?, body = ? WHERE rowid = ?", (title, body, rowid))
        last = rows[-1][0]
    for num, doc in conn.execute("SELECT num, doc FROM collections").fetchall():
        title, body = collection_text(orjson.loads(doc))
        conn.execute("UPDATE collections_fts SET title = ?, body = ? WHERE rowid = ?", (title, body, num))


MIGRATIONS: list[Migration] = [_v1_tables, _v2_space_time, _v3_collection_search_and_properties,
                               _v4_compact_documents_and_one_index, _v5_paging_secret, _v6_index_in_hilbert_order,
                               _v7_links_offset, _v8_area_and_data_time, _v9_simplified_chinese_text]
SCHEMA_VERSION = len(MIGRATIONS)
