"""The embedded SQLite store (via sqlite-utils).

Tables: ``collections`` and ``items`` hold the STAC documents as JSON with the searchable fields as
columns; ``items_rtree`` (R*Tree on each item's bbox; an antimeridian-crossing bbox is stored as two
boxes) narrows spatial queries before the exact shapely check; ``items_fts`` (FTS5) answers free text in
English and Chinese; ``state`` keeps small facts such as the last successful harvest.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import sqlite3
import threading
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator

import orjson
import shapely
import shapely.geometry
import sqlite_utils

from . import QueryError, SearchPage, SearchQuery, bbox_boxes
from . import normalise_timestamp
from .cql2sql import Translator, column_for
from .fulltext import TOKENIZER, document_text, fts_query

SCHEMA_VERSION = 2
MIN_TIME, MAX_TIME = "0000-01-01T00:00:00.000000Z", "9999-12-31T23:59:59.999999Z"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _dumps(doc: Any) -> str:
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS).decode()


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def item_interval(doc: dict[str, Any]) -> tuple[str, str]:
    """(start, end) of an Item in the store's sortable UTC form; open ends become the extremes."""
    props = doc.get("properties", {})
    start = props.get("start_datetime") or props.get("datetime")
    end = props.get("end_datetime") or props.get("datetime")
    return (normalise_timestamp(start) if start else MIN_TIME, normalise_timestamp(end) if end else MAX_TIME)


EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
FAR_DAYS = 1e7  # beyond any real date: open interval ends


def days(stamp: str | None, default: float) -> float:
    """A stored timestamp as days since 1970 (the time axis of the 3-D R*Tree)."""
    if stamp is None or stamp in (MIN_TIME, MAX_TIME):
        return default
    parsed = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)
    return (parsed - EPOCH).total_seconds() / 86400


@lru_cache(maxsize=64)
def _prepared(wkb: bytes) -> Any:
    geom = shapely.from_wkb(wkb)
    shapely.prepare(geom)
    return geom


def _intersects(item_wkb: bytes | None, query_wkb: bytes) -> int:
    if item_wkb is None:
        return 0
    return int(_prepared(query_wkb).intersects(shapely.from_wkb(item_wkb)))


def _within(item_wkb: bytes | None, query_wkb: bytes) -> int:
    if item_wkb is None:
        return 0
    return int(shapely.from_wkb(item_wkb).within(_prepared(query_wkb)))


def _contains(item_wkb: bytes | None, query_wkb: bytes) -> int:
    if item_wkb is None:
        return 0
    return int(shapely.from_wkb(item_wkb).contains(_prepared(query_wkb)))


SPATIAL_FUNCTIONS = {"s_intersects": "gs_intersects", "s_within": "gs_within", "s_contains": "gs_contains"}


def _encode_token(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")


def _decode_token(token: str) -> dict[str, Any]:
    try:
        payload = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        assert isinstance(payload, dict) and payload.get("d") in ("next", "prev") and isinstance(payload.get("v"), list)
        return payload
    except Exception as exc:  # any garbage in a token is the caller's error
        raise QueryError("invalid paging token; use the href of a next/prev link as given") from exc


class SQLiteStore:
    """A catalogue in one SQLite file. Safe to share between threads (one connection per thread)."""

    def __init__(self, path: Path, readonly: bool = False):
        self.path = Path(path)
        self.location = str(self.path)
        self.readonly = readonly
        self._local = threading.local()
        if readonly and not self.path.exists():
            raise FileNotFoundError(f"no catalogue at {self.path}; run 'geostudies build' first")
        if not readonly:
            self._migrate()

    # -- connections -------------------------------------------------------------------------
    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self.readonly:
                conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=10000")
            conn.create_function("gs_intersects", 2, _intersects, deterministic=True)
            conn.create_function("gs_within", 2, _within, deterministic=True)
            conn.create_function("gs_contains", 2, _contains, deterministic=True)
            self._local.conn = conn
        return conn

    @property
    def db(self) -> sqlite_utils.Database:
        return sqlite_utils.Database(self.conn)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            if not self.readonly:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the file alone is then the whole catalogue
            conn.close()
            self._local.conn = None

    def _migrate(self) -> None:
        db = self.db
        if "collections" not in db.table_names():
            db["collections"].create({"id": str, "kind": str, "doc": str, "updated": str}, pk="id")
        if "items" not in db.table_names():
            db.execute("""
                CREATE TABLE items (
                    rowid INTEGER PRIMARY KEY,
                    collection TEXT NOT NULL, id TEXT NOT NULL,
                    datetime TEXT NOT NULL, end_datetime TEXT NOT NULL,
                    target TEXT NOT NULL DEFAULT 'earth',
                    geometry BLOB, doc TEXT NOT NULL, hash TEXT NOT NULL, updated TEXT NOT NULL,
                    UNIQUE (collection, id))""")
            db["items"].create_index(["datetime"], index_name="items_datetime")
            db["items"].create_index(["end_datetime"], index_name="items_end_datetime")
            db["items"].create_index(["collection", "datetime"], index_name="items_collection_datetime")
            db.execute("CREATE VIRTUAL TABLE items_rtree USING rtree(id, minx, maxx, miny, maxy)")
            db.execute(f"CREATE VIRTUAL TABLE items_fts USING fts5(title, body, tokenize='{TOKENIZER}')")
        if "state" not in db.table_names():
            db["state"].create({"key": str, "value": str}, pk="key")
            db["state"].insert({"key": "schema_version", "value": str(SCHEMA_VERSION)})
        # v2: entries ordered by (collection, rowid) page through a collection without sorting it, and a
        # space-time R*Tree narrows bbox+datetime searches before anything is counted.
        db.execute("CREATE INDEX IF NOT EXISTS items_collection ON items(collection)")
        if "items_rtree_t" not in db.table_names():
            db.execute("CREATE VIRTUAL TABLE items_rtree_t USING rtree(id, minx, maxx, miny, maxy, mint, maxt)")
            rows = db.execute("SELECT r.id, r.minx, r.maxx, r.miny, r.maxy, i.datetime, i.end_datetime "
                              "FROM items_rtree r JOIN items i ON i.rowid = r.id >> 1").fetchall()
            with self.transaction():
                self.conn.executemany("INSERT INTO items_rtree_t VALUES (?, ?, ?, ?, ?, ?, ?)", [
                    (*row[:5], days(row[5], -FAR_DAYS), days(row[6], FAR_DAYS)) for row in rows])
            self.set_state("schema_version", SCHEMA_VERSION)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit: everything inside commits together or not at all (nests by savepoint)."""
        conn = self.conn
        if conn.in_transaction:
            name = f"sp{id(object())}"
            conn.execute(f"SAVEPOINT {name}")
            try:
                yield
            except BaseException:
                conn.execute(f"ROLLBACK TO {name}")
                conn.execute(f"RELEASE {name}")
                raise
            conn.execute(f"RELEASE {name}")
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # -- writes ------------------------------------------------------------------------------
    def upsert_collection(self, doc: dict[str, Any]) -> str:
        """Insert or replace a Collection; returns 'new', 'updated' or 'unchanged'."""
        text = _dumps(doc)
        row = self.conn.execute("SELECT doc FROM collections WHERE id = ?", (doc["id"],)).fetchone()
        if row and row[0] == text:
            return "unchanged"
        kind = doc.get("geostudies:kind") or ("studies" if doc["id"] == "studies" else "harvest")
        self.conn.execute(
            "INSERT INTO collections (id, kind, doc, updated) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET kind = excluded.kind, doc = excluded.doc, updated = excluded.updated",
            (doc["id"], kind, text, _now()))
        return "updated" if row else "new"

    def upsert_items(self, docs: Iterable[dict[str, Any]]) -> dict[str, int]:
        """Insert or update Items (matched on collection + id) in one transaction."""
        counts = {"new": 0, "updated": 0, "unchanged": 0}
        conn = self.conn
        seen: dict[str, dict[str, str]] = {}
        with self.transaction():
            for doc in docs:
                keys = seen.setdefault(doc.get("collection") or "", {})
                for key, value in doc.get("properties", {}).items():
                    if key not in keys or keys[key] == "null":
                        keys[key] = _json_type(value)
                text = _dumps(doc)
                digest = hashlib.sha1(text.encode()).hexdigest()
                collection, item_id = doc.get("collection"), doc.get("id")
                if not collection or not item_id:
                    raise ValueError(f"item {item_id!r} needs both 'id' and 'collection'")
                row = conn.execute("SELECT rowid, hash FROM items WHERE collection = ? AND id = ?",
                                   (collection, item_id)).fetchone()
                if row and row[1] == digest:
                    counts["unchanged"] += 1
                    continue
                start, end = item_interval(doc)
                geometry = doc.get("geometry")
                wkb = shapely.to_wkb(shapely.geometry.shape(geometry)) if geometry else None
                target = str(doc.get("properties", {}).get("geostudies:target")
                             or (doc.get("properties", {}).get("ssys:targets") or ["earth"])[0]).lower()
                values = (start, end, target, wkb, text, digest, _now())
                if row:
                    rowid = row[0]
                    conn.execute("UPDATE items SET datetime=?, end_datetime=?, target=?, geometry=?, doc=?, hash=?, "
                                 "updated=? WHERE rowid=?", (*values, rowid))
                    conn.execute("DELETE FROM items_rtree WHERE id IN (?, ?)", (rowid * 2, rowid * 2 + 1))
                    conn.execute("DELETE FROM items_rtree_t WHERE id IN (?, ?)", (rowid * 2, rowid * 2 + 1))
                    conn.execute("DELETE FROM items_fts WHERE rowid = ?", (rowid,))
                    counts["updated"] += 1
                else:
                    rowid = conn.execute(
                        "INSERT INTO items (collection, id, datetime, end_datetime, target, geometry, doc, hash, updated)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (collection, item_id, *values)).lastrowid
                    counts["new"] += 1
                bbox = doc.get("bbox") or (list(shapely.geometry.shape(geometry).bounds) if geometry else None)
                if bbox:
                    span = (days(start, -FAR_DAYS), days(end, FAR_DAYS))
                    for part, box in enumerate(bbox_boxes(bbox)):
                        conn.execute("INSERT INTO items_rtree VALUES (?, ?, ?, ?, ?)", (rowid * 2 + part, *box))
                        conn.execute("INSERT INTO items_rtree_t VALUES (?, ?, ?, ?, ?, ?, ?)",
                                     (rowid * 2 + part, *box, *span))
                conn.execute("INSERT INTO items_fts (rowid, title, body) VALUES (?, ?, ?)",
                             (rowid, *document_text(doc)))
            for collection_id, keys in seen.items():
                known = self.get_state(f"properties:{collection_id}") or {}
                merged = {**keys, **{k: v for k, v in known.items() if v != "null"}}
                if merged != known:
                    self.set_state(f"properties:{collection_id}", merged)
        return counts

    def property_types(self, collection_id: str | None = None) -> dict[str, str]:
        """JSON type of every property seen on the items of a collection (or of all collections)."""
        if collection_id is not None:
            return self.get_state(f"properties:{collection_id}") or {}
        merged: dict[str, str] = {}
        for (value,) in self.conn.execute("SELECT value FROM state WHERE key LIKE 'properties:%'"):
            for key, kind in orjson.loads(value).items():
                if merged.get(key, "null") == "null":
                    merged[key] = kind
        return merged

    def delete_items(self, collection_id: str, keep_ids: set[str] | None = None) -> int:
        rows = self.conn.execute("SELECT rowid, id FROM items WHERE collection = ?", (collection_id,)).fetchall()
        doomed = [r[0] for r in rows if keep_ids is None or r[1] not in keep_ids]
        with self.transaction():
            for rowid in doomed:
                self.conn.execute("DELETE FROM items WHERE rowid = ?", (rowid,))
                self.conn.execute("DELETE FROM items_rtree WHERE id IN (?, ?)", (rowid * 2, rowid * 2 + 1))
                self.conn.execute("DELETE FROM items_rtree_t WHERE id IN (?, ?)", (rowid * 2, rowid * 2 + 1))
                self.conn.execute("DELETE FROM items_fts WHERE rowid = ?", (rowid,))
        return len(doomed)

    def replace_records(self, collections: list[dict[str, Any]], items: list[dict[str, Any]]) -> dict[str, int]:
        """Make the curated part of the catalogue (studies + dataset Collections) equal to the given documents.

        Harvested collections and items are left alone. All in one transaction.
        """
        report = {"collections_new": 0, "collections_updated": 0, "collections_removed": 0,
                  "items_new": 0, "items_updated": 0, "items_unchanged": 0, "items_removed": 0}
        with self.transaction():
            for doc in collections:
                outcome = self.upsert_collection(doc)
                if outcome != "unchanged":
                    report[f"collections_{outcome}"] += 1
            keep = {c["id"] for c in collections}
            stale = [r[0] for r in self.conn.execute(
                "SELECT id FROM collections WHERE kind IN ('dataset', 'studies')") if r[0] not in keep]
            for collection_id in stale:
                report["items_removed"] += self.delete_items(collection_id)
                self.conn.execute("DELETE FROM collections WHERE id = ?", (collection_id,))
                report["collections_removed"] += 1
            counts = self.upsert_items(items)
            for key, n in counts.items():
                report[f"items_{key}"] += n
            by_collection: dict[str, set[str]] = {}
            for doc in items:
                by_collection.setdefault(doc["collection"], set()).add(doc["id"])
            for collection_id, ids in by_collection.items():
                report["items_removed"] += self.delete_items(collection_id, keep_ids=ids)
        return report

    def set_state(self, key: str, value: Any) -> None:
        self.conn.execute("INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = "
                          "excluded.value", (key, _dumps(value)))

    # -- reads -------------------------------------------------------------------------------
    def get_state(self, key: str) -> Any:
        row = self.conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            return orjson.loads(row[0])
        except orjson.JSONDecodeError:
            return row[0]

    def get_collection(self, collection_id: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT doc FROM collections WHERE id = ?", (collection_id,)).fetchone()
        return orjson.loads(row[0]) if row else None

    def collections(self) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT doc FROM collections ORDER BY kind = 'studies' DESC, kind, id")
        return [orjson.loads(r[0]) for r in rows]

    def get_item(self, collection_id: str, item_id: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT doc FROM items WHERE collection = ? AND id = ?",
                                (collection_id, item_id)).fetchone()
        return orjson.loads(row[0]) if row else None

    def last_modified(self, collection_id: str, item_id: str | None = None) -> str | None:
        if item_id is None:
            row = self.conn.execute("SELECT max(updated) FROM (SELECT updated FROM collections WHERE id = ? UNION ALL "
                                    "SELECT max(updated) FROM items WHERE collection = ?)",
                                    (collection_id, collection_id)).fetchone()
        else:
            row = self.conn.execute("SELECT updated FROM items WHERE collection = ? AND id = ?",
                                    (collection_id, item_id)).fetchone()
        return row[0] if row else None

    def count_items(self, collection_id: str | None = None) -> int:
        if collection_id is None:
            return self.conn.execute("SELECT count(*) FROM items").fetchone()[0]
        return self.conn.execute("SELECT count(*) FROM items WHERE collection = ?", (collection_id,)).fetchone()[0]

    def item_ids(self, collection_id: str, limit: int) -> list[str]:
        rows = self.conn.execute("SELECT id FROM items WHERE collection = ? ORDER BY id LIMIT ?", (collection_id, limit))
        return [r[0] for r in rows]

    def iter_items(self, collection_id: str | None = None) -> Iterator[dict[str, Any]]:
        """Stream items in insertion order without holding them all in memory."""
        last = 0
        while True:
            sql = "SELECT rowid, doc FROM items WHERE rowid > ?" + (" AND collection = ?" if collection_id else "")
            sql += " ORDER BY rowid LIMIT 500"
            rows = self.conn.execute(sql, (last, collection_id) if collection_id else (last,)).fetchall()
            if not rows:
                return
            for _, doc in rows:
                yield orjson.loads(doc)
            last = rows[-1][0]

    def property_values(self, prop: str, collection_id: str | None = None) -> list[Any]:
        """Distinct values of a property (array properties are unnested), for queryables and filter menus."""
        column_for(prop)  # validates the name
        path = f'$.properties."{prop}"'
        where = "WHERE items.collection = ?" if collection_id else ""
        sql = (f"SELECT DISTINCT CASE WHEN json_type(items.doc, '{path}') = 'array' THEN j.value "
               f"ELSE json_extract(items.doc, '{path}') END AS v FROM items "
               f"LEFT JOIN json_each(items.doc, '{path}') AS j {where} ORDER BY v")
        rows = self.conn.execute(sql, (collection_id,) if collection_id else ())
        return [r[0] for r in rows if r[0] is not None]

    # -- search ------------------------------------------------------------------------------
    @staticmethod
    def _shape(geometry: dict[str, Any]) -> Any:
        try:
            shape = shapely.geometry.shape(geometry)
        except Exception as exc:
            raise QueryError(f"invalid geometry: {exc}") from exc
        if shape.is_empty:
            raise QueryError("geometry is empty")
        if not shape.is_valid and shape.geom_type in ("Polygon", "MultiPolygon"):
            shape = shape.buffer(0)
        return shape

    @property
    def has_time_index(self) -> bool:
        """False for a catalogue built before schema v2 and opened read-only (it cannot be migrated)."""
        if not hasattr(self._local, "time_index"):
            self._local.time_index = self.conn.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'items_rtree_t'").fetchone() is not None
        return self._local.time_index

    def _index_sql(self, boxes: list[tuple[float, float, float, float]], target: str | None,
                   window: tuple[str | None, str | None] | None) -> tuple[str, list[Any]]:
        """The cheap part of a spatial condition: the body, then R*Tree boxes (with time when asked)."""
        table, time_sql, time_params = "items_rtree", "", []
        if window and self.has_time_index:
            table, time_sql = "items_rtree_t", " AND mint <= ? AND maxt >= ?"
            time_params = [days(window[1], FAR_DAYS), days(window[0], -FAR_DAYS)]
        clause = " OR ".join(f"(minx <= ? AND maxx >= ? AND miny <= ? AND maxy >= ?{time_sql})" for _ in boxes)
        params: list[Any] = [target or "earth"]
        for minx, maxx, miny, maxy in boxes:
            params += [maxx, minx, maxy, miny, *time_params]
        return f"items.target = ? AND items.rowid IN (SELECT id >> 1 FROM {table} WHERE {clause})", params

    def _spatial_parts(self, shape: Any, op: str, target: str | None,
                       window: tuple[str | None, str | None] | None = None) -> tuple[str, list[Any], str, list[Any]]:
        """(index sql, params, exact sql, params): the exact shapely test is kept apart so it can run last."""
        function = SPATIAL_FUNCTIONS.get(op)
        if function is None:
            raise QueryError(f"unsupported spatial operator {op!r} (supported: {', '.join(SPATIAL_FUNCTIONS)}, "
                             "s_disjoint)")
        minx, miny, maxx, maxy = shape.bounds
        index_sql, index_params = self._index_sql([(minx, maxx, miny, maxy)], target, window)
        return index_sql, index_params, f"{function}(items.geometry, ?)", [shapely.to_wkb(shape)]

    def _spatial_sql(self, geometry: dict[str, Any], op: str = "s_intersects",
                     target: str | None = None) -> tuple[str, list[Any]]:
        """One self-contained condition, for spatial predicates inside CQL2 expressions."""
        index_sql, index_params, exact_sql, exact_params = self._spatial_parts(self._shape(geometry), op, target)
        return f"({index_sql} AND {exact_sql})", [*index_params, *exact_params]

    def _bbox_parts(self, bbox: list[float], target: str | None,
                    window: tuple[str | None, str | None] | None) -> tuple[str, list[Any], str, list[Any]]:
        boxes = bbox_boxes(bbox)
        shape = shapely.union_all([shapely.geometry.box(b[0], b[2], b[1], b[3]) for b in boxes])
        index_sql, index_params = self._index_sql(boxes, target, window)
        return index_sql, index_params, "gs_intersects(items.geometry, ?)", [shapely.to_wkb(shape)]

    def _sort_keys(self, sortby: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
        if not sortby:
            # Catalogue (insertion) order: stable, and the cheapest order to page through deeply.
            return [("items.rowid", True)]
        keys = []
        for name, ascending in sortby:
            column = "items.datetime" if name in ("datetime", "properties.datetime") else column_for(name)
            keys.append((f"ifnull({column}, '')", ascending))
        keys.append(("items.rowid", keys[0][1]))
        return keys

    def search(self, query: SearchQuery) -> SearchPage:
        conditions: list[str] = []
        params: list[Any] = []
        if query.collections:
            conditions.append(f"items.collection IN ({', '.join('?' * len(query.collections))})")
            params += query.collections
        if query.ids:
            conditions.append(f"items.id IN ({', '.join('?' * len(query.ids))})")
            params += query.ids
        exact: list[str] = []
        exact_params: list[Any] = []
        spatial = None
        if query.bbox:
            spatial = self._bbox_parts(query.bbox, query.target, query.datetime)
        elif query.intersects:
            spatial = self._spatial_parts(self._shape(query.intersects), "s_intersects", query.target,
                                          query.datetime)
        if spatial:
            conditions.append(spatial[0])
            params += spatial[1]
            exact.append(spatial[2])  # shapely runs last, on rows every cheaper condition has kept
            exact_params += spatial[3]
        if query.datetime:
            start, end = query.datetime
            if end:
                conditions.append("items.datetime <= ?")
                params.append(end)
            if start:
                conditions.append("items.end_datetime >= ?")
                params.append(start)
        if query.q:
            match = fts_query(query.q)
            if match is None:
                conditions.append("0")
            else:
                conditions.append("items.rowid IN (SELECT rowid FROM items_fts WHERE items_fts MATCH ?)")
                params.append(match)
        if query.filter is not None:
            translator = Translator(lambda g, op: self._spatial_sql(g, op, query.target))
            sql, p = translator.translate(query.filter)
            conditions.append(sql)
            params += p

        conditions += exact
        params += exact_params
        keys = self._sort_keys(query.sortby)
        where = " AND ".join(conditions) or "1"
        token = _decode_token(query.token) if query.token else None
        matched = token.get("m") if token else None
        if not isinstance(matched, int):  # counted once, on the first page; later pages carry it
            try:
                matched = self.conn.execute(f"SELECT count(*) FROM items WHERE {where}", params).fetchone()[0]
            except sqlite3.OperationalError as exc:
                raise QueryError(f"the query cannot be run: {exc}") from exc

        direction = "next"
        page_conditions, page_params = [], []
        if token:
            if len(token["v"]) != len(keys):
                raise QueryError("paging token does not match this query's sort order")
            direction = token["d"]
            sql, p = self._keyset(keys, token["v"], forward=direction == "next")
            page_conditions.append(sql)
            page_params += p
        order_keys = keys if direction == "next" else [(k, not asc) for k, asc in keys]
        order = ", ".join(f"{k} {'ASC' if asc else 'DESC'}" for k, asc in order_keys)
        select = ", ".join(k for k, _ in keys)
        sql = (f"SELECT items.doc, {select} FROM items WHERE {' AND '.join([where, *page_conditions])} "
               f"ORDER BY {order} LIMIT ?")
        try:
            rows = self.conn.execute(sql, [*params, *page_params, query.limit + 1]).fetchall()
        except sqlite3.OperationalError as exc:
            raise QueryError(f"the query cannot be run: {exc}") from exc
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        if direction == "prev":
            rows.reverse()
        items = [orjson.loads(r[0]) for r in rows]
        next_token = prev_token = None
        if rows:
            first, last = list(rows[0][1:]), list(rows[-1][1:])
            has_next = more if direction == "next" else True
            has_prev = (query.token is not None) if direction == "next" else more
            if has_next:
                next_token = _encode_token({"d": "next", "v": last, "m": matched})
            if has_prev:
                prev_token = _encode_token({"d": "prev", "v": first, "m": matched})
        return SearchPage(items=items, matched=matched, next_token=next_token, prev_token=prev_token)

    @staticmethod
    def _keyset(keys: list[tuple[str, bool]], values: list[Any], forward: bool) -> tuple[str, list[Any]]:
        """Rows strictly after (forward) or before the row whose sort values are ``values``."""
        clauses, params = [], []
        for i, (expr, ascending) in enumerate(keys):
            after = ascending if forward else not ascending
            parts = [f"{keys[j][0]} = ?" for j in range(i)] + [f"{expr} {'>' if after else '<'} ?"]
            clauses.append("(" + " AND ".join(parts) + ")")
            params += values[:i] + [values[i]]
        return "(" + " OR ".join(clauses) + ")", params
