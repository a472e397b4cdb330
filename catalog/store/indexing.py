"""What of a STAC document a store indexes: its time interval, body, boxes and property types.

Backend-neutral: the SQLite backend uses these, and another backend can too, so that every store
interprets a document the same way.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import shapely.geometry

from ..geometry import Box, bbox_boxes
from ..times import MAX_TIME, MIN_TIME, UTC_STAMP, normalise_timestamp, parse_timestamp, store_form

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
FAR_DAYS = 1e7  # beyond any real date: open interval ends on the R*Tree's time axis
# An Item whose ``datetime`` only stands in for a time its data do not have (a deep-time, lab or model study
# dated by its publication) says so with this property; it is then indexed with no time at all, and a datetime
# search (open or closed) never matches it. Its ``datetime`` is still what sorting by datetime uses.
NO_DATA_TIME = "geostudies:datetime_is_publication_date"
NO_TIME_END = ""                 # the stored end of such an Item: before every window's start
NO_TIME_DAYS = -2 * FAR_DAYS     # its place on the R*Tree's time axis: outside every window
AREA = "geostudies:area_km2"     # indexed as a number (sorting by area, relevance's second key)


def has_data_time(doc: dict[str, Any]) -> bool:
    return not (doc.get("properties") or {}).get(NO_DATA_TIME)


def item_area(doc: dict[str, Any]) -> float | None:
    value = (doc.get("properties") or {}).get(AREA)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def item_interval(doc: dict[str, Any]) -> tuple[str, str]:
    """(start, end) of an Item in the store's sortable UTC form; open ends become the extremes."""
    props = doc.get("properties", {})
    start = props.get("start_datetime") or props.get("datetime")
    end = props.get("end_datetime") or props.get("datetime")
    if not has_data_time(doc):
        return (normalise_timestamp(start) if start else MIN_TIME, NO_TIME_END)
    return (normalise_timestamp(start) if start else MIN_TIME, normalise_timestamp(end) if end else MAX_TIME)


def item_times(doc: dict[str, Any]) -> tuple[str, str, float, float]:
    """(start, end, start days, end days): the interval in the store's form and on the R*Tree's time axis,
    from one parse of each timestamp (the write path calls this for every Item)."""
    props = doc.get("properties", {})
    raw_start = props.get("start_datetime") or props.get("datetime")
    raw_end = props.get("end_datetime") or props.get("datetime")
    start, start_days = _store_form_and_days(raw_start) if raw_start else (MIN_TIME, -FAR_DAYS)
    if raw_end == raw_start:  # an instant: one parse
        end, end_days = (start, start_days) if raw_end else (MAX_TIME, FAR_DAYS)
    else:
        end, end_days = _store_form_and_days(raw_end) if raw_end else (MAX_TIME, FAR_DAYS)
    if not has_data_time(doc):
        return start, NO_TIME_END, NO_TIME_DAYS, NO_TIME_DAYS
    return start, end, start_days, end_days


def _store_form_and_days(raw: str) -> tuple[str, float]:
    """(store form, days since 1970) of a timestamp; the common ``...Z`` form without a datetime round trip."""
    match = UTC_STAMP.fullmatch(raw) if isinstance(raw, str) else None
    if match:
        whole, fraction = match.group(1), (match.group(2) or "").ljust(6, "0")
        moment = dt.datetime.fromisoformat(whole).replace(tzinfo=dt.timezone.utc)
        return f"{whole}.{fraction}Z", (moment - EPOCH).total_seconds() / 86400 + int(fraction) / 86400e6
    moment = parse_timestamp(raw)
    return store_form(moment), (moment - EPOCH).total_seconds() / 86400


def item_target(doc: dict[str, Any]) -> str:
    """The body an Item's coordinates are on: ``geostudies:target``, else the first ``ssys:targets``, else earth."""
    props = doc.get("properties", {})
    return str(props.get("geostudies:target") or (props.get("ssys:targets") or ["earth"])[0]).lower()


def item_boxes(doc: dict[str, Any]) -> list[Box]:
    """The R*Tree boxes of an Item: its bbox (or its geometry's bounds), split at the antimeridian."""
    bbox = doc.get("bbox")
    geometry = doc.get("geometry")
    if not bbox and geometry:
        bbox = list(shapely.geometry.shape(geometry).bounds)
    return bbox_boxes(bbox) if bbox else []


def days(stamp: str | None, default: float) -> float:
    """A stored timestamp as days since 1970 (the time axis of the space-time R*Tree)."""
    if stamp is None or stamp in (MIN_TIME, MAX_TIME):
        return default
    # fromisoformat reads the store's fixed form ~40x faster than strptime (twice per Item loaded or searched).
    return (dt.datetime.fromisoformat(stamp) - EPOCH).total_seconds() / 86400


def collection_index_rows(doc: dict[str, Any]) -> tuple[str, str, list[Box]]:
    """(start, end, boxes) of a Collection's overall extent, for Collection Search."""
    extent = doc.get("extent") or {}
    intervals = (extent.get("temporal") or {}).get("interval") or [[None, None]]
    lo, hi = (intervals[0] + [None, None])[:2] if isinstance(intervals[0], list) else (None, None)
    start = normalise_timestamp(lo) if lo else MIN_TIME
    end = normalise_timestamp(hi) if hi else MAX_TIME
    boxes: list[Box] = []
    for bbox in (extent.get("spatial") or {}).get("bbox") or []:
        if isinstance(bbox, list) and len(bbox) in (4, 6):
            boxes += bbox_boxes(bbox)
    return start, end, boxes[:64]


def json_type(value: Any) -> str:
    """The JSON Schema type name of a value (queryables are described with these)."""
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
