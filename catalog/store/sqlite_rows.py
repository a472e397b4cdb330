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
from collections.abc import Sequence
from typing import Any, NamedTuple

import shapely

from ..geometry import Box, shapes_of
from . import itemjson
from .fulltext import TEXT_FIELDS, document_text
from .hilbert import box_keys
from .indexing import item_area, item_boxes, item_target, item_times
from .sqlite_docs import DocCodec, stored_digest
from .types import RawItem
from .writing import new_property_types


class PreparedItem(NamedTuple):
    """The row values of one Item. ``blob``/``zdict``/``digest`` are None when its collection had no
    compression dictionary yet: the writer trains one (it needs the database) and compresses ``json``."""

    collection: Any
    id: Any
    json: bytes | None
    links_at: int
    blob: bytes | None
    zdict: int | None
    digest: bytes | None
    start: str
    end: str
    start_days: float
    end_days: float
    target: str
    wkb: bytes | None
    area: float | None
    boxes: list[Box]
    box_keys: list[int]
    text: tuple[str, str] | None
    new_types: dict[str, str]


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
                  known_types: dict[str, dict[str, str]]) -> list[PreparedItem]:
    """The row values of ``docs``; ``known_types`` (collection -> property -> type) is what the caller has
    already been told, and is updated, so each item reports only property types new to it."""
    shapes, shape_bounds = _wkb_of([doc.get("geometry") for doc in docs])
    prepared = []
    for given, wkb, bounds in zip(docs, shapes, shape_bounds, strict=True):
        # The indexing helpers read a dict; a RawItem's fields are put in one once (its .get is ~5x slower).
        doc: dict[str, Any] = given if isinstance(given, dict) else {
            "id": given.id, "collection": given.collection, "bbox": given.bbox, "geometry": given.geometry,
            "properties": given.properties}
        collection = doc.get("collection")
        json, links_at = (given.json, given.links_at) if isinstance(given, RawItem) else _stored(doc)
        encoded = codec.encode_trained(str(collection), json)
        blob, zdict = encoded if encoded else (None, None)
        props: dict[str, Any] = doc.get("properties") or {}
        start, end, start_days, end_days = item_times(doc)
        boxes = index_boxes(doc, bounds)
        prepared.append(PreparedItem(
            collection=collection, id=doc.get("id"), json=None if encoded else json,
            links_at=links_at, blob=blob, zdict=zdict,
            digest=stored_digest(blob, zdict) if blob is not None and zdict is not None else None,
            start=start, end=end, start_days=start_days, end_days=end_days, target=item_target(doc), wkb=wkb,
            area=item_area(doc), boxes=boxes, box_keys=[],
            # nothing to find beyond the id: no FTS row
            text=None if _TEXT_KEYS.isdisjoint(props) else document_text(doc),
            new_types=new_property_types(props, known_types.setdefault(str(collection), {}))))
    keys = iter(box_keys([(0, *box, item.start_days) for item in prepared for box in item.boxes]))
    for item in prepared:
        item.box_keys.extend(next(keys) for _ in item.boxes)
    return prepared


class ItemPreparer:
    """:func:`prepare_items` with a snapshot of a store's dictionaries, to be sent to a worker process once
    (it pickles with the dictionaries' bytes) and called there for every batch."""

    def __init__(self, codec: DocCodec) -> None:
        self.codec = codec
        self.known_types: dict[str, dict[str, str]] = {}

    def __call__(self, docs: Sequence[dict[str, Any] | RawItem]) -> list[PreparedItem]:
        return prepare_items(docs, self.codec, self.known_types)
