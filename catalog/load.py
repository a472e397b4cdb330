"""Bulk-loading STAC Items from newline-delimited JSON through the store, all or nothing.

Each line is checked as it is read: a JSON object, ``type`` Feature, a string ``id``, the
collection (the line's own or the one given), a valid GeoJSON geometry (or null), a parseable
``datetime`` or ``start_datetime``/``end_datetime``, and a bbox of 4 or 6 numbers. Every bad line is
reported as ``file:line: field: problem``; with any problem the load is rolled back (unless the caller asks
to skip bad lines). Items are written in batches inside one transaction, so a failed load leaves the
catalogue as it was. Each line is decoded once, with msgspec into only the fields a store indexes (a full
parse of a Sentinel-2 Item costs ~10x more here), and the line's own bytes are what is stored.

A big file on a store that can prepare rows away from its connection (SQLite) is read in spans by worker
processes, which decode, check and turn Items into row values; this process only writes them, in file
order, inside the same single transaction (10^6 Sentinel-2 Items on 2 cores: ~9,700 items/s in one process,
~15,500-19,000 with two workers).
"""
from __future__ import annotations

import gc
import multiprocessing
import os
import re
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from .records import Problem
from .store import RawItem, Store, itemjson
from .times import TimestampError, normalise_timestamp

BATCH = 2000


class LoadRefused(Exception):
    """Bad lines: nothing was written. Carries every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s); nothing was loaded")


@dataclass
class LoadReport:
    read: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[Problem] = field(default_factory=list)
    by_workers: int = 0  # of ``read``, the Items decoded and prepared in worker processes


UNSERVABLE_ID = re.compile(r"[/\\?#\x00-\x1f\x7f]")
MAX_ID_CHARS = 256


def id_problem(value: Any) -> str | None:
    """Why ``value`` cannot be an Item or Collection id the API can serve at /collections/{c}/items/{id}."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if len(value) > MAX_ID_CHARS:
        return f"must be at most {MAX_ID_CHARS} characters"
    if UNSERVABLE_ID.search(value):
        return "must not contain '/', '\\', '?', '#' or control characters (it could not be fetched by URL)"
    return None


class _Item(msgspec.Struct):
    """What a store indexes of an Item: decoded without the rest (assets, links), which is kept as bytes."""

    type: Any = None
    id: Any = None
    collection: Any = None
    bbox: Any = None
    geometry: Any = None
    properties: Any = None
    assets: msgspec.Raw = msgspec.Raw(b"{}")
    links: msgspec.Raw = msgspec.Raw(b"[]")


_DECODE = msgspec.json.Decoder(_Item)


def _item_of(members: itemjson.Members) -> _Item:
    """The indexed fields from a line's raw members (each decoded on its own; assets and links stay raw)."""
    def value(raw: msgspec.Raw | msgspec.UnsetType) -> Any:
        return None if raw is msgspec.UNSET else msgspec.json.decode(raw)

    return _Item(type=value(members.type), id=value(members.id), collection=value(members.collection),
                 bbox=value(members.bbox), geometry=value(members.geometry), properties=value(members.properties),
                 assets=msgspec.Raw(b"{}") if members.assets is msgspec.UNSET else members.assets,
                 links=msgspec.Raw(b"[]") if members.links is msgspec.UNSET else members.links)


def item_problems(doc: Any, collection_id: str | None) -> list[tuple[str, str]]:
    """(field, problem) for everything that stops ``doc`` (a dict or a decoded line) from being a storable Item."""
    if isinstance(doc, dict):
        doc = _Item(**{k: doc.get(k) for k in ("type", "id", "collection", "bbox", "geometry", "properties")},
                    assets=msgspec.Raw(msgspec.json.encode(doc.get("assets", {}))),
                    links=msgspec.Raw(msgspec.json.encode(doc.get("links", []))))
    if not isinstance(doc, _Item):
        return [("(line)", "is not a JSON object")]
    found = []
    if doc.type != "Feature":
        found.append(("type", f"must be 'Feature', got {doc.type!r}"))
    problem = id_problem(doc.id)
    if problem:
        found.append(("id", problem))
    if collection_id is None and not isinstance(doc.collection, str):
        found.append(("collection", "is missing (give --collection)"))
    props = doc.properties
    if not isinstance(props, dict):
        found.append(("properties", "must be an object"))
        return found
    bbox = doc.bbox
    bbox_numbers = isinstance(bbox, list) and len(bbox) in (4, 6) and (
        set(map(type, bbox)) <= _NUMBER_TYPES or all(isinstance(v, (int, float)) for v in bbox))  # (subclasses)
    if doc.geometry is not None:
        on_earth = props.get("geostudies:target", "earth") == "earth"
        bbox_ok = (bbox_numbers and len(bbox) == 4 and -180 <= bbox[0] <= 180 and -180 <= bbox[2] <= 180
                   and -90 <= bbox[1] <= bbox[3] <= 90)
        # A valid lon/lat bbox vouches for the positions' range; GEOS reads the structure in the store.
        found += _geometry_problems(doc.geometry, on_earth and not bbox_ok, shallow=bbox_ok)
    times = [props.get(key) for key in TIME_KEYS]  # datetime, start_datetime, end_datetime
    if not times[0] and not (times[1] and times[2]):
        found.append(("properties.datetime", "is required (or start_datetime and end_datetime)"))
    for key, value in zip(TIME_KEYS, times, strict=True):
        if value:
            try:
                normalise_timestamp(value)
            except TimestampError as exc:
                found.append((f"properties.{key}", str(exc)))
    if bbox is not None and not bbox_numbers:
        found.append(("bbox", "must be 4 or 6 numbers"))
    if not _starts(doc.assets, b"{") or not _starts(doc.links, b"["):
        found.append(("assets/links", "assets must be an object and links a list"))
    return found


TIME_KEYS = ("datetime", "start_datetime", "end_datetime")
_NUMBER_TYPES = frozenset({int, float, bool})  # (bool: isinstance(True, int), as the checks always allowed)


def _starts(raw: msgspec.Raw, char: bytes) -> bool:
    """Whether raw JSON text starts with ``char``, looking at its first byte only (msgspec's Raw values start
    at the value: no whitespace before it)."""
    first = memoryview(raw)
    return len(first) > 0 and first[0] == char[0]


GEOMETRY_DEPTH = {"Point": 1, "MultiPoint": 2, "LineString": 2, "MultiLineString": 3, "Polygon": 3, "MultiPolygon": 4}


def _geometry_problems(geometry: Any, on_earth: bool, shallow: bool = False) -> list[tuple[str, str]]:
    """Structure and lon/lat range, checked without building the shape (the store reads it with GEOS)."""
    if not isinstance(geometry, dict):
        return [("geometry", "is not a GeoJSON geometry")]
    kind = geometry.get("type")
    if kind == "GeometryCollection":
        parts = geometry.get("geometries")
        if not isinstance(parts, list) or not parts:
            return [("geometry", "a GeometryCollection needs geometries")]
        return [p for part in parts for p in _geometry_problems(part, on_earth, shallow)][:1]
    depth = GEOMETRY_DEPTH.get(kind)  # type: ignore[arg-type]
    if depth is None:
        return [("geometry", f"unknown geometry type {kind!r}")]
    coordinates = geometry.get("coordinates")
    if shallow and kind == "Polygon" and isinstance(coordinates, list) and len(coordinates) == 1 and \
            isinstance(coordinates[0], list) and coordinates[0]:
        return []  # the common case, one ring with positions, answered without the general walk below (~3 µs)
    points: list[Any] = [coordinates]
    for _ in range(depth - 1):
        if not all(isinstance(p, list) for p in points):
            return [("geometry", f"coordinates are not nested as a {kind} needs")]
        points = [q for p in points for q in p]
    if not points:
        return [("geometry", "is empty")]
    if shallow:
        return []
    for point in points:
        if not (isinstance(point, list) and len(point) >= 2 and all(isinstance(v, (int, float)) for v in point)):
            return [("geometry", f"has a position that is not [lon, lat]: {point!r}"[:120])]
        if on_earth and not (-180 <= point[0] <= 180 and -90 <= point[1] <= 90):
            return [("geometry", f"has coordinates outside lon [-180, 180] / lat [-90, 90]: {point!r}")]
    return []


@contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic garbage collector off for a load: decoding allocates millions of small acyclic objects, and
    the collector's passes over them cost ~16 % of a load's time (measured: 7,479 against 8,890 items/s at
    10^5); reference counting still frees everything. Restored as it was afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def expected_lines(path: Path, sample: int = 100) -> int:
    """About how many lines ``path`` has: its size over the mean length of its first ``sample`` lines."""
    total = n = 0
    with open(path, "rb") as handle:
        for line in handle:
            total, n = total + len(line), n + 1
            if n >= sample:
                break
    return round(path.stat().st_size / (total / n)) if n and total else 0


PARALLEL_AT = 20_000        # expected Items from which a load prepares rows in worker processes
SPAN_BYTES = 8 << 20        # the file goes to the workers in spans of about this many bytes (~1,000 S2 Items)


def default_workers() -> int:
    """Worker processes for a load: one per core (the writing process mostly waits on SQLite meanwhile)."""
    return max(1, min(4, os.cpu_count() or 1))


def load_items(store: Store, path: Path, *, collection: dict[str, Any] | None = None, skip_invalid: bool = False,
               progress: Callable[[int], None] | None = None, workers: int | None = None) -> LoadReport:
    """Upsert every Item of ``path`` (and first ``collection``) in one transaction; see the module doc.

    One pass: each line is decoded once (only the fields a store indexes; assets and links stay bytes),
    checked, and written in batches; a problem anywhere rolls the whole load back unless ``skip_invalid``.
    With a store that can prepare rows away from its connection (``item_preparer``/``write_prepared``:
    SQLiteStore) and a big file, ``workers`` processes (default :func:`default_workers`) decode, check and
    prepare spans of the file while this process only writes, in file order, so the outcome is the same.
    """
    loader = _Loader(store, path, collection["id"] if collection else None, skip_invalid, progress)
    # An optional store capability (SQLiteStore has it): told how many Items are coming, it may defer index work.
    bulk_write = getattr(store, "bulk_write", None)
    expected = expected_lines(path)
    workers = default_workers() if workers is None else workers
    parallel = workers > 0 and expected >= PARALLEL_AT and hasattr(store, "item_preparer")
    # In a transaction of its own (which the store's bulk_write opens when it has one): all or nothing.
    with paused_gc(), (bulk_write(expected) if bulk_write else store.transaction()):
        if collection is not None:
            store.upsert_collection({"geostudies:kind": "user", **collection})
        spans = iter(file_spans(path, SPAN_BYTES))
        for span in spans:
            loader.take_lines(read_span(path, *span), base=loader.lines)
            if parallel and loader.report.read >= BATCH:
                # The first batch went through the store's own path, which trains compression dictionaries;
                # the workers get them with the preparer.
                loader.take_prepared_spans(spans, workers)  # the rest of the spans: this loop ends
        loader.finish()
    loader.report.skipped = loader.problems
    return loader.report


def file_spans(path: Path, size: int) -> Iterator[tuple[int, int]]:
    """(start, end) byte offsets covering ``path`` in pieces of about ``size`` bytes, each ending a line."""
    total = path.stat().st_size
    with open(path, "rb") as handle:
        start = 0
        while start < total:
            handle.seek(min(start + size, total))
            handle.readline()
            end = min(handle.tell(), total)
            yield start, end
            start = end


def read_span(path: Path, start: int, end: int) -> list[memoryview]:
    """The lines of ``path`` between two offsets from :func:`file_spans` (empty ones included: numbering), as
    views into one buffer: no line is copied (the stored form is built from them once, in ``parse_line``)."""
    with open(path, "rb") as handle:
        handle.seek(start)
        data = handle.read(end - start)
    view, find = memoryview(data), data.find
    lines, at = [], 0
    while at < len(data):  # only "\n" ends a line, as in iterating the file
        stop = find(b"\n", at)
        stop = len(data) if stop < 0 else stop
        lines.append(view[at:stop])
        at = stop + 1
    return lines


def parse_line(line: bytes | memoryview, collection_id: str | None) -> RawItem | list[tuple[str, str]] | None:
    """A line as a RawItem, or (field, problem) pairs for what stops it being one; None for a blank line."""
    if len(line) <= 2 and not bytes(line).strip():
        return None
    try:
        members = itemjson.members_of(line)
        doc = _DECODE.decode(line) if members is None else _item_of(members)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return [("(line)", f"is not JSON of an object: {exc}")]
    found = item_problems(doc, collection_id)
    if found:
        return found
    override = collection_id if collection_id is not None and doc.collection != collection_id else None
    stored = itemjson.from_line(line, override, members)
    return RawItem(json=stored.json, links_at=stored.links_at, id=doc.id, collection=collection_id or doc.collection,
                   bbox=doc.bbox, geometry=doc.geometry, properties=doc.properties)


@dataclass
class _SpanResult:
    lines: int
    prepared: list[Any]  # a store's prepared batches (SQLite: sqlite_rows.PreparedItems), in file order
    problems: list[tuple[int, str, str]]  # (line number within the span, field, problem)


class _Loader:
    """The state of one load: where in the file it is, what it found, what waits to be written."""

    def __init__(self, store: Store, path: Path, collection_id: str | None, skip_invalid: bool,
                 progress: Callable[[int], None] | None) -> None:
        self.store, self.path, self.collection_id = store, path, collection_id
        self.skip_invalid, self.progress = skip_invalid, progress
        self.report = LoadReport()
        self.problems: list[Problem] = []
        self.batch: list[RawItem] = []
        self.lines = 0

    @property
    def refusing(self) -> bool:
        return bool(self.problems) and not self.skip_invalid

    def _problem(self, number: int, where: str, message: str) -> None:
        self.problems.append(Problem(f"{self.path}:{number}", where, message))

    def take_lines(self, lines: Sequence[bytes | memoryview], base: int) -> None:
        for number, line in enumerate(lines, start=base + 1):
            parsed = parse_line(line, self.collection_id)
            if isinstance(parsed, list):
                for where, message in parsed:
                    self._problem(number, where, message)
            elif parsed is not None and not self.refusing:  # once refused: only keep checking
                self.batch.append(parsed)
                self.report.read += 1
                if len(self.batch) >= BATCH:
                    self._flush()
        self.lines = base + len(lines)

    def take_prepared_spans(self, spans: Iterator[tuple[int, int]], workers: int) -> None:
        """The remaining spans through ``workers`` processes, written here in file order; at most two spans
        per worker are in flight, so memory stays flat however big the file."""
        store: Any = self.store
        self._flush()
        context = multiprocessing.get_context("fork")  # the workers need only the preparer, sent once
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                                 initargs=(store.item_preparer(), self.collection_id)) as pool:
            waiting: deque[Future[_SpanResult]] = deque()
            for span in spans:
                waiting.append(pool.submit(_prepare_span, self.path, *span))
                if len(waiting) >= 2 * workers:
                    self._take_result(waiting.popleft().result())
            while waiting:
                self._take_result(waiting.popleft().result())

    def _take_result(self, result: _SpanResult) -> None:
        for number, where, message in result.problems:
            self._problem(self.lines + number, where, message)
        self.lines += result.lines
        if self.refusing:
            return
        store: Any = self.store
        for batch in result.prepared:
            self.report.read += len(batch)
            self.report.by_workers += len(batch)
            self._count(store.write_prepared(batch), len(batch))

    def _flush(self) -> None:
        if self.batch and not self.refusing:
            self._count(self.store.upsert_items(self.batch), len(self.batch))
        self.batch.clear()

    def finish(self) -> None:
        if self.refusing:
            raise LoadRefused(self.problems)
        self._flush()

    def _count(self, counts: dict[str, int], written: int) -> None:
        self.report.new += counts["new"]
        self.report.updated += counts["updated"]
        self.report.unchanged += counts["unchanged"]
        if self.progress:
            self.progress(written)


# The state of a worker process of a parallel load (set once by the pool's initializer; one per process).
_worker: dict[str, Any] = {}


def _start_worker(preparer: Callable[[list[RawItem]], list[Any]], collection_id: str | None) -> None:
    _worker.update(preparer=preparer, collection_id=collection_id)


def _prepare_span(path: Path, start: int, end: int) -> _SpanResult:
    gc.disable()  # as in the writing process (paused_gc): many small acyclic objects
    lines = read_span(path, start, end)
    items: list[RawItem] = []
    problems: list[tuple[int, str, str]] = []
    for number, line in enumerate(lines, start=1):
        parsed = parse_line(line, _worker["collection_id"])
        if isinstance(parsed, list):
            problems += [(number, where, message) for where, message in parsed]
        elif parsed is not None:
            items.append(parsed)
    prepared = [_worker["preparer"](items[i:i + BATCH]) for i in range(0, len(items), BATCH)]
    return _SpanResult(len(lines), prepared, problems)
