"""The per-Item work of a SQLite write, apart from the connection, so that it can run in worker processes.

Writing an Item means turning it into the values of its rows: the compressed document and its hash, the
geometry as WKB, the stored times and their place on the R*Tree's time axis, the index boxes and their
Hilbert keys, the text of its FTS row, the types of properties not seen before. None of that needs the
database. ``SQLiteStore.upsert_items`` runs :func:`prepare_items` in process; ``geostudies load`` runs the
same function in worker processes (``catalog/load.py``) and the one writing connection only inserts what
comes back. One path either way, so both write the same rows.
"""
from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import shapely

from ..geometry import Box, shapes_of
from . import itemjson
from .fulltext import TEXT_FIELDS, document_text
from .hilbert import keys_of
from .indexing import item_area, item_boxes, item_target, item_times
from .sqlite_docs import DocCodec, stored_digest
from .types import RawItem
from .writing import new_property_types


@dataclass
class PreparedItems:
    """The row values of a batch of Items, a list per column (each as long as ``id``), with the boxes flat:
    box ``j`` belongs to Item ``box_item[j]`` and is its ``box_part[j]``-th. ``blob``/``zdict``/``digest``
    of an Item are None when its collection had no compression dictionary yet: the writer trains one (it
    needs the database) and compresses ``json``. ``new_types`` holds the property types (collection ->
    property -> type) that this batch is the first to report.

    Columns, not an object per Item: a batch crosses from a worker process to the writer as a few long
    lists, which pickle and unpickle ~2x faster than as many small tuples, and the writer makes its rows
    with ``zip``."""

    collection: list[Any] = field(default_factory=list)
    id: list[Any] = field(default_factory=list)
    json: list[bytes | None] = field(default_factory=list)
    links_at: list[int] = field(default_factory=list)
    blob: list[bytes | None] = field(default_factory=list)
    zdict: list[int | None] = field(default_factory=list)
    digest: list[bytes | None] = field(default_factory=list)
    start: list[str] = field(default_factory=list)
    end: list[str] = field(default_factory=list)
    start_days: list[float] = field(default_factory=list)
    end_days: list[float] = field(default_factory=list)
    target: list[str] = field(default_factory=list)
    wkb: list[bytes | None] = field(default_factory=list)
    area: list[float | None] = field(default_factory=list)
    box_item: list[int] = field(default_factory=list)
    box_part: list[int] = field(default_factory=list)
    box: list[Box] = field(default_factory=list)
    box_key: list[int] = field(default_factory=list)
    text_item: list[int] = field(default_factory=list)
    text: list[tuple[str, str]] = field(default_factory=list)
    new_types: dict[str, dict[str, str]] = field(default_factory=dict)

    ITEM_COLUMNS: ClassVar[tuple[str, ...]] = (
        "collection", "id", "json", "links_at", "blob", "zdict", "digest", "start", "end", "start_days",
        "end_days", "target", "wkb", "area")  # the order prepare_items makes each Item's values in

    def __len__(self) -> int:
        return len(self.id)

    def keys(self) -> list[tuple[Any, Any]]:
        """(collection, id) of each Item, what a write matches it on."""
        return list(zip(self.collection, self.id, strict=True))

    def part(self, start: int, stop: int) -> PreparedItems:
        """Items ``start`` to ``stop`` (with their boxes and texts); the new property types go with the first
        part (they are the collection's, whichever Item showed them)."""
        out = PreparedItems(**{name: getattr(self, name)[start:stop] for name in self.ITEM_COLUMNS})
        lo, hi = bisect_left(self.box_item, start), bisect_left(self.box_item, stop)
        out.box_item = [k - start for k in self.box_item[lo:hi]]
        out.box_part, out.box, out.box_key = self.box_part[lo:hi], self.box[lo:hi], self.box_key[lo:hi]
        lo, hi = bisect_left(self.text_item, start), bisect_left(self.text_item, stop)
        out.text_item, out.text = [k - start for k in self.text_item[lo:hi]], self.text[lo:hi]
        out.new_types = self.new_types if start == 0 else {}
        return out


_TEXT_KEYS = frozenset(TEXT_FIELDS)


def _wkb_of(geometries: list[Any]) -> tuple[list[bytes | None], list[Any]]:
    """WKB and bounds (minx, miny, maxx, maxy) of a batch of GeoJSON geometries."""
    present, shapes = shapes_of(geometries)
    out: list[bytes | None] = [None] * len(geometries)
    bounds: list[Any] = [None] * len(geometries)
    if present:
        # As Python floats, converted once: index_boxes compares them item by item, 2x faster than numpy scalars.
        for i, wkb, box in zip(present, shapely.to_wkb(shapes), shapely.bounds(shapes).tolist(), strict=True):
            out[i], bounds[i] = wkb, box
    return out, bounds


def _stored(doc: dict[str, Any]) -> tuple[bytes, int]:
    stored = itemjson.from_dict(doc)
    return stored.json, stored.links_at


def index_boxes(doc: Any, bounds: Any) -> list[Box]:
    """The R*Tree boxes of an Item, covering its geometry even when a declared bbox is too small: the index
    must never miss an Item that the exact geometry test would keep."""
    boxes = item_boxes(doc)
    if len(boxes) == 1 and bounds is not None and not math.isnan(bounds[0]):
        (minx, maxx, miny, maxy), (gx0, gy0, gx1, gy1) = boxes[0], bounds
        return [(min(minx, gx0), max(maxx, gx1), min(miny, gy0), max(maxy, gy1))]
    return boxes


def prepare_items(docs: Sequence[dict[str, Any] | RawItem], codec: DocCodec,
                  known_types: dict[str, dict[str, str]]) -> PreparedItems:
    """The row values of ``docs``; ``known_types`` (collection -> property -> type) is what the caller has
    already been told, and is updated, so each batch reports only property types new to it."""
    out = PreparedItems()
    shapes, shape_bounds = _wkb_of([doc.get("geometry") for doc in docs])
    rows = []  # a tuple per Item, turned into columns at the end (zip: one pass in C)
    boxes = out.box
    for k, (given, wkb, bounds) in enumerate(zip(docs, shapes, shape_bounds, strict=True)):
        # The indexing helpers read a dict; a RawItem's fields are put in one once (its .get is ~5x slower).
        doc: dict[str, Any] = given if isinstance(given, dict) else {
            "id": given.id, "collection": given.collection, "bbox": given.bbox, "geometry": given.geometry,
            "properties": given.properties}
        collection = doc.get("collection")
        json, links_at = (given.json, given.links_at) if isinstance(given, RawItem) else _stored(doc)
        encoded = codec.encode_trained(str(collection), json)
        blob, zdict = encoded if encoded else (None, None)
        digest = stored_digest(blob, zdict) if blob is not None and zdict is not None else None
        props: dict[str, Any] = doc.get("properties") or {}
        start, end, start_days, end_days = item_times(doc)
        rows.append((collection, doc.get("id"), None if encoded else json, links_at, blob, zdict, digest, start, end,
                     start_days, end_days, item_target(doc), wkb, item_area(doc)))
        own_boxes = index_boxes(doc, bounds)
        boxes += own_boxes
        out.box_item += [k] * len(own_boxes)
        out.box_part += range(len(own_boxes))
        if not _TEXT_KEYS.isdisjoint(props):  # else nothing to find beyond the id: no FTS row
            out.text_item.append(k)
            out.text.append(document_text(doc))
        found = new_property_types(props, known_types.setdefault(str(collection), {}))
        if found:
            out.new_types.setdefault(str(collection), {}).update(found)
    for name, column in zip(PreparedItems.ITEM_COLUMNS, zip(*rows, strict=True), strict=False):
        setattr(out, name, list(column))
    starts = out.start_days
    out.box_key = keys_of(boxes, [starts[k] for k in out.box_item])
    return out


class ItemPreparer:
    """:func:`prepare_items` with a snapshot of a store's dictionaries, to be sent to a worker process once
    (it pickles with the dictionaries' bytes) and called there for every batch."""

    def __init__(self, codec: DocCodec) -> None:
        self.codec = codec
        self.known_types: dict[str, dict[str, str]] = {}

    def __call__(self, docs: Sequence[dict[str, Any] | RawItem]) -> PreparedItems:
        return prepare_items(docs, self.codec, self.known_types)
