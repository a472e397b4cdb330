"""Bulk-loading STAC Items from newline-delimited JSON through the store, all or nothing.

Each line is checked before anything is written: a JSON object, ``type`` Feature, a string ``id``, the
collection (the line's own or the one given), a valid GeoJSON geometry (or null), a parseable
``datetime`` or ``start_datetime``/``end_datetime``, and a bbox of 4 or 6 numbers. Every bad line is
reported as ``file:line: field: problem``; with any problem nothing is written (unless the caller asks to
skip bad lines). Items are written in batches inside one transaction, so a failed load leaves the
catalogue as it was.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from .geometry import lonlat_problem, to_shape
from .records import Problem
from .store import Store
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


def item_problems(doc: Any, collection_id: str | None) -> list[tuple[str, str]]:
    """(field, problem) for everything that stops ``doc`` from being a storable STAC Item."""
    if not isinstance(doc, dict):
        return [("(line)", "is not a JSON object")]
    found = []
    if doc.get("type") != "Feature":
        found.append(("type", f"must be 'Feature', got {doc.get('type')!r}"))
    problem = id_problem(doc.get("id"))
    if problem:
        found.append(("id", problem))
    if collection_id is None and not isinstance(doc.get("collection"), str):
        found.append(("collection", "is missing (give --collection)"))
    geometry = doc.get("geometry")
    if geometry is not None:
        try:
            shape = to_shape(geometry)
            outside = lonlat_problem(shape) if (doc.get("properties") or {}).get("geostudies:target",
                                                                                 "earth") == "earth" else None
            if shape.is_empty:
                found.append(("geometry", "is empty"))
            elif outside:
                found.append(("geometry", outside))
        except ValueError as exc:
            found.append(("geometry", str(exc)))
    props = doc.get("properties")
    if not isinstance(props, dict):
        found.append(("properties", "must be an object"))
        return found
    stamps = [k for k in ("datetime", "start_datetime", "end_datetime") if props.get(k)]
    if not props.get("datetime") and not (props.get("start_datetime") and props.get("end_datetime")):
        found.append(("properties.datetime", "is required (or start_datetime and end_datetime)"))
    for key in stamps:
        try:
            normalise_timestamp(props[key])
        except TimestampError as exc:
            found.append((f"properties.{key}", str(exc)))
    bbox = doc.get("bbox")
    if bbox is not None and (not isinstance(bbox, list) or len(bbox) not in (4, 6)
                             or not all(isinstance(v, (int, float)) for v in bbox)):
        found.append(("bbox", "must be 4 or 6 numbers"))
    if not isinstance(doc.get("assets", {}), dict) or not isinstance(doc.get("links", []), list):
        found.append(("assets/links", "assets must be an object and links a list"))
    return found


def read_ndjson(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON or the parse error) for every non-empty line."""
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield number, exc


def load_items(store: Store, path: Path, *, collection: dict[str, Any] | None = None, skip_invalid: bool = False,
               progress: Callable[[int], None] | None = None) -> LoadReport:
    """Upsert every Item of ``path`` (and first ``collection``) in one transaction; see the module doc."""
    report = LoadReport()
    collection_id = collection["id"] if collection else None
    problems: list[Problem] = []
    bad_lines: set[int] = set()
    for number, doc in read_ndjson(path):  # first pass: check everything, write nothing
        found = ([("(line)", f"is not JSON: {doc}")] if isinstance(doc, Exception)
                 else item_problems(doc, collection_id))
        if found:
            bad_lines.add(number)
            problems += [Problem(f"{path}:{number}", where, message) for where, message in found]
    if problems and not skip_invalid:
        raise LoadRefused(problems)
    report.skipped = problems

    def good() -> Iterable[dict[str, Any]]:
        for number, doc in read_ndjson(path):
            if number in bad_lines:
                continue
            if collection_id is not None:
                doc["collection"] = collection_id
            report.read += 1
            yield doc

    with store.transaction():
        if collection is not None:
            store.upsert_collection({"geostudies:kind": "user", **collection})
        batch: list[dict[str, Any]] = []
        for doc in good():
            batch.append(doc)
            if len(batch) >= BATCH:
                _write(store, batch, report, progress)
        _write(store, batch, report, progress)
    return report


def _write(store: Store, batch: list[dict[str, Any]], report: LoadReport,
           progress: Callable[[int], None] | None) -> None:
    if not batch:
        return
    counts = store.upsert_items(batch)
    report.new += counts["new"]
    report.updated += counts["updated"]
    report.unchanged += counts["unchanged"]
    if progress:
        progress(len(batch))
    batch.clear()
