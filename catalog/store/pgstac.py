"""The PostgreSQL store: the catalogue in a pgstac database, for several service processes on one database.

``postgresql://user:password@host:port/database`` (or ``postgres://``) opens it; opening it writable migrates
it: ``pypgstac migrate`` (pgstac's own schema), then the ``geostudies`` schema (``pg_sql.py``).

Two copies of each document, on purpose. ``pgstac.collections`` / ``pgstac.items`` get every Collection and
every Item pgstac can hold (pgstac needs a geometry and a datetime), through pgstac's own functions and
staging tables, so stac-fastapi-pgstac (or eoAPI) can serve the same database. ``geostudies.items`` keeps
what the store contract needs and pgstac does not have: the document exactly as written (pgstac stores
Items dehydrated against their Collection and rebuilds them, adding ``item_assets`` members an Item never
had), the Item's data time in the store's text form (``NO_DATA_TIME`` Items have none), its body, area,
English + Chinese text index (the SQLite store's FTS5 tokens as a ``tsvector``), insertion order and the
property types behind queryables. Searches read ``geostudies`` only, so results match the SQLite store's.

psycopg 3 with a ``psycopg_pool.ConnectionPool``: threads of one service process share a few connections,
each search reads one REPEATABLE READ snapshot (its count and its page agree, a commit in between shows in
neither), and writers take one advisory lock (as SQLite's single writer), so a build or a harvest commits
whole while other processes keep serving the catalogue as it was.
"""
from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any

import orjson
import psycopg
import shapely
from psycopg import errors
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool, PoolTimeout

from ..geometry import bbox_boxes, bbox_shape, shapes_of
from ..times import MIN_TIME, TimestampError, normalise_timestamp, utc_now
from . import itemjson, tokens
from .aggregating import geotile_buckets, rfc3339, terms_buckets
from .fulltext import TEXT_FIELDS, collection_text, document_text
from .indexing import collection_index_rows, item_area, item_target, item_times
from .itemjson import ItemJSON
from .pg_sql import SCHEMA, SCHEMA_VERSION, SPATIAL_FUNCTIONS, PgTranslator, property_json, sort_expressions, tsvectors
from .pg_sql import tsquery as text_query
from .registry import redacted
from .relevance import query_shape, relevance_key, share, whole
from .types import (
    RELEVANCE,
    Aggregation,
    AggregationResult,
    Bucket,
    CollectionPage,
    CollectionQuery,
    Conflict,
    NotFound,
    Outcome,
    QueryError,
    QueryTimeout,
    RawItem,
    SearchPage,
    SearchQuery,
    StorageUnavailable,
    StoreBusy,
    StoreError,
    WriteMode,
)
from .writing import batches, check_write, item_digest, item_key, keyset_condition, new_property_types

LOG = logging.getLogger("geostudies.store")
WRITE_BATCH = 2000
LOCK_TIMEOUT_S = 10            # how long a writer waits for another writer before StoreBusy (as SQLite)
WRITE_LOCK = 0x6765_6F73_7475  # advisory lock keys: one writer at a time; one migration at a time
MIGRATE_LOCK = WRITE_LOCK + 1
POOL_MAX = int(os.environ.get("GEOSTUDIES_PG_POOL", "8"))  # connections per process
CONNECT_TIMEOUT_S = 15
ITER_BATCH = 500


def _dumps(doc: Any) -> str:
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS).decode()


def _url_parts(location: str) -> dict[str, Any]:
    """The parts of a (password-redacted) URL, or nothing if it does not parse."""
    try:
        return dict(psycopg.conninfo.conninfo_to_dict(location))
    except psycopg.Error:
        return {}


def storage_error(exc: BaseException, location: str) -> StoreError:
    """A psycopg error as the store contract's error (the SQLite store maps sqlite3's the same way)."""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, errors.QueryCanceled):
        return QueryTimeout("the search ran longer than its time limit and was stopped; narrow it (a smaller "
                            "area, a datetime, fewer terms)")
    if isinstance(exc, errors.LockNotAvailable):
        return StoreBusy(f"the catalogue at {location} is busy: another writer (a build or a harvest) holds its "
                         f"write lock and did not let go within {LOCK_TIMEOUT_S} s; try again when it is done")
    if isinstance(exc, errors.UniqueViolation):
        return Conflict(f"the write contradicts what is stored: {str(exc).splitlines()[0]}")
    if isinstance(exc, errors.InsufficientPrivilege):
        user = (_url_parts(location).get("user") or "this role")
        return StorageUnavailable(f"the catalogue's database at {location} refused the role {user!r} "
                                  f"({str(exc).splitlines()[0]}): it may only read here; writing (build, load, "
                                  "harvest, copy --to) needs a role that may write")
    state = getattr(exc, "sqlstate", None) or ""
    caller = state[:2] in ("22", "54") or state[:2] == "42" and state not in ("42P01", "3F000", "42501")
    if caller:
        return QueryError(f"the query cannot be run: {str(exc).splitlines()[0]}")
    return StorageUnavailable(f"the catalogue's database at {location} cannot be used ({str(exc).strip()[:300]}); "
                              "check that PostgreSQL is running and reachable, and that the database was "
                              "migrated (geostudies build --db URL)")


def _guarded(method: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(method)
    def wrapper(self: PgStacStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (psycopg.Error, PoolTimeout) as exc:
            raise storage_error(exc, self.location) from exc
    return wrapper


def _ewkb(shape: Any) -> str:
    """Hex EWKB (SRID 4326) of a shape, as PostGIS reads geometry text."""
    return str(shapely.to_wkb(shapely.set_srid(shape, 4326), hex=True, include_srid=True))


def _geometries(geometries: list[dict[str, Any] | None]) -> list[str | None]:
    """Hex EWKB of a batch of GeoJSON geometries."""
    present, shapes = shapes_of(geometries)
    out: list[str | None] = [None] * len(geometries)
    if present:
        ewkb = shapely.to_wkb(shapely.set_srid(shapes, 4326), hex=True, include_srid=True)
        for i, text in zip(present, ewkb, strict=True):
            out[i] = str(text)
    return out


def _pgstac_can_hold(doc: dict[str, Any] | RawItem) -> bool:
    """pgstac.items needs a geometry and a datetime, or a start no later than the end."""
    props = doc.get("properties") or {}
    if not doc.get("geometry"):
        return False
    start, end = props.get("start_datetime"), props.get("end_datetime")
    if start and end:
        try:
            return bool(normalise_timestamp(start) <= normalise_timestamp(end))
        except TimestampError:
            return False
    return bool(props.get("datetime"))


class _PgstacOn:
    """What pypgstac's ``Loader`` needs of its ``PgstacDB``, on the store's own transaction connection (a
    PgstacDB would open its own connection and commit on its own)."""

    def __init__(self, conn: psycopg.Connection[Any]):
        self.conn = conn

    @property
    def version(self) -> str:
        return str(self.query_one("SELECT pgstac.get_version()"))

    def connect(self) -> psycopg.Connection[Any]:
        return self.conn

    def query(self, query: Any, args: Any = None, row_factory: Any = None) -> Iterator[Any]:
        with self.conn.cursor() as cur:
            cur.execute(query, args)
            yield from cur.fetchall() if cur.description else [None]

    def query_one(self, *args: Any, **kwargs: Any) -> Any:
        row = next(self.query(*args, **kwargs), None)
        return row[0] if row is not None and len(row) == 1 else row


def _overlap(conditions: list[str], params: list[Any], start_column: str, end_column: str,
             window: tuple[str | None, str | None], always_end: bool = False) -> None:
    """As the SQLite store's: rows whose [start, end] meets the window (either end may be open)."""
    start, end = window
    if end:
        conditions.append(f"{start_column} <= %s")
        params.append(end)
    if start or always_end:
        conditions.append(f"{end_column} >= %s")
        params.append(start or MIN_TIME)


def _sqlite_order(value: Any) -> tuple[int, Any]:
    """SQLite's ORDER BY of distinct values: numbers, then text (byte-wise)."""
    if isinstance(value, (int, float)):
        return (0, value)
    return (1, str(value).encode())


def _configure(conn: psycopg.Connection[Any]) -> None:
    """pgstac's functions and triggers name their tables unqualified: they need pgstac on the search path
    (as pypgstac sets it); PostGIS lives in public."""
    conn.execute("SET search_path TO pgstac, public")


class PgStacStore:
    """A catalogue in a PostgreSQL database with pgstac. Safe to share between threads (a connection pool)."""

    def __init__(self, location: str, readonly: bool = False):
        self.location = redacted(location)
        self.readonly = readonly
        self._dsn = location
        self._local = threading.local()
        self._property_keys: dict[str, dict[str, str]] = {}
        self._secret: bytes | None = None
        try:  # one plain connection first: a wrong URL fails at once, saying why (the pool would retry)
            psycopg.connect(location, connect_timeout=CONNECT_TIMEOUT_S).close()
        except psycopg.Error as exc:
            reason = (str(exc).strip().splitlines() or ["no reason given"])[0]
            raise StorageUnavailable(f"cannot connect to the catalogue's database at {self.location}: {reason}; "
                                     "check that PostgreSQL is running there and that the user, password and "
                                     "database name are right") from None
        self.pool = ConnectionPool(location, min_size=1, max_size=POOL_MAX, kwargs={"autocommit": True},
                                   configure=_configure, open=False, name="geostudies", timeout=CONNECT_TIMEOUT_S)
        try:
            self.pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
        except (PoolTimeout, psycopg.Error) as exc:
            self.pool.close()
            raise StorageUnavailable(f"cannot connect to the catalogue's database at {self.location}: PostgreSQL "
                                     "is not running or not reachable there, or the user, password or database "
                                     "name is wrong") from exc
        try:
            if readonly:
                version = self._schema_version()
                if version < SCHEMA_VERSION:
                    raise StoreError(f"the database at {self.location} holds no geostudies catalogue of this "
                                     f"version (schema {version}, needs {SCHEMA_VERSION}); create or migrate it "
                                     "with 'geostudies build --db URL'")
            else:
                self._migrate()
        except BaseException as exc:
            self.pool.close()
            if isinstance(exc, (psycopg.Error, PoolTimeout)):
                raise storage_error(exc, self.location) from exc
            raise

    def __enter__(self) -> PgStacStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.pool.close()

    # -- connections, transactions, schema ---------------------------------------------------
    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        """This thread's write transaction's connection, else one from the pool (autocommit)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            yield conn
            return
        with self.pool.connection() as pooled:
            yield pooled

    @contextmanager
    def _snapshot(self, timeout: float | None = None, savepoint: bool = True) -> Iterator[psycopg.Connection[Any]]:
        """One consistent view for a read of several statements (a search's count and page).

        Inside a write transaction the read sees that transaction's writes, in a savepoint: a query the
        caller got wrong (a QueryError) must not abort the whole transaction, as it does not on SQLite."""
        with self._connection() as conn:
            if conn.info.transaction_status != TransactionStatus.IDLE:
                if savepoint:
                    with conn.transaction():
                        yield conn
                else:
                    yield conn
                return
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                if timeout:
                    conn.execute(f"SET LOCAL statement_timeout = {max(1, int(timeout * 1000))}")
                yield conn

    @property
    def _writing(self) -> psycopg.Connection[Any]:
        conn = getattr(self._local, "conn", None)
        assert conn is not None, "writes run inside transaction()"
        return conn

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit: everything inside commits together or not at all (nests by savepoint). Writers
        take the catalogue's advisory lock first: one writer at a time, as with SQLite."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            with conn.transaction():
                yield
            return
        try:
            with self.pool.connection() as conn:
                self._local.conn = conn
                try:
                    with conn.transaction():
                        conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_S}s'")
                        conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                        conn.execute("SET LOCAL lock_timeout = 0")
                        yield
                        if getattr(self._local, "stats_queued", False):  # pgstac's partition statistics
                            conn.execute("SELECT pgstac.run_queued_queries_intransaction()")
                except BaseException:
                    self._property_keys.clear()  # what the rolled-back writes recorded is gone
                    raise
                finally:
                    self._local.conn = None
                    self._local.stats_queued = False
        except (psycopg.Error, PoolTimeout) as exc:
            raise storage_error(exc, self.location) from exc

    def _schema_version(self) -> int:
        with self._connection() as conn:
            if conn.execute("SELECT to_regclass('geostudies.state')").fetchone()[0] is None:  # type: ignore[index]
                return 0
        value = self.get_state("schema_version")
        return int(value) if isinstance(value, (int, str)) and str(value).isdigit() else 0

    def _migrate(self) -> None:
        """pgstac's migrations (pypgstac), then the geostudies schema; one process at a time."""
        from pypgstac.db import PgstacDB
        from pypgstac.migrate import Migrate

        with self.pool.connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATE_LOCK,))
            try:
                if self._schema_version() >= SCHEMA_VERSION:
                    return
                with PgstacDB(dsn=self._dsn) as db:
                    version = Migrate(db).run_migration()
                LOG.info("pgstac migrated to %s", version)
                with conn.transaction():
                    conn.execute(SCHEMA)
                    self._local.conn = conn
                    try:
                        if not isinstance(self.get_state(tokens.SECRET_KEY), str):
                            self.set_state(tokens.SECRET_KEY, tokens.new_secret())
                        self.set_state("schema_version", SCHEMA_VERSION)
                    finally:
                        self._local.conn = None
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATE_LOCK,))

    def check(self, timeout: float = 5.0) -> list[str]:
        """Problems that keep this database from serving the catalogue (empty: none)."""
        problems = []
        try:
            version = self._schema_version()
            if version != SCHEMA_VERSION:
                problems.append(f"geostudies schema version {version}, this geostudies needs {SCHEMA_VERSION}")
            with self._connection() as conn:
                if conn.execute("SELECT to_regclass('pgstac.items')").fetchone()[0] is None:  # type: ignore[index]
                    problems.append("pgstac is not installed in this database")
        except (psycopg.Error, StoreError) as exc:
            problems.append(str(exc))
        return problems

    def _secret_bytes(self) -> bytes:
        if self._secret is None:
            self._secret = tokens.secret_of(self)
        return self._secret

    # -- state -------------------------------------------------------------------------------
    def set_state(self, key: str, value: Any) -> None:
        with self._connection() as conn:
            conn.execute("INSERT INTO geostudies.state (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE "
                         "SET value = excluded.value", (key, _dumps(value)))

    def state_keys(self, prefix: str = "") -> list[str]:
        with self._connection() as conn:
            rows = conn.execute("SELECT key FROM geostudies.state WHERE left(key, %s) = %s ORDER BY key",
                                (len(prefix), prefix)).fetchall()
        return [r[0] for r in rows]

    def get_state(self, key: str) -> Any:
        with self._connection() as conn:
            row = conn.execute("SELECT value FROM geostudies.state WHERE key = %s", (key,)).fetchone()
        if row is None:
            return None
        try:
            return orjson.loads(row[0])
        except orjson.JSONDecodeError:
            return row[0]

    # -- collections -------------------------------------------------------------------------
    def upsert_collection(self, doc: dict[str, Any]) -> Outcome:
        collection_id = doc.get("id")
        if not isinstance(collection_id, str) or not collection_id:
            raise ValueError("a collection needs a string 'id'")
        text = _dumps(doc)
        with self.transaction():
            conn = self._writing
            row = conn.execute("SELECT num, doc FROM geostudies.collections WHERE id = %s",
                               (collection_id,)).fetchone()
            if row and row[1] == text:
                return "unchanged"
            start, end, boxes = collection_index_rows(doc)
            fts = tsvectors([collection_text(doc)])[0] or ""
            values = (doc.get("geostudies:kind"), text, utc_now("microseconds"), start, end, fts)
            if row:
                num = row[0]
                conn.execute("UPDATE geostudies.collections SET kind = %s, doc = %s, updated = %s, start_time = %s, "
                             "end_time = %s, fts = %s::tsvector WHERE num = %s", (*values, num))
                conn.execute("DELETE FROM geostudies.collection_boxes WHERE num = %s", (num,))
            else:
                num = conn.execute("INSERT INTO geostudies.collections (id, kind, doc, updated, start_time, end_time, "
                                   "fts) VALUES (%s, %s, %s, %s, %s, %s, %s::tsvector) RETURNING num",
                                   (collection_id, *values)).fetchone()[0]  # type: ignore[index]
            if boxes:
                with conn.cursor() as cur:
                    cur.executemany("INSERT INTO geostudies.collection_boxes VALUES (%s, %s, %s, %s, %s)",
                                    [(num, *b) for b in boxes])
            conn.execute("SELECT pgstac.upsert_collection(%s::text::jsonb)", (text,))
        return "updated" if row else "new"

    def delete_collection(self, collection_id: str, *, cascade: bool = False) -> int:
        with self.transaction():
            conn = self._writing
            row = conn.execute("SELECT num FROM geostudies.collections WHERE id = %s", (collection_id,)).fetchone()
            if row is None:
                raise NotFound(f"no collection {collection_id!r}")
            count = self.count_items(collection_id)
            if count and not cascade:
                raise Conflict(f"collection {collection_id!r} still has {count} item(s)")
            deleted = self.delete_items(collection_id)
            conn.execute("DELETE FROM geostudies.collections WHERE num = %s", (row[0],))
            conn.execute("DELETE FROM geostudies.properties WHERE collection = %s", (collection_id,))
            conn.execute("DELETE FROM pgstac.items WHERE collection = %s", (collection_id,))
            conn.execute("DELETE FROM pgstac.collections WHERE id = %s", (collection_id,))
        return deleted

    def get_collection(self, collection_id: str) -> dict[str, Any] | None:
        with self._connection() as conn:
            row = conn.execute("SELECT doc FROM geostudies.collections WHERE id = %s", (collection_id,)).fetchone()
        return orjson.loads(row[0]) if row else None

    def collections(self) -> list[dict[str, Any]]:
        with self._connection() as conn:
            rows = conn.execute("SELECT doc FROM geostudies.collections ORDER BY id").fetchall()
        return [orjson.loads(r[0]) for r in rows]

    def search_collections(self, query: CollectionQuery) -> CollectionPage:
        conditions: list[str] = []
        params: list[Any] = []
        if query.bbox:
            boxes = bbox_boxes(query.bbox)
            clause = " OR ".join("(minx <= %s AND maxx >= %s AND miny <= %s AND maxy >= %s)" for _ in boxes)
            for minx, maxx, miny, maxy in boxes:
                params += [maxx, minx, maxy, miny]
            conditions.append(f"num IN (SELECT num FROM geostudies.collection_boxes WHERE {clause})")
        if query.datetime:
            _overlap(conditions, params, "start_time", "end_time", query.datetime)
        if query.q:
            match = text_query(query.q)
            conditions.append("fts @@ %s::tsquery" if match else "false")
            params += [match] if match else []
        where = " AND ".join(conditions) or "true"
        with self._snapshot() as conn:
            matched = conn.execute(f"SELECT count(*) FROM geostudies.collections WHERE {where}",
                                   params).fetchone()[0]  # type: ignore[index]
            rows = conn.execute(f"SELECT doc FROM geostudies.collections WHERE {where} ORDER BY id LIMIT %s OFFSET %s",
                                [*params, query.limit, query.offset]).fetchall()
        return CollectionPage(collections=[orjson.loads(r[0]) for r in rows], matched=matched)

    # -- items: writes ------------------------------------------------------------------------
    def upsert_items(self, docs: Iterable[dict[str, Any] | RawItem], mode: WriteMode = "upsert") -> dict[str, int]:
        counts = {"new": 0, "updated": 0, "unchanged": 0}
        with self.transaction():
            for batch in batches(docs, WRITE_BATCH, key=item_key):
                self._write_batch(batch, mode, counts)
        return counts

    def _write_batch(self, docs: list[dict[str, Any] | RawItem], mode: WriteMode, counts: dict[str, int]) -> None:
        conn = self._writing
        by_collection: dict[str, list[tuple[Any, ItemJSON]]] = {}
        for doc in docs:
            collection, item_id = doc.get("collection"), doc.get("id")
            if not isinstance(collection, str) or not collection or not isinstance(item_id, str) or not item_id:
                raise ValueError(f"item {item_id!r} needs both a string 'id' and a 'collection'")
            stored = ItemJSON(doc.json, doc.links_at) if isinstance(doc, RawItem) else itemjson.from_dict(doc)
            by_collection.setdefault(collection, []).append((doc, stored))
        known = {r[0] for r in conn.execute("SELECT id FROM geostudies.collections WHERE id = ANY(%s)",
                                            (list(by_collection),))}
        for collection, entries in by_collection.items():
            if collection not in known:
                raise NotFound(f"no collection {collection!r} for item {entries[0][0].get('id')!r}")
        now = utc_now("microseconds")
        rows: list[list[Any]] = []
        texts: list[tuple[str, str]] = []
        text_rows: list[int] = []
        stale: list[int] = []
        mirror: list[dict[str, Any]] = []
        unmirror: dict[str, list[str]] = {}
        property_rows: list[tuple[str, str, str]] = []
        for collection, entries in by_collection.items():
            ids = [d.get("id") for d, _ in entries]
            existing = {r[0]: (r[1], bytes(r[2])) for r in conn.execute(
                "SELECT id, num, hash FROM geostudies.items WHERE collection = %s AND id = ANY(%s)", (collection, ids))}
            shapes = _geometries([d.get("geometry") for d, _ in entries])
            keys = self._property_keys.setdefault(collection, {})
            for (doc, stored), geometry in zip(entries, shapes, strict=True):
                item_id = doc.get("id")
                digest = item_digest(stored)
                row = existing.get(item_id)
                check_write(mode, row is not None, item_id, collection)
                if row and row[1] == digest:
                    counts["unchanged"] += 1
                    continue
                props = doc.get("properties") or {}
                property_rows += [(collection, k, t) for k, t in new_property_types(props, keys).items()]
                start, end, _, _ = item_times(doc)
                if row:
                    stale.append(row[0])
                    unmirror.setdefault(collection, []).append(item_id)
                    counts["updated"] += 1
                else:
                    counts["new"] += 1
                text = stored.json.decode()
                if any(key in props for key in TEXT_FIELDS):  # nothing to find beyond the id: no text entry
                    texts.append(document_text(doc))
                    text_rows.append(len(rows))
                rows.append([row[0] if row else None, collection, item_id, start, end, item_target(doc), geometry,
                             item_area(doc), _dumps(props), text, stored.links_at, digest, now, None])
                if _pgstac_can_hold(doc):
                    mirror.append(doc if isinstance(doc, dict) else orjson.loads(stored.json))
        for i, vector in zip(text_rows, tsvectors(texts), strict=True):
            rows[i][-1] = vector
        fresh = [r for r in rows if r[0] is None]
        if fresh:
            nums = conn.execute("SELECT nextval('geostudies.items_num_seq') FROM generate_series(1, %s)",
                                (len(fresh),)).fetchall()
            for r, (num,) in zip(fresh, nums, strict=True):
                r[0] = num
        if stale:
            conn.execute("DELETE FROM geostudies.items WHERE num = ANY(%s)", (stale,))
        with conn.cursor() as cur:
            with cur.copy("COPY geostudies.items (num, collection, id, datetime, end_datetime, target, geometry, "
                          "area_km2, props, doc, links_at, hash, updated, fts) FROM STDIN") as copy:
                for r in sorted(rows, key=lambda r: r[0]):
                    copy.write_row(r)
            if property_rows:
                # A type seen once stays; 'null' is replaced as soon as a real value shows up.
                cur.executemany("INSERT INTO geostudies.properties (collection, name, type) VALUES (%s, %s, %s) "
                                "ON CONFLICT (collection, name) DO UPDATE SET type = excluded.type "
                                "WHERE geostudies.properties.type = 'null'", property_rows)
            for collection, ids in unmirror.items():  # an update may have lost what pgstac needs
                cur.execute("DELETE FROM pgstac.items WHERE collection = %s AND id = ANY(%s)", (collection, ids))
        if mirror:
            self._mirror(conn, mirror)

    def _mirror(self, conn: psycopg.Connection[Any], docs: list[dict[str, Any]]) -> None:
        """Write Items into pgstac's tables the way ``pypgstac load`` does (dehydrated in Python, COPY into
        their partitions, upsert), on this transaction's connection: about 20x faster than pgstac's staging
        tables, whose trigger dehydrates each Item in PL/pgSQL.

        The loader refreshes a partition's statistics after every batch, a scan of the whole partition:
        queued instead (pgstac's ``use_queue``), and run once per partition when the transaction ends."""
        from pypgstac.load import Loader, Methods

        if not getattr(self._local, "stats_queued", False):
            conn.execute("SET LOCAL pgstac.use_queue = 'true'")
            self._local.stats_queued = True
        Loader(_PgstacOn(conn)).load_items(iter(docs), insert_mode=Methods.upsert)  # type: ignore[arg-type]

    def delete_item(self, collection_id: str, item_id: str) -> None:
        with self.transaction():
            conn = self._writing
            if conn.execute("DELETE FROM geostudies.items WHERE collection = %s AND id = %s RETURNING num",
                            (collection_id, item_id)).fetchone() is None:
                raise NotFound(f"no item {item_id!r} in collection {collection_id!r}")
            conn.execute("DELETE FROM pgstac.items WHERE collection = %s AND id = %s", (collection_id, item_id))

    def delete_items(self, collection_id: str, keep_ids: set[str] | None = None) -> int:
        with self.transaction():
            conn = self._writing
            doomed = [r[0] for r in conn.execute(
                "DELETE FROM geostudies.items WHERE collection = %s AND NOT (id = ANY(%s)) RETURNING id",
                (collection_id, sorted(keep_ids or ())))]
            conn.execute("DELETE FROM pgstac.items WHERE collection = %s AND id = ANY(%s)", (collection_id, doomed))
        return len(doomed)

    # -- items: reads ------------------------------------------------------------------------
    def get_item(self, collection_id: str, item_id: str) -> dict[str, Any] | None:
        with self._connection() as conn:
            row = conn.execute("SELECT doc FROM geostudies.items WHERE collection = %s AND id = %s",
                               (collection_id, item_id)).fetchone()
        return orjson.loads(row[0]) if row else None

    def last_modified(self, collection_id: str, item_id: str | None = None) -> str | None:
        with self._connection() as conn:
            if item_id is None:
                row = conn.execute("SELECT greatest((SELECT updated FROM geostudies.collections WHERE id = %s), "
                                   "(SELECT max(updated) FROM geostudies.items WHERE collection = %s))",
                                   (collection_id, collection_id)).fetchone()
            else:
                row = conn.execute("SELECT updated FROM geostudies.items WHERE collection = %s AND id = %s",
                                   (collection_id, item_id)).fetchone()
        return row[0] if row else None

    def count_items(self, collection_id: str | None = None) -> int:
        with self._connection() as conn:
            if collection_id is None:
                row = conn.execute("SELECT count(*) FROM geostudies.items").fetchone()
            else:
                row = conn.execute("SELECT count(*) FROM geostudies.items WHERE collection = %s",
                                   (collection_id,)).fetchone()
        return int(row[0])  # type: ignore[index]

    def item_ids(self, collection_id: str, limit: int) -> list[str]:
        with self._connection() as conn:
            rows = conn.execute("SELECT id FROM geostudies.items WHERE collection = %s ORDER BY id LIMIT %s",
                                (collection_id, limit)).fetchall()
        return [r[0] for r in rows]

    def iter_items(self, collection_id: str | None = None) -> Iterator[dict[str, Any]]:
        """Every Item in insertion order through a server-side cursor (one snapshot, ITER_BATCH rows a trip)."""
        try:
            # no savepoint: the caller may write between Items, and a savepoint must not outlive them
            with self._snapshot(savepoint=False) as conn, conn.cursor(name=f"iter_{id(object())}") as cur:
                cur.itersize = ITER_BATCH
                if collection_id is None:
                    cur.execute("SELECT doc FROM geostudies.items ORDER BY num")
                else:
                    cur.execute("SELECT doc FROM geostudies.items WHERE collection = %s ORDER BY num", (collection_id,))
                for (doc,) in cur:
                    yield orjson.loads(doc)
        except (psycopg.Error, PoolTimeout) as exc:
            raise storage_error(exc, self.location) from exc

    def property_types(self, collection_id: str | None = None) -> dict[str, str]:
        with self._connection() as conn:
            if collection_id is not None:
                return dict(conn.execute("SELECT name, type FROM geostudies.properties WHERE collection = %s",
                                         (collection_id,)).fetchall())
            rows = conn.execute("SELECT name, type FROM geostudies.properties ORDER BY collection").fetchall()
        merged: dict[str, str] = {}
        for name, kind in rows:
            if merged.get(name, "null") == "null":
                merged[name] = kind
        return merged

    def property_values(self, prop: str, collection_id: str | None = None) -> list[Any]:
        column = property_json(prop)
        where = "WHERE items.collection = %s" if collection_id else ""
        with self._connection() as conn:
            rows = conn.execute(f"SELECT DISTINCT geostudies.sv_key(e) FROM geostudies.items AS items, "
                                f"geostudies.sv_elements({column}) AS e {where}",
                                (collection_id,) if collection_id else ()).fetchall()
        values = [_dumps(v) if isinstance(v, (dict, list)) else v for (v,) in rows if v is not None]
        return sorted(values, key=_sqlite_order)

    # -- search ------------------------------------------------------------------------------
    def _spatial_sql(self, geometry: dict[str, Any], op: str = "s_intersects",
                     target: str | None = None) -> tuple[str, list[Any]]:
        """One self-contained condition for a CQL2 spatial predicate (false, never null, under NOT)."""
        function = SPATIAL_FUNCTIONS.get(op)
        if function is None:
            raise QueryError(f"unsupported spatial operator {op!r} (supported: {', '.join(SPATIAL_FUNCTIONS)}, "
                             "s_disjoint)")
        return (f"(items.target = %s AND items.geometry IS NOT NULL AND {function}(items.geometry, %s::geometry))",
                [target or "earth", _ewkb(query_shape(geometry))])

    def _where(self, query: SearchQuery) -> tuple[str, list[Any], Any]:
        """(WHERE sql, its parameters, the query area for relevance or None)."""
        conditions: list[str] = []
        params: list[Any] = []
        if query.collections:
            conditions.append("items.collection = ANY(%s)")
            params.append(list(query.collections))
        if query.ids:
            conditions.append("items.id = ANY(%s)")
            params.append(list(query.ids))
        area = None
        if query.bbox:
            area = bbox_shape(query.bbox)
        elif query.intersects:
            area = query_shape(query.intersects)
        if area is not None:
            conditions.append("items.target = %s AND ST_Intersects(items.geometry, %s::geometry)")
            params += [query.target or "earth", _ewkb(area)]
        if query.datetime:
            _overlap(conditions, params, "items.datetime", "items.end_datetime", query.datetime, always_end=True)
        if query.q:
            match = text_query(query.q)
            conditions.append("items.fts @@ %s::tsquery" if match else "false")
            params += [match] if match else []
        if query.filter is not None:
            translator = PgTranslator(lambda g, op: self._spatial_sql(g, op, query.target))
            sql, p = translator.translate(query.filter)
            conditions.append(sql)
            params += p
        if any(name == RELEVANCE for name, _ in query.sortby) and area is None:
            raise QueryError(f"sortby {RELEVANCE} ranks by the query area: it needs bbox or intersects")
        return " AND ".join(conditions) or "true", params, area

    @staticmethod
    def _sort_keys(sortby: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
        """SQL sort keys (the SQLite store's order), insertion order last so the order is total."""
        keys: list[tuple[str, bool]] = []
        for name, ascending in sortby:
            if name in ("datetime", "properties.datetime"):
                keys.append(("items.datetime", ascending))
            elif name in ("geostudies:area_km2", "properties.geostudies:area_km2"):
                keys += [("(items.area_km2 IS NULL)::int", ascending), ("coalesce(items.area_km2, 0)", ascending)]
            elif name == RELEVANCE:
                raise AssertionError("relevance is sorted by _relevance_page")
            else:
                rank, number, text = sort_expressions(name)
                keys += [(rank, ascending), (number, ascending), (f'({text}) COLLATE "C"', ascending)]
        keys.append(("items.num", sortby[0][1] if sortby else True))
        return keys

    def search(self, query: SearchQuery, *, encoded: bool = False) -> SearchPage:
        where, params, area = self._where(query)
        token = tokens.check_keyset(tokens.verify(query.token, self._secret_bytes())) if query.token else None
        with self._snapshot(query.timeout) as conn:
            if any(name == RELEVANCE for name, _ in query.sortby):
                return self._relevance_page(conn, query, token, where, params, area, encoded)
            return self._page(conn, query, token, where, params, self._sort_keys(query.sortby), encoded)

    def _page(self, conn: psycopg.Connection[Any], query: SearchQuery, token: dict[str, Any] | None, where: str,
              params: list[Any], keys: list[tuple[str, bool]], encoded: bool) -> SearchPage:
        matched = token.get("m") if token else None
        direction = "next"
        page_sql, page_params = "true", list[Any]()
        if token:
            if len(token["v"]) != len(keys):
                raise QueryError("paging token does not match this query's sort order")
            direction = token["d"]
            page_sql, page_params = self._keyset(keys, token["v"], forward=direction == "next")
        order_keys = keys if direction == "next" else [(k, not asc) for k, asc in keys]
        order = ", ".join(f"{k} {'ASC' if asc else 'DESC'}" for k, asc in order_keys)
        select = ", ".join(k for k, _ in keys)
        rows = conn.execute(f"SELECT items.doc, items.links_at, items.collection, items.id, {select} "
                            f"FROM geostudies.items AS items WHERE {where} AND {page_sql} ORDER BY {order} LIMIT %s",
                            [*params, *page_params, query.limit + 1]).fetchall()
        if not isinstance(matched, int):
            matched = len(rows) if token is None and len(rows) <= query.limit else conn.execute(
                f"SELECT count(*) FROM geostudies.items AS items WHERE {where}", params).fetchone()[0]  # type: ignore[index]
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        if direction == "prev":
            rows.reverse()
        pages = [(r[0], r[1], r[2], r[3], list(r[4:])) for r in rows]
        return self._assemble(pages, matched, more, direction, query.token is not None, encoded)

    def _assemble(self, rows: list[tuple[str, int, str, str, list[Any]]], matched: int, more: bool, direction: str,
                  had_token: bool, encoded: bool) -> SearchPage:
        """A page from (doc, links_at, collection, id, sort values) rows in page order, with its tokens."""
        documents = [ItemJSON(doc.encode(), links_at, collection, item_id) for doc, links_at, collection, item_id, _
                     in rows] if encoded else None
        items = [] if encoded else [orjson.loads(r[0]) for r in rows]
        next_token = prev_token = None
        if rows:
            has_next = more if direction == "next" else True
            has_prev = had_token if direction == "next" else more
            secret = self._secret_bytes()
            if has_next:
                next_token = tokens.sign({"d": "next", "v": rows[-1][4], "m": matched}, secret)
            if has_prev:
                prev_token = tokens.sign({"d": "prev", "v": rows[0][4], "m": matched}, secret)
        return SearchPage(items=items, matched=matched, next_token=next_token, prev_token=prev_token,
                          documents=documents)

    @staticmethod
    def _keyset(keys: list[tuple[str, bool]], values: list[Any], forward: bool) -> tuple[str, list[Any]]:
        return keyset_condition(keys, values, forward, "%s")

    def _relevance_page(self, conn: psycopg.Connection[Any], query: SearchQuery, token: dict[str, Any] | None,
                        where: str, params: list[Any], area: Any, encoded: bool) -> SearchPage:
        """Relevance is computed per Item by the functions the SQLite store calls from SQL (``relevance.py``),
        on the geodesic areas of ``catalog.areas``: the matches' geometries are read, ranked here, paged by
        the same keyset rule."""
        key = relevance_key(area, query.target)
        others = self._sort_keys([s for s in query.sortby if s[0] != RELEVANCE])[:-1]
        select = "".join(f", {k}" for k, _ in others)
        rows = conn.execute(f"SELECT items.num, ST_AsBinary(items.geometry), items.area_km2{select} "
                            f"FROM geostudies.items AS items WHERE {where}", params).fetchall()
        # The SQLite store's keys: relevance is (whole, share, area) with area null last, as two keys here.
        directions: list[bool] = []
        for name, ascending in query.sortby:
            if name == RELEVANCE:
                directions += [not ascending, ascending, not ascending, not ascending]
            else:
                directions += [ascending] * len(self._sort_keys([(name, ascending)])[:-1])
        first, first_ascending = query.sortby[0]
        directions.append(not first_ascending if first == RELEVANCE else first_ascending)
        values: list[list[Any]] = []
        for num, wkb, item_area_km2, *rest in rows:
            wkb = bytes(wkb) if wkb is not None else None
            row_values: list[Any] = []
            for name, ascending in query.sortby:
                if name == RELEVANCE:
                    row_values += [whole(wkb, item_area_km2, key), share(wkb, item_area_km2, key),
                                   int(item_area_km2 is None), item_area_km2 or 0.0]
                else:
                    width = len(self._sort_keys([(name, ascending)])[:-1])
                    row_values += rest[:width]
                    rest = rest[width:]
            values.append([*row_values, num])

        def compare(a: list[Any], b: list[Any]) -> int:
            for x, y, ascending in zip(a, b, directions, strict=True):
                if x != y:
                    return (-1 if x < y else 1) * (1 if ascending else -1)
            return 0

        values.sort(key=functools.cmp_to_key(compare))
        matched = len(values)
        direction = token["d"] if token else "next"
        if token:
            if len(token["v"]) != len(directions):
                raise QueryError("paging token does not match this query's sort order")
            if direction == "next":
                chosen = [v for v in values if compare(v, token["v"]) > 0]
                more = len(chosen) > query.limit
                chosen = chosen[: query.limit]
            else:
                before = [v for v in values if compare(v, token["v"]) < 0]
                more = len(before) > query.limit
                chosen = before[-query.limit:] if query.limit else []
        else:
            chosen, more = values[: query.limit], len(values) > query.limit
        docs = {r[0]: r[1:] for r in conn.execute(
            "SELECT num, doc, links_at, collection, id FROM geostudies.items WHERE num = ANY(%s)",
            ([v[-1] for v in chosen],))}
        page = [(*docs[v[-1]], v) for v in chosen]
        return self._assemble(page, matched, more, direction, token is not None, encoded)

    def aggregate(self, query: SearchQuery, aggregations: dict[str, Aggregation]) -> dict[str, AggregationResult]:
        """Each aggregation as one GROUP BY over the rows the search's WHERE keeps, in one snapshot."""
        where, params, _ = self._where(query)
        with self._snapshot(query.timeout) as conn:
            return {name: self._aggregate_one(conn, spec, where, params) for name, spec in aggregations.items()}

    @staticmethod
    def _aggregate_one(conn: psycopg.Connection[Any], spec: Aggregation, where: str,
                       params: list[Any]) -> AggregationResult:
        base = f"FROM geostudies.items AS items WHERE {where}"
        if spec.kind == "count":
            return AggregationResult(value=conn.execute(f"SELECT count(*) {base}", params).fetchone()[0])  # type: ignore[index]
        if spec.kind in ("min", "max"):
            if spec.field != "datetime":
                raise QueryError(f"{spec.kind} aggregations are over datetime only, not {spec.field!r}")
            value = conn.execute(f"SELECT {spec.kind}(items.datetime) {base}", params).fetchone()[0]  # type: ignore[index]
            return AggregationResult(value=rfc3339(value))
        if spec.kind == "terms":
            if spec.field == "collection":
                rows = conn.execute(f"SELECT items.collection, count(*) {base} GROUP BY 1", params).fetchall()
            else:
                # As json_each: an array's elements or a scalar as its one; an Item counts once per value.
                rows = conn.execute(
                    f"SELECT geostudies.sv_key(e), count(DISTINCT items.num) FROM geostudies.items AS items, "
                    f"geostudies.sv_elements({property_json(spec.field)}) AS e WHERE {where} "
                    "AND geostudies.sv_key(e) IS NOT NULL AND jsonb_typeof(e) NOT IN ('object', 'array') GROUP BY 1",
                    params).fetchall()
            return AggregationResult(buckets=terms_buckets([(k, n) for k, n in rows]))
        if spec.kind == "interval":
            width = {"year": 4, "month": 7}.get(spec.interval)
            if width is None:
                raise QueryError(f"interval must be 'year' or 'month', not {spec.interval!r}")
            rows = conn.execute(f"SELECT substr(items.datetime, 1, {width}) AS k, count(*) {base} GROUP BY k "
                                "ORDER BY k", params).fetchall()
            return AggregationResult(buckets=[Bucket(k, n) for k, n in rows])
        if spec.kind == "geotile":
            if not 0 <= spec.precision <= 12:
                raise QueryError("geotile precision must be 0..12")
            rows = conn.execute(f"SELECT items.doc::jsonb -> 'bbox', ST_AsBinary(items.geometry) {base} "
                                "AND items.geometry IS NOT NULL", params).fetchall()
            return AggregationResult(buckets=geotile_buckets([(b, bytes(g)) for b, g in rows], spec.precision))
        raise QueryError(f"unknown aggregation kind {spec.kind!r}")


# Every public method reports psycopg errors as the contract's errors.
for _name in ("upsert_collection", "delete_collection", "get_collection", "collections", "search_collections",
              "upsert_items", "delete_item", "delete_items", "set_state", "get_state", "state_keys", "get_item",
              "last_modified",
              "count_items", "item_ids", "property_types", "property_values", "search", "aggregate"):
    setattr(PgStacStore, _name, _guarded(getattr(PgStacStore, _name)))

