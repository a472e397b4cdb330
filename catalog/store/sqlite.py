"""The embedded SQLite store: the whole catalogue in one file.

Tables (see ``sqlite_schema.py`` for how they came to be): ``collections`` and ``items`` hold the STAC
documents as JSON with the searchable fields as columns; ``items_rtree`` (2-D) and ``items_rtree_t``
(space-time) hold each Item's bbox (an antimeridian-crossing bbox as two boxes) and narrow spatial queries
before the exact shapely check; ``items_fts`` and ``collections_fts`` (FTS5) answer free text in English
and Chinese; ``collections_rtree`` answers Collection Search by extent; ``properties`` remembers the JSON
type of every Item property (for queryables); ``state`` keeps small facts such as harvest progress.
"""
from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import wraps
from itertools import repeat
from pathlib import Path
from typing import Any

import orjson
import shapely
import shapely.geometry

from ..geometry import bbox_boxes, bbox_shape
from ..times import MIN_TIME, utc_now
from . import itemjson, tokens
from .aggregating import geotile_buckets, rfc3339, terms_buckets
from .cql2sql import DOCUMENT, Translator, column_for, property_path
from .fulltext import collection_text, fts_query
from .indexing import (
    FAR_DAYS,
    collection_index_rows,
    days,
)
from .itemjson import ItemJSON
from .relevance import prepared as _prepared
from .relevance import query_shape
from .relevance import relevance_key as _relevance_key
from .relevance import share as _share
from .relevance import whole as _whole
from .sqlite_docs import TRAIN_AFTER, DocCodec, stored_digest
from .sqlite_rows import ItemPreparer, PreparedItems, prepare_items
from .sqlite_schema import (
    BOX_FORMAT,
    MIGRATIONS,
    PENDING_BOXES_TABLE,
    SCHEMA_VERSION,
    flush_pending_boxes,
    sorting_in_pieces,
)
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
from .writing import batches, check_write, item_key, keyset_condition

pack_box = BOX_FORMAT.pack
# Python's sqlite3 binds a bytes value (documents, WKB, hashes, boxes: four an Item) only after looking for an
# adapter, a lookup that fails slowly (it formats an AttributeError each time, ~2.5k instructions). With bytes
# registered as their own adapter (bytes(b) is b) the lookup succeeds at once: the same value is bound, and a
# bulk write costs ~5 % fewer instructions in the writing process (callgrind, 4,180 S2 Items).
sqlite3.register_adapter(bytes, bytes)
BOXES_PER_COLLECTION = 64  # collections_rtree ids are num * 64 + part
WRITE_BATCH = 2000  # Items per executemany round in upsert_items
LOG = logging.getLogger("geostudies.store")
COUNT_WITH_PAGE = 1000  # a first page of a search reads up to this many matches, and counts them if that is all
CACHE_KIB = 64 * 1024  # page cache per connection (KiB): the R*Tree and indexes of 10^6 items stay in memory
MMAP_BYTES = 4 << 30   # reads through the OS page cache instead of copying pages
# A bulk write of this many Items or more, and at least as many as are stored already, drops the items
# table's secondary indexes and builds them again after the rows (one sort each) instead of updating them row
# by row: at 10^6 Items the row-by-row B-tree updates no longer fit the page cache and spill to the WAL.
TEMP_CACHE_KIB = 128 * 1024  # page cache of temporary tables (waiting R*Tree boxes: ~90 B an Item)
BULK_ITEMS = 100_000
BULK_CACHE_KIB = 256 * 1024  # page cache while a bulk write runs (then back to CACHE_KIB)


def _dumps(doc: Any) -> str:
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS).decode()


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

LOCK_TIMEOUT_MS = 10_000  # how long a writer waits for another writer's lock before StoreBusy
# SQLite errors that mean "this query is too big or too deep", i.e. the caller's; every other error of a
# statement that ran before (no such table, malformed, I/O) means the storage is damaged: StorageUnavailable.
CALLER_ERRORS = ("parser stack overflow", "too many sql variables", "expression tree is too large",
                 "like or glob pattern too complex", "string or blob too big", "too many terms",
                 "fts5: syntax error", "unknown special query")


def storage_error(exc: sqlite3.Error, path: Path | str) -> StoreError:
    """A sqlite3 error as the store contract's error: caller (QueryError), timeout, busy or damaged storage."""
    message = str(exc)
    lowered = message.lower()
    if lowered == "interrupted":
        return QueryTimeout("the search ran longer than its time limit and was stopped; narrow it (a smaller "
                            "area, a datetime, fewer terms)")
    if "database is locked" in lowered or "database is busy" in lowered:
        return StoreBusy(f"the catalogue at {path} is busy: another writer (a build, a load or a harvest) holds "
                         f"its write lock and did not let go within {LOCK_TIMEOUT_MS // 1000} s; try again when it "
                         "is done")
    if "database or disk is full" in lowered:
        return StorageUnavailable(f"the disk holding {path} is full (or the file reached its size limit): nothing "
                                  "of this write was kept; free some space and run it again")
    if isinstance(exc, sqlite3.OperationalError) and any(fragment in lowered for fragment in CALLER_ERRORS):
        return QueryError(f"the query cannot be run: {message}")
    if isinstance(exc, sqlite3.IntegrityError) and "unique constraint failed" in lowered:
        # A write that contradicts what is stored (as PostgreSQL's UniqueViolation): the file is sound.
        return Conflict(f"the write contradicts what is stored: {message}")
    return StorageUnavailable(f"the catalogue's storage at {path} cannot be read ({message}); it may be damaged: "
                              "rebuild it (geostudies build) or restore a copy")


def _guarded(method: Callable[..., Any]) -> Callable[..., Any]:
    """Translate sqlite3 errors raised by a store method into the contract's errors (see storage_error)."""
    @wraps(method)
    def wrapper(self: SQLiteStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise storage_error(exc, self.path) from exc
    return wrapper


def _add_overlap(conditions: list[str], params: list[Any], start_column: str, end_column: str,
                 window: tuple[str | None, str | None], always_end: bool = False) -> None:
    """Rows whose [start, end] meets the window (either end of the window may be open).

    ``always_end``: the end is compared even when the window has no start, so that a row stored with no time
    (end ``NO_TIME_END``, before every timestamp) never meets a window."""
    start, end = window
    if end:
        conditions.append(f"{start_column} <= ?")
        params.append(end)
    if start or always_end:
        conditions.append(f"{end_column} >= ?")
        params.append(start or MIN_TIME)


def _add_text_match(conditions: list[str], params: list[Any], key: str, fts_table: str, terms: list[str]) -> None:
    """Rows whose FTS5 entry matches the free-text terms (a term with no words matches nothing)."""
    match = fts_query(terms)
    if match is None:
        conditions.append("0")
    else:
        conditions.append(f"{key} IN (SELECT rowid FROM {fts_table} WHERE {fts_table} MATCH ?)")
        params.append(match)


def sqlite_path(location: str | os.PathLike[str]) -> Path:
    """The file of a SQLite location: a plain path or ``sqlite:///relative`` / ``sqlite:////absolute``."""
    text = os.fspath(location)
    if text.lower().startswith("sqlite://"):
        text = text[len("sqlite://"):]
        text = text[1:] if text.startswith("/") else text
    return Path(text)


class SQLiteStore:
    """A catalogue in one SQLite file. Safe to share between threads (one connection per thread)."""

    def __init__(self, location: str | os.PathLike[str], readonly: bool = False):
        self.path = sqlite_path(location)
        self.location = str(self.path)
        self.readonly = readonly
        self._local = threading.local()
        self.codec = DocCodec()
        self._property_keys: dict[str, dict[str, str]] = {}  # property types already recorded, per collection
        if readonly:
            if not self.path.exists():
                raise FileNotFoundError(f"no catalogue at {self.path}; run 'geostudies build' first")
            try:
                version = self._schema_version()
            except (sqlite3.Error, StoreError) as exc:
                self.close()
                error = storage_error(exc, self.path) if isinstance(exc, sqlite3.Error) else exc
                if isinstance(error, StoreBusy):
                    raise error from None  # sound but locked (a first load's rollback journal): not "rebuild it"
                raise StorageUnavailable(f"{self.path} is not a readable geostudies catalogue ({exc}); rebuild it "
                                         "(geostudies build) or restore a copy") from None
            if version < SCHEMA_VERSION:
                raise StoreError(f"the catalogue at {self.path} has schema version {version}, older than this "
                                 f"geostudies (version {SCHEMA_VERSION}); open it once writable (e.g. "
                                 "'geostudies build') to migrate it")
        else:
            try:
                self._migrate()
            except sqlite3.Error as exc:
                raise storage_error(exc, self.path) from exc
        self._secret: bytes | None = None

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
            conn.execute(f"PRAGMA busy_timeout={LOCK_TIMEOUT_MS}")
            conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            conn.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
            if not self.readonly:
                conn.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at checkpoints, consistent always
                conn.execute(PENDING_BOXES_TABLE)
                # The temporary schema's own page cache (the default is 2 MB): a big write's waiting boxes stay
                # in memory up to this, then spill to a temporary file.
                conn.execute(f"PRAGMA temp.cache_size=-{TEMP_CACHE_KIB}")
            conn.create_function("gs_json", 2, lambda doc, zdict: self.codec.decode(doc, zdict, conn).decode()
                                 if doc is not None else None, deterministic=True)
            conn.create_function("gs_intersects", 2, _intersects, deterministic=True)
            conn.create_function("gs_within", 2, _within, deterministic=True)
            conn.create_function("gs_contains", 2, _contains, deterministic=True)
            conn.create_function("gs_share", 3, _share, deterministic=True)
            conn.create_function("gs_whole", 3, _whole, deterministic=True)
            self._local.conn = conn
            self.codec.load(conn)
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            try:
                if not self.readonly:
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the file alone is then the whole catalogue
            except sqlite3.Error:
                pass  # a full disk or a busy reader: the WAL stays beside the file and is read on the next open
            finally:
                conn.close()
                self._local.conn = None

    def check(self, timeout: float = 5.0) -> list[str]:
        """The schema version, the tables, the file's length, and ``PRAGMA quick_check`` for up to ``timeout``
        seconds: a list of problems, empty when the file looks whole. A large catalogue's quick check may not
        finish in time (~1 GB per 10 s here); that is logged, not a problem: what was read was whole."""
        problems: list[str] = []
        try:
            version = self._schema_version()
            if version != SCHEMA_VERSION:
                problems.append(f"schema version {version}, this geostudies needs {SCHEMA_VERSION}")
            if self.conn.execute("SELECT count(*) FROM sqlite_master WHERE name IN ('items', 'collections', "
                                 "'state')").fetchone()[0] != 3:
                problems.append("tables are missing")
            pages = self.conn.execute("PRAGMA page_count").fetchone()[0]
            page_size = self.conn.execute("PRAGMA page_size").fetchone()[0]
            if self.path.exists() and self.path.stat().st_size < pages * page_size and not Path(
                    f"{self.path}-wal").exists():
                problems.append(f"the file is shorter than its {pages} pages: truncated")
            with self._deadline(timeout):
                rows = self.conn.execute("PRAGMA quick_check(20)").fetchall()
            problems += [r[0] for r in rows if r[0] != "ok"]
        except (sqlite3.Error, StoreError) as exc:
            if str(exc) == "interrupted":
                LOG.warning("%s: the integrity check stopped after %g s (a large catalogue); the part it read "
                            "is whole", self.path, timeout)
            else:
                problems.append(str(exc))
        return problems

    @contextmanager
    def _deadline(self, seconds: float | None) -> Iterator[None]:
        """Statements on this thread's connection stop with 'interrupted' once ``seconds`` have passed."""
        if not seconds:
            yield
            return
        end = time.monotonic() + seconds
        self.conn.set_progress_handler(lambda: int(time.monotonic() > end), 2000)
        try:
            yield
        finally:
            self.conn.set_progress_handler(None, 0)

    def _secret_bytes(self) -> bytes:
        if self._secret is None:
            self._secret = tokens.secret_of(self)
        return self._secret

    def _encode_token(self, payload: dict[str, Any]) -> str:
        return tokens.sign(payload, self._secret_bytes())

    def _decode_token(self, token: str) -> dict[str, Any]:
        return tokens.check_keyset(tokens.verify(token, self._secret_bytes()))

    def _schema_version(self) -> int:
        if self.conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'state'").fetchone() is None:
            return 0
        value = self.get_state("schema_version")
        return int(value) if isinstance(value, (int, str)) and str(value).isdigit() else 0

    def _migrate(self) -> None:
        version = self._schema_version()
        for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.transaction():
                migration(self.conn)
                self.set_state("schema_version", number)

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
        try:
            conn.execute("BEGIN IMMEDIATE")  # take the write lock now: a read-modify-write cannot interleave
        except sqlite3.OperationalError as exc:
            raise storage_error(exc, self.path) from exc  # StoreBusy after LOCK_TIMEOUT_MS
        try:
            yield
            self._flush_boxes()
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._property_keys.clear()  # what the rolled-back writes recorded is gone
            self._local.boxes_waiting = False  # the temporary table rolled back with the rest
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise storage_error(exc, self.path) from exc

    @contextmanager
    def bulk_write(self, expected_items: int) -> Iterator[None]:
        """A hint that about ``expected_items`` Items are about to be written in the current transaction (or,
        called outside one, in a transaction of its own that it opens and commits).

        When that is :data:`BULK_ITEMS` or more and no fewer than the Items already stored, the items
        table's secondary indexes are dropped for the writes and created again at the end (inside the same
        transaction, so a rollback brings them back as they were, and readers never see them missing), and
        the page cache is larger meanwhile. Otherwise nothing changes. Writes and reads are correct either way.

        In a transaction of its own, a first load (no Items stored yet) also runs with a rollback journal
        when no other connection has the file open (:meth:`_first_load_journal`).
        """
        conn = self.conn
        if not conn.in_transaction:
            with self._first_load_journal(expected_items), self.transaction(), self.bulk_write(expected_items):
                yield
            return
        if expected_items < BULK_ITEMS or expected_items < self.count_items():
            yield
            return
        indexes = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'items' "
                               "AND sql IS NOT NULL").fetchall()  # not the UNIQUE (collection, id): upserts need it
        conn.execute(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")
        try:
            for name, _ in indexes:
                conn.execute(f'DROP INDEX "{name}"')
            yield
        finally:
            # Also after an error: whoever catches it may still commit, and must not commit a table without
            # its indexes.
            try:
                with sorting_in_pieces(conn):
                    for _, sql in indexes:
                        conn.execute(sql)
            finally:
                conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")

    @contextmanager
    def _first_load_journal(self, expected_items: int) -> Iterator[None]:
        """A first bulk load (no Items stored) with a rollback journal instead of the WAL, when no other
        connection has the file open; the WAL again afterwards.

        In WAL mode every page of a load is written twice, into the WAL and then, at the checkpoint that
        follows the commit, into the file: at 10^6 Sentinel-2 Items that checkpoint alone took 6 s of 85. With a
        rollback journal the new pages go into the file once, and the journal holds only the few pages that
        existed before. The load is still one transaction, rolled back on any error or crash. The price: a
        reader that opens the file meanwhile waits (and after LOCK_TIMEOUT_MS gets "busy") instead of seeing
        the empty catalogue, which is why this is only for a catalogue with no Items yet, and only when
        SQLite can leave WAL mode, which it does only for the one connection that has the file open.
        """
        conn = self.conn
        switched = False
        if expected_items >= BULK_ITEMS and self.count_items() == 0:
            try:
                switched = conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0] == "delete"
            except sqlite3.OperationalError:
                switched = False  # another connection has it open: WAL, as always
        if switched:
            conn.execute("PRAGMA synchronous = FULL")  # the rollback journal's safe setting (WAL's is NORMAL)
        try:
            yield
        finally:
            if switched:
                conn.execute("PRAGMA synchronous = NORMAL")
                try:
                    conn.execute("PRAGMA journal_mode = WAL")
                except sqlite3.OperationalError:
                    pass  # a reader opened it meanwhile: the next writing connection sets WAL again (conn)

    # -- collections -------------------------------------------------------------------------
    def upsert_collection(self, doc: dict[str, Any]) -> Outcome:
        """Insert or replace a Collection; returns 'new', 'updated' or 'unchanged'."""
        collection_id = doc.get("id")
        if not isinstance(collection_id, str) or not collection_id:
            raise ValueError("a collection needs a string 'id'")
        text = _dumps(doc)
        row = self.conn.execute("SELECT num, doc FROM collections WHERE id = ?", (collection_id,)).fetchone()
        if row and row[1] == text:
            return "unchanged"
        start, end, boxes = collection_index_rows(doc)
        with self.transaction():
            if row:
                num = row[0]
                self.conn.execute('UPDATE collections SET kind = ?, doc = ?, updated = ?, "start" = ?, "end" = ? '
                                  "WHERE num = ?", (doc.get("geostudies:kind"), text, utc_now("microseconds"),
                                                    start, end, num))
                self._unindex_collection(num)
            else:
                num = self.conn.execute("SELECT ifnull(max(num), 0) + 1 FROM collections").fetchone()[0]
                self.conn.execute('INSERT INTO collections (id, kind, doc, updated, "start", "end", num) '
                                  "VALUES (?, ?, ?, ?, ?, ?, ?)", (collection_id, doc.get("geostudies:kind"), text,
                                                                   utc_now("microseconds"), start, end, num))
            for part, box in enumerate(boxes):
                self.conn.execute("INSERT INTO collections_rtree VALUES (?, ?, ?, ?, ?)",
                                  (num * BOXES_PER_COLLECTION + part, *box))
            self.conn.execute("INSERT INTO collections_fts (rowid, title, body) VALUES (?, ?, ?)",
                              (num, *collection_text(doc)))
        return "updated" if row else "new"

    def _unindex_collection(self, num: int) -> None:
        self.conn.execute("DELETE FROM collections_rtree WHERE id BETWEEN ? AND ?",
                          (num * BOXES_PER_COLLECTION, num * BOXES_PER_COLLECTION + BOXES_PER_COLLECTION - 1))
        self.conn.execute("DELETE FROM collections_fts WHERE rowid = ?", (num,))

    def delete_collection(self, collection_id: str, *, cascade: bool = False) -> int:
        row = self.conn.execute("SELECT num FROM collections WHERE id = ?", (collection_id,)).fetchone()
        if row is None:
            raise NotFound(f"no collection {collection_id!r}")
        with self.transaction():
            count = self.count_items(collection_id)
            if count and not cascade:
                raise Conflict(f"collection {collection_id!r} still has {count} item(s)")
            deleted = self.delete_items(collection_id)
            self._unindex_collection(row[0])
            self.conn.execute("DELETE FROM collections WHERE num = ?", (row[0],))
            self.conn.execute("DELETE FROM properties WHERE collection = ?", (collection_id,))
        return deleted

    def get_collection(self, collection_id: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT doc FROM collections WHERE id = ?", (collection_id,)).fetchone()
        return orjson.loads(row[0]) if row else None

    def collections(self) -> list[dict[str, Any]]:
        return [orjson.loads(r[0]) for r in self.conn.execute("SELECT doc FROM collections ORDER BY id")]

    def search_collections(self, query: CollectionQuery) -> CollectionPage:
        conditions: list[str] = []
        params: list[Any] = []
        if query.bbox:
            boxes = bbox_boxes(query.bbox)
            clause = " OR ".join("(minx <= ? AND maxx >= ? AND miny <= ? AND maxy >= ?)" for _ in boxes)
            for minx, maxx, miny, maxy in boxes:
                params += [maxx, minx, maxy, miny]
            conditions.append(f"num IN (SELECT id / {BOXES_PER_COLLECTION} FROM collections_rtree WHERE {clause})")
        if query.datetime:
            _add_overlap(conditions, params, '"start"', '"end"', query.datetime)
        if query.q:
            _add_text_match(conditions, params, "num", "collections_fts", query.q)
        where = " AND ".join(conditions) or "1"
        matched = self.conn.execute(f"SELECT count(*) FROM collections WHERE {where}", params).fetchone()[0]
        rows = self.conn.execute(f"SELECT doc FROM collections WHERE {where} ORDER BY id LIMIT ? OFFSET ?",
                                 [*params, query.limit, query.offset])
        return CollectionPage(collections=[orjson.loads(r[0]) for r in rows], matched=matched)

    # -- items: writes ------------------------------------------------------------------------
    def upsert_items(self, docs: Iterable[dict[str, Any] | RawItem], mode: WriteMode = "upsert") -> dict[str, int]:
        """Insert or update Items (matched on collection + id) in one transaction, in batches."""
        counts = {"new": 0, "updated": 0, "unchanged": 0}
        with self.transaction():
            for batch in batches(docs, WRITE_BATCH, key=item_key):
                self._write_batch(batch, mode, counts)
        return counts

    def _collection_num(self, collection: Any, item_id: Any) -> int:
        if not isinstance(collection, str) or not collection or not isinstance(item_id, str) or not item_id:
            raise ValueError(f"item {item_id!r} needs both a string 'id' and a 'collection'")
        row = self.conn.execute("SELECT num FROM collections WHERE id = ?", (collection,)).fetchone()
        if row is None:
            raise NotFound(f"no collection {collection!r} for item {item_id!r}")
        return int(row[0])

    def _existing(self, collection: str, ids: list[str]) -> dict[str, tuple[int, Any]]:
        """id -> (rowid, hash) of the given Items that are stored."""
        found: dict[str, tuple[int, Any]] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            rows = self.conn.execute(f"SELECT id, rowid, hash FROM items WHERE collection = ? AND id IN "
                                     f"({', '.join('?' * len(chunk))})", [collection, *chunk])
            found.update({r[0]: (r[1], r[2]) for r in rows})
        return found

    def _same_document(self, rowid: int, text: bytes) -> bool:
        """Whether the stored Item ``rowid`` is ``text``: asked only when the hashes differ, which they also do
        for the same document under another dictionary (or stored before hashes were of stored bytes)."""
        row = self.conn.execute("SELECT doc, zdict FROM items WHERE rowid = ?", (rowid,)).fetchone()
        return row is not None and self.codec.decode(row[0], row[1], self.conn) == text

    def _write_batch(self, docs: list[dict[str, Any] | RawItem], mode: WriteMode, counts: dict[str, int]) -> None:
        self._write_prepared(prepare_items(docs, self.codec, {}), mode, counts)

    def item_preparer(self) -> ItemPreparer:
        """What turns Items into row values away from this connection (``sqlite_rows.py``): ``geostudies load``
        runs it in worker processes and hands the results to :meth:`write_prepared`."""
        return ItemPreparer(self.codec.snapshot())

    def write_prepared(self, items: PreparedItems, mode: WriteMode = "upsert") -> dict[str, int]:
        """:meth:`upsert_items` for Items an :meth:`item_preparer` has already turned into row values."""
        counts = {"new": 0, "updated": 0, "unchanged": 0}
        with self.transaction():
            start = 0
            # In pieces of WRITE_BATCH that never hold one Item twice (as ``batches`` makes them from docs).
            for piece in batches(range(len(items)), WRITE_BATCH, key=items.keys().__getitem__):
                stop = piece[-1] + 1
                self._write_prepared(items if (start, stop) == (0, len(items)) else items.part(start, stop),
                                     mode, counts)
                start = stop
        return counts

    def _write_prepared(self, items: PreparedItems, mode: WriteMode, counts: dict[str, int]) -> None:
        """One batch, column by column: lookups once per collection, rows made with zip, one executemany each.

        When the batch before met no stored Item (a first load, a new collection) and this one needs no
        dictionary trained, its rows are inserted without looking them up first, in a savepoint: a stored Item
        makes the INSERT fail on the (collection, id) key, and the batch is written again with the lookups.
        """
        state = self._local.__dict__
        written: dict[str, int] | None = None
        if mode != "update" and state.get("last_batch_all_new") and None not in items.blob:
            self.conn.execute("SAVEPOINT unseen_items")
            try:
                written = self._write_rows(items, mode, look_up=False)
            except sqlite3.IntegrityError:
                self.conn.execute("ROLLBACK TO unseen_items")
            self.conn.execute("RELEASE unseen_items")
        if written is None:
            written = self._write_rows(items, mode, look_up=True)
        state["last_batch_all_new"] = written["new"] == len(items)
        for key, value in written.items():
            counts[key] += value

    def _write_rows(self, items: PreparedItems, mode: WriteMode, look_up: bool) -> dict[str, int]:
        conn, n = self.conn, len(items)
        counts = {"new": 0, "updated": 0, "unchanged": 0}
        nums: dict[str, int] = {}
        for collection, item_id in zip(items.collection, items.id, strict=True):
            if collection not in nums:
                nums[collection] = self._collection_num(collection, item_id)
            elif not isinstance(item_id, str) or not item_id:
                raise ValueError(f"item {item_id!r} needs both a string 'id' and a 'collection'")
        existing = {collection: self._existing(collection, [i for c, i in zip(items.collection, items.id,
                                                                              strict=True) if c == collection])
                    if look_up else {} for collection in nums}
        blobs, zdicts, digests = list(items.blob), list(items.zdict), list(items.digest)
        for collection in nums:  # documents of collections without a dictionary: train one, or compress plainly
            plain = [k for k in range(n) if blobs[k] is None and items.collection[k] == collection]
            if not plain:
                continue
            dict_id = self.codec.dict_for(collection)
            texts = [items.json[k] for k in plain]
            if dict_id is None and len(texts) >= TRAIN_AFTER:
                dict_id = self.codec.train(conn, collection, texts)  # type: ignore[arg-type]
            for k, text in zip(plain, texts, strict=True):
                assert text is not None
                blobs[k], zdicts[k] = self.codec.encode(text, dict_id)
                digests[k] = stored_digest(blobs[k], zdicts[k])  # type: ignore[arg-type]
        rowids: list[int | None] = [None] * n
        new: list[int] = []
        updated: list[int] = []
        next_rowid = int(conn.execute("SELECT ifnull(max(rowid), 0) FROM items").fetchone()[0]) + 1
        for k, (collection, item_id) in enumerate(zip(items.collection, items.id, strict=True)):
            row = existing[collection].get(item_id)
            check_write(mode, row is not None, item_id, collection)
            if row is None:
                rowids[k] = next_rowid
                next_rowid += 1
                new.append(k)
            elif row[1] == digests[k] or self._same_document(
                    row[0], items.json[k] or self.codec.decode(blobs[k], zdicts[k], conn)):  # type: ignore[arg-type]
                counts["unchanged"] += 1
            else:
                rowids[k] = row[0]
                updated.append(k)
        counts["new"] += len(new)
        counts["updated"] += len(updated)
        now = utc_now("microseconds")
        values = (items.start, items.end, items.target, items.wkb, blobs, zdicts, items.links_at, items.area,
                  digests)
        if len(new) == n:  # the common case, a batch of new Items: rows straight from the columns
            inserts: Iterable[tuple[Any, ...]] = zip(rowids, items.collection, items.id, *values, repeat(now, n),
                                                     strict=True)
        else:
            inserts = [(rowids[k], items.collection[k], items.id[k], *(column[k] for column in values), now)
                       for k in new]
        for k in updated:
            self._unindex_item(rowids[k])  # type: ignore[arg-type]
        conn.executemany("INSERT INTO items (rowid, collection, id, datetime, end_datetime, target, geometry, doc, "
                         "zdict, links_at, area_km2, hash, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         inserts)
        for collection, found in items.new_types.items():  # (after the INSERT: it may fail, see above)
            keys = self._property_keys.setdefault(collection, {})
            added = [(collection, name, kind) for name, kind in found.items() if name not in keys]
            keys.update({name: kind for _, name, kind in added})
            # A type seen once stays; 'null' is replaced as soon as a real value shows up.
            conn.executemany("INSERT INTO properties (collection, name, type) VALUES (?, ?, ?) "
                             "ON CONFLICT(collection, name) DO UPDATE SET type = excluded.type "
                             "WHERE properties.type = 'null'", added)
        conn.executemany("UPDATE items SET datetime=?, end_datetime=?, target=?, geometry=?, doc=?, zdict=?, "
                         "links_at=?, area_km2=?, hash=?, updated=? WHERE rowid=?",
                         [(*(column[k] for column in values), now, rowids[k]) for k in updated])
        # The boxes wait in a temporary table and go into the R*Tree together when the transaction ends (or a
        # search in it needs them), in Hilbert order: a whole bulk load is one well-shaped tree (hilbert.py).
        self._local.boxes_waiting = True  # per thread, like the connection and its temporary table
        start_days, end_days, collections = items.start_days, items.end_days, items.collection
        conn.executemany("INSERT OR REPLACE INTO temp.pending_boxes VALUES (?, ?, ?)", [
            (key, rowids[k] * 2 + part, pack_box(*box, start_days[k], end_days[k],  # type: ignore[operator]
                                                 nums[collections[k]], nums[collections[k]]))
            for k, part, box, key in zip(items.box_item, items.box_part, items.box, items.box_key, strict=True)
            if rowids[k] is not None])
        conn.executemany("INSERT INTO items_fts (rowid, title, body) VALUES (?, ?, ?)",
                         [(rowids[k], *text) for k, text in zip(items.text_item, items.text, strict=True)
                          if rowids[k] is not None])
        return counts

    def _flush_boxes(self) -> None:
        if getattr(self._local, "boxes_waiting", False):
            flush_pending_boxes(self.conn)
            self._local.boxes_waiting = False

    def _unindex_item(self, rowid: int) -> None:
        self.conn.execute("DELETE FROM items_rtree4 WHERE id IN (?, ?)", (rowid * 2, rowid * 2 + 1))
        self.conn.execute("DELETE FROM temp.pending_boxes WHERE id IN (?, ?)", (rowid * 2, rowid * 2 + 1))
        self.conn.execute("DELETE FROM items_fts WHERE rowid = ?", (rowid,))

    def delete_item(self, collection_id: str, item_id: str) -> None:
        row = self.conn.execute("SELECT rowid FROM items WHERE collection = ? AND id = ?",
                                (collection_id, item_id)).fetchone()
        if row is None:
            raise NotFound(f"no item {item_id!r} in collection {collection_id!r}")
        with self.transaction():
            self.conn.execute("DELETE FROM items WHERE rowid = ?", (row[0],))
            self._unindex_item(row[0])

    def delete_items(self, collection_id: str, keep_ids: set[str] | None = None) -> int:
        rows = self.conn.execute("SELECT rowid, id FROM items WHERE collection = ?", (collection_id,)).fetchall()
        doomed = [r[0] for r in rows if keep_ids is None or r[1] not in keep_ids]
        with self.transaction():
            for rowid in doomed:
                self.conn.execute("DELETE FROM items WHERE rowid = ?", (rowid,))
                self._unindex_item(rowid)
        return len(doomed)

    # -- state -------------------------------------------------------------------------------
    def set_state(self, key: str, value: Any) -> None:
        self.conn.execute("INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = "
                          "excluded.value", (key, _dumps(value)))

    def state_keys(self, prefix: str = "") -> list[str]:
        rows = self.conn.execute("SELECT key FROM state WHERE substr(key, 1, ?) = ? ORDER BY key",
                                 (len(prefix), prefix)).fetchall()
        return [r[0] for r in rows]

    def get_state(self, key: str) -> Any:
        row = self.conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            return orjson.loads(row[0])
        except orjson.JSONDecodeError:
            return row[0]

    # -- items: reads ------------------------------------------------------------------------
    def get_item(self, collection_id: str, item_id: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT doc, zdict FROM items WHERE collection = ? AND id = ?",
                                (collection_id, item_id)).fetchone()
        return self._doc(row[0], row[1]) if row else None

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
        rows = self.conn.execute("SELECT id FROM items WHERE collection = ? ORDER BY id LIMIT ?",
                                 (collection_id, limit))
        return [r[0] for r in rows]

    def iter_items(self, collection_id: str | None = None) -> Iterator[dict[str, Any]]:
        """Stream items in insertion order without holding them all in memory."""
        last = 0
        while True:
            sql = "SELECT rowid, doc, zdict FROM items WHERE rowid > ?" + (" AND collection = ?" if collection_id
                                                                              else "")
            sql += " ORDER BY rowid LIMIT 500"
            rows = self.conn.execute(sql, (last, collection_id) if collection_id else (last,)).fetchall()
            if not rows:
                return
            for _, doc, zdict in rows:
                yield self._doc(doc, zdict)
            last = rows[-1][0]

    def property_types(self, collection_id: str | None = None) -> dict[str, str]:
        """JSON type of every property seen on the items of a collection (or of all collections)."""
        if collection_id is not None:
            rows = self.conn.execute("SELECT name, type FROM properties WHERE collection = ?", (collection_id,))
            return dict(rows.fetchall())
        merged: dict[str, str] = {}
        for name, kind in self.conn.execute("SELECT name, type FROM properties"):
            if merged.get(name, "null") == "null":
                merged[name] = kind
        return merged

    def property_values(self, prop: str, collection_id: str | None = None) -> list[Any]:
        """Distinct values of a property (array properties are unnested), for queryables and filter menus."""
        column_for(prop)  # validates the name
        path = f'$.properties."{prop}"'
        where = "WHERE items.collection = ?" if collection_id else ""
        doc = "gs_json(items.doc, items.zdict)"
        sql = (f"SELECT DISTINCT CASE WHEN json_type(d.doc, '{path}') = 'array' THEN j.value "
               f"ELSE json_extract(d.doc, '{path}') END AS v FROM (SELECT {doc} AS doc FROM items {where}) AS d "
               f"LEFT JOIN json_each(d.doc, '{path}') AS j ORDER BY v")
        rows = self.conn.execute(sql, (collection_id,) if collection_id else ())
        return [r[0] for r in rows if r[0] is not None]

    # -- search ------------------------------------------------------------------------------
    _shape = staticmethod(query_shape)

    def _item_json(self, blob: Any, zdict: int | None, links_at: int | None, collection: str, item_id: str
                   ) -> ItemJSON:
        text = self.codec.decode(blob, zdict, self.conn)
        if links_at is None:  # written before schema v7
            return itemjson.with_names(itemjson.from_dict(orjson.loads(text)), collection, item_id)
        return ItemJSON(text, links_at, collection, item_id)

    def _doc(self, blob: Any, zdict: int | None) -> dict[str, Any]:
        doc: dict[str, Any] = orjson.loads(self.codec.decode(blob, zdict, self.conn))
        return doc

    def _collection_nums(self, collections: list[str] | None) -> list[int] | None:
        """The collections' numbers on the R*Tree's collection axis (None: any collection)."""
        if not collections:
            return None
        rows = self.conn.execute(f"SELECT num FROM collections WHERE id IN ({', '.join('?' * len(collections))})",
                                 collections).fetchall()
        return sorted(int(r[0]) for r in rows)

    def _index_sql(self, boxes: list[tuple[float, float, float, float]], target: str | None,
                   window: tuple[str | None, str | None] | None,
                   nums: list[int] | None = None) -> tuple[str, list[Any]]:
        """The cheap part of a spatial condition: the body, then one R*Tree over space, time and collection."""
        time_sql, time_params = "", list[float]()
        if window:
            time_sql = " AND mint <= ? AND maxt >= ?"
            time_params = [days(window[1], FAR_DAYS), days(window[0], -FAR_DAYS)]
        # One box per (antimeridian part, collection): each is a pure range search of the tree.
        ranges: list[tuple[int, int] | None] = [(n, n) for n in nums] if nums else [None]
        clauses: list[str] = []
        params: list[Any] = [target or "earth"]
        for minx, maxx, miny, maxy in boxes:
            for bounds in ranges:
                collection_sql = " AND minc <= ? AND maxc >= ?" if bounds else ""
                clauses.append(f"(minx <= ? AND maxx >= ? AND miny <= ? AND maxy >= ?{time_sql}{collection_sql})")
                params += [maxx, minx, maxy, miny, *time_params, *((bounds[1], bounds[0]) if bounds else ())]
        return (f"+items.target = ? AND items.rowid IN (SELECT id >> 1 FROM items_rtree4 WHERE "
                f"{' OR '.join(clauses)})"), params

    def _spatial_parts(self, shape: Any, op: str, target: str | None,
                       window: tuple[str | None, str | None] | None = None,
                       nums: list[int] | None = None) -> tuple[str, list[Any], str, list[Any]]:
        """(index sql, params, exact sql, params): the exact shapely test is kept apart so it can run last."""
        function = SPATIAL_FUNCTIONS.get(op)
        if function is None:
            raise QueryError(f"unsupported spatial operator {op!r} (supported: {', '.join(SPATIAL_FUNCTIONS)}, "
                             "s_disjoint)")
        minx, miny, maxx, maxy = shape.bounds
        index_sql, index_params = self._index_sql([(minx, maxx, miny, maxy)], target, window, nums)
        return index_sql, index_params, f"{function}(items.geometry, ?)", [shapely.to_wkb(shape)]

    def _spatial_sql(self, geometry: dict[str, Any], op: str = "s_intersects",
                     target: str | None = None) -> tuple[str, list[Any]]:
        """One self-contained condition, for spatial predicates inside CQL2 expressions."""
        index_sql, index_params, exact_sql, exact_params = self._spatial_parts(self._shape(geometry), op, target)
        return f"({index_sql} AND {exact_sql})", [*index_params, *exact_params]

    def _bbox_parts(self, bbox: list[float], target: str | None, window: tuple[str | None, str | None] | None,
                    nums: list[int] | None = None) -> tuple[str, list[Any], str, list[Any]]:
        index_sql, index_params = self._index_sql(bbox_boxes(bbox), target, window, nums)
        return index_sql, index_params, "gs_intersects(items.geometry, ?)", [shapely.to_wkb(bbox_shape(bbox))]

    @staticmethod
    def _sort_keys(sortby: list[tuple[str, bool]], narrowing: bool,
                   relevance: str | None = None) -> list[tuple[str, bool]]:
        """Sort expressions; catalogue (insertion) order by default, the rowid last so order is total.

        With a spatial condition the R*Tree must drive the query: the unary ``+`` keeps SQLite from walking
        an index in sort order instead (it would visit the whole catalogue for a small area).

        ``geostudies:relevance`` (``relevance``: the key of the query area) is three keys. Descending: Items that
        do not cover their whole body before those that do (global studies are about no place in particular),
        then the share of the Item's area inside the query area, largest first, then the Item's area, smallest
        first. Ascending is the exact reverse. An area of null sorts as '' (after every number ascending), as
        any property does.
        """
        plus = "+" if narrowing else ""
        if not sortby:
            return [(f"{plus}items.rowid", True)]
        keys = []
        for name, ascending in sortby:
            if name in ("datetime", "properties.datetime"):
                keys.append((f"{plus}items.datetime", ascending))
            elif name == RELEVANCE:
                if relevance is None:
                    raise QueryError(f"sortby {RELEVANCE} ranks by the query area: it needs bbox or intersects")
                keys.append((f"gs_whole(items.geometry, items.area_km2, '{relevance}')", not ascending))
                keys.append((f"gs_share(items.geometry, items.area_km2, '{relevance}')", ascending))
                keys.append((f"ifnull({plus}items.area_km2, '')", not ascending))
            elif name in ("geostudies:area_km2", "properties.geostudies:area_km2"):
                keys.append((f"ifnull({plus}items.area_km2, '')", ascending))  # the items_area index
            else:
                keys.append((f"ifnull({column_for(name)}, '')", ascending))
        # Ties in catalogue order when most relevant comes first (relevance descending), the exact reverse else.
        first, ascending = sortby[0]
        keys.append((f"{plus}items.rowid", not ascending if first == RELEVANCE else ascending))
        return keys

    def _where(self, query: SearchQuery) -> tuple[str, list[Any], list[tuple[str, bool]]]:
        """(WHERE sql, its parameters, sort keys) of an item search."""
        self._flush_boxes()  # a search inside a write transaction sees that transaction's items
        conditions: list[str] = []
        params: list[Any] = []
        spatial_query = bool(query.bbox or query.intersects)
        plus = "+" if spatial_query else ""  # the R*Tree narrows; other indexes must not be chosen instead
        nums = self._collection_nums(query.collections) if spatial_query else None
        if query.collections:
            conditions.append(f"{plus}items.collection IN ({', '.join('?' * len(query.collections))})")
            params += query.collections
        if query.ids:
            conditions.append(f"items.id IN ({', '.join('?' * len(query.ids))})")
            params += query.ids
        exact: list[str] = []
        exact_params: list[Any] = []
        spatial = None
        area = None
        if query.bbox:
            spatial = self._bbox_parts(query.bbox, query.target, query.datetime, nums)
            area = bbox_shape(query.bbox)
        elif query.intersects:
            area = self._shape(query.intersects)
            spatial = self._spatial_parts(area, "s_intersects", query.target, query.datetime, nums)
        relevance = _relevance_key(area, query.target) if area is not None and any(
            name == RELEVANCE for name, _ in query.sortby) else None
        if spatial:
            conditions.append(spatial[0])
            params += spatial[1]
            exact.append(spatial[2])  # shapely runs last, on rows every cheaper condition has kept
            exact_params += spatial[3]
        if query.datetime:
            _add_overlap(conditions, params, f"{plus}items.datetime", f"{plus}items.end_datetime", query.datetime,
                         always_end=True)
        if query.q:
            _add_text_match(conditions, params, "items.rowid", "items_fts", query.q)
        if query.filter is not None:
            translator = Translator(lambda g, op: self._spatial_sql(g, op, query.target))
            sql, p = translator.translate(query.filter)
            conditions.append(sql)
            params += p

        conditions += exact
        params += exact_params
        # Conditions an index narrows well drive the query; the sort then runs on what they keep.
        narrowing = spatial_query or bool(query.ids or query.datetime or query.q or query.filter is not None)
        return " AND ".join(conditions) or "1", params, self._sort_keys(query.sortby, narrowing, relevance)

    def index_property(self, name: str) -> str:
        """An expression index on one Item property, so filters on it (without a spatial condition) have a
        plan; returns the index name. Which properties deserve one is the operator's choice (e.g. the
        queryables users filter on most): each index costs disk and write time."""
        column = column_for(name)
        index = "items_p_" + hashlib.blake2b(name.encode(), digest_size=6).hexdigest()
        with self.transaction():
            # Index expressions may not name the table; SQLite matches them to the queries' column anyway.
            self.conn.execute(f"CREATE INDEX IF NOT EXISTS {index} ON items({column.replace('items.', '')})")
        return index

    def explain(self, query: SearchQuery) -> dict[str, list[str]]:
        """SQLite's query plans of a search's count and first page (tests assert them for each query shape)."""
        where, params, keys = self._where(query)
        order = ", ".join(f"{k} {'ASC' if asc else 'DESC'}" for k, asc in keys)
        statements = {"count": (f"SELECT count(*) FROM items WHERE {where}", params),
                      "page": (f"SELECT items.doc FROM items WHERE {where} ORDER BY {order} LIMIT ?",
                               [*params, query.limit + 1])}
        return {name: [row[3] for row in self.conn.execute(f"EXPLAIN QUERY PLAN {sql}", args)]
                for name, (sql, args) in statements.items()}

    def aggregate(self, query: SearchQuery, aggregations: dict[str, Aggregation]) -> dict[str, AggregationResult]:
        """Each aggregation as one GROUP BY over the rows the search's WHERE keeps (no paging, no sort)."""
        where, params, _ = self._where(query)
        results: dict[str, AggregationResult] = {}
        with self._deadline(query.timeout):
            for name, spec in aggregations.items():
                results[name] = self._aggregate_one(spec, where, params)
        return results

    def _aggregate_one(self, spec: Aggregation, where: str, params: list[Any]) -> AggregationResult:
        if spec.kind == "count":
            return AggregationResult(value=self.conn.execute(f"SELECT count(*) FROM items WHERE {where}",
                                                             params).fetchone()[0])
        if spec.kind in ("min", "max"):
            if spec.field != "datetime":
                raise QueryError(f"{spec.kind} aggregations are over datetime only, not {spec.field!r}")
            value = self.conn.execute(f"SELECT {spec.kind}(items.datetime) FROM items WHERE {where}",
                                      params).fetchone()[0]
            return AggregationResult(value=rfc3339(value))
        if spec.kind == "terms":
            if spec.field == "collection":
                sql = f"SELECT items.collection AS k, count(*) FROM items WHERE {where} GROUP BY k"
            else:
                # json_each walks an array's elements, or gives a scalar as its one row; no value: no row.
                # DISTINCT rowid: an Item whose array repeats a value counts once in that bucket.
                sql = (f"SELECT v.value AS k, count(DISTINCT items.rowid) FROM items, "
                       f"json_each({DOCUMENT}, {property_path(spec.field)}) AS v "
                       f"WHERE {where} AND v.value IS NOT NULL AND v.type NOT IN ('object', 'array') GROUP BY k")
            rows = self.conn.execute(sql, params).fetchall()
            return AggregationResult(buckets=terms_buckets(rows))
        if spec.kind == "interval":
            width = {"year": 4, "month": 7}.get(spec.interval)
            if width is None:
                raise QueryError(f"interval must be 'year' or 'month', not {spec.interval!r}")
            rows = self.conn.execute(f"SELECT substr(items.datetime, 1, {width}) AS k, count(*) FROM items "
                                     f"WHERE {where} AND items.datetime IS NOT NULL GROUP BY k ORDER BY k",
                                     params).fetchall()
            return AggregationResult(buckets=[Bucket(k, n) for k, n in rows])
        if spec.kind == "geotile":
            if not 0 <= spec.precision <= 12:
                raise QueryError("geotile precision must be 0..12")
            rows = self.conn.execute(
                f"SELECT json_extract({DOCUMENT}, '$.bbox'), items.geometry FROM items "
                f"WHERE {where} AND items.geometry IS NOT NULL", params).fetchall()
            return AggregationResult(buckets=geotile_buckets(
                [(orjson.loads(declared) if declared else None, geometry) for declared, geometry in rows],
                spec.precision))
        raise QueryError(f"unknown aggregation kind {spec.kind!r}")

    def search(self, query: SearchQuery, *, encoded: bool = False) -> SearchPage:
        where, params, keys = self._where(query)
        token = self._decode_token(query.token) if query.token else None
        with self._deadline(query.timeout):
            return self._run_search(query, token, where, params, keys, encoded)

    def _run_search(self, query: SearchQuery, token: dict[str, Any] | None, where: str, params: list[Any],
                    keys: list[tuple[str, bool]], encoded: bool) -> SearchPage:
        matched = token.get("m") if token else None  # counted once, on the first page; later pages carry it
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
        sql = (f"SELECT items.rowid, {select} FROM items "
               f"WHERE {' AND '.join([where, *page_conditions])} "
               f"ORDER BY {order} LIMIT ?")
        # The first page reads up to COUNT_WITH_PAGE rows in one pass: when they are all the matches, that is
        # the count, and every condition (the GEOS test above all) ran once per candidate instead of twice.
        # Only rowids and sort keys go through the sort; the documents are read for the page's rows alone.
        fetch = max(query.limit + 1, COUNT_WITH_PAGE) if not isinstance(matched, int) else query.limit + 1
        rows = self.conn.execute(sql, [*params, *page_params, fetch]).fetchall()
        if not isinstance(matched, int):
            matched = len(rows) if len(rows) < fetch else \
                self.conn.execute(f"SELECT count(*) FROM items WHERE {where}", params).fetchone()[0]
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        if direction == "prev":
            rows.reverse()
        stored = self._documents([r[0] for r in rows])
        documents = [self._item_json(*stored[r[0]]) for r in rows] if encoded else None
        items = [] if encoded else [self._doc(*stored[r[0]][:2]) for r in rows]
        next_token = prev_token = None
        if rows:
            first, last = list(rows[0][1:]), list(rows[-1][1:])
            has_next = more if direction == "next" else True
            has_prev = (query.token is not None) if direction == "next" else more
            if has_next:
                next_token = self._encode_token({"d": "next", "v": last, "m": matched})
            if has_prev:
                prev_token = self._encode_token({"d": "prev", "v": first, "m": matched})
        return SearchPage(items=items, matched=matched, next_token=next_token, prev_token=prev_token,
                          documents=documents)

    def _documents(self, rowids: list[int]) -> dict[int, tuple[Any, ...]]:
        """(doc, zdict, links_at, collection, id) of these rows, by rowid."""
        if not rowids:
            return {}
        found = self.conn.execute("SELECT rowid, doc, zdict, links_at, collection, id FROM items WHERE rowid IN "
                                  f"({', '.join('?' * len(rowids))})", rowids).fetchall()
        return {row[0]: row[1:] for row in found}

    @staticmethod
    def _keyset(keys: list[tuple[str, bool]], values: list[Any], forward: bool) -> tuple[str, list[Any]]:
        return keyset_condition(keys, values, forward, "?")



# Every public method reports sqlite3 errors as the contract's errors (StorageUnavailable for a damaged file).
for _name in ("upsert_collection", "delete_collection", "get_collection", "collections", "search_collections",
              "upsert_items", "delete_item", "delete_items", "set_state", "get_state", "state_keys", "get_item",
              "last_modified",
              "count_items", "item_ids", "property_types", "property_values", "search", "aggregate"):
    setattr(SQLiteStore, _name, _guarded(getattr(SQLiteStore, _name)))
