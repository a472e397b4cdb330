"""Core STAC API parameters (GET query string or POST JSON body): bbox, datetime, intersects, ids, limit.

Every way a request can be wrong raises :class:`SearchParamError` with a message naming the parameter;
the API turns it into a 400 JSON body. The extensions' own parameters are parsed in
``service/extensions/`` and the whole request is assembled by :mod:`service.search`.
"""
from __future__ import annotations

import math
import re
from typing import Any

import orjson
import shapely.geometry

from catalog.geometry import lonlat_problem
from catalog.store import TimestampError, normalise_timestamp

from .limits import (
    MAX_DATETIME_CHARS,
    MAX_ID_CHARS,
    MAX_LIST_ITEMS,
    check_geometry,
    check_json_depth,
)

DEFAULT_LIMIT = 10
MAX_LIMIT = 1000
MAX_IDS = MAX_LIST_ITEMS
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$")


class SearchParamError(ValueError):
    def __init__(self, description: str, code: str = "InvalidParameterValue"):
        super().__init__(description)
        self.description, self.code = description, code


def parse_list(value: Any, name: str) -> list[str] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        if len(value) > MAX_LIST_ITEMS * (MAX_ID_CHARS + 1):
            raise SearchParamError(f"'{name}' is longer than {MAX_LIST_ITEMS} ids", code="PayloadTooLarge")
        items = [v.strip() for v in value.split(",") if v.strip()]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = value
    else:
        raise SearchParamError(f"'{name}' must be a list of strings or a comma-separated string")
    if len(items) > MAX_LIST_ITEMS:
        raise SearchParamError(f"'{name}' lists more than {MAX_LIST_ITEMS} ids", code="PayloadTooLarge")
    if any(len(v) > MAX_ID_CHARS for v in items):
        raise SearchParamError(f"'{name}' has an id longer than {MAX_ID_CHARS} characters")
    return items


def parse_bbox(value: Any) -> list[float] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and len(value) > 200 or isinstance(value, list) and len(value) > 6:
        raise SearchParamError("'bbox' must be 4 or 6 numbers: west,south,east,north")
    try:
        numbers = [float(v) for v in (value.split(",") if isinstance(value, str) else value)
                   if not isinstance(v, bool)] if isinstance(value, (str, list)) else None
        if numbers is None or (isinstance(value, list) and len(numbers) != len(value)):
            raise TypeError
    except (TypeError, ValueError, OverflowError):
        raise SearchParamError("'bbox' must be 4 or 6 numbers: west,south,east,north") from None
    if len(numbers) not in (4, 6) or not all(math.isfinite(v) for v in numbers):
        raise SearchParamError("'bbox' must be 4 or 6 finite numbers: west,south,[min elevation,]east,north"
                               "[,max elevation]")
    west, south, east, north = (numbers[0], numbers[1], numbers[3], numbers[4]) if len(numbers) == 6 else numbers
    # Values beyond [-180, 180] x [-90, 90] are not an error: they simply match nothing out there.
    if south > north:
        raise SearchParamError("'bbox' south must not be greater than north (west > east is allowed: it crosses "
                               "the antimeridian)")
    if len(numbers) == 6 and numbers[2] > numbers[5]:
        raise SearchParamError("'bbox' minimum elevation must not be greater than maximum elevation")
    return numbers


def parse_datetime(value: Any) -> tuple[str | None, str | None] | None:
    """An RFC 3339 instant, or a closed or half-open interval ('..' or empty for an open end)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise SearchParamError("'datetime' must be a string")
    if len(value) > MAX_DATETIME_CHARS:
        raise SearchParamError(f"'datetime' is longer than {MAX_DATETIME_CHARS} characters")
    parts = value.split("/")
    if len(parts) > 2:
        raise SearchParamError(f"'datetime' must be an instant or an interval 'start/end', got {value!r}")
    bounds: list[str | None] = []
    for part in parts:
        part = part.strip()
        if part in ("", ".."):
            if len(parts) == 1:
                raise SearchParamError("'datetime' must not be empty or '..'")
            bounds.append(None)
            continue
        if not RFC3339.match(part):
            raise SearchParamError(f"'datetime' value {part!r} is not an RFC 3339 date-time "
                                   "(e.g. 2006-12-26T00:00:00Z)")
        try:
            bounds.append(normalise_timestamp(part))
        except TimestampError as exc:
            raise SearchParamError(f"'datetime' value {part!r} is not a valid date-time: {exc}") from None
    if len(bounds) == 1:
        return bounds[0], bounds[0]
    start, end = bounds
    if start is None and end is None:
        raise SearchParamError("'datetime' interval must have at least one closed end")
    if start and end and start > end:
        raise SearchParamError("'datetime' interval starts after it ends")
    return start, end


def json_value(value: Any, problem: str) -> Any:
    """A parameter that is JSON in a GET query string and already decoded in a POST body."""
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise SearchParamError(problem) from None
        check_json_depth(value, problem.split("'")[1] if problem.count("'") >= 2 else "parameter")
    return value


def parse_geometry(value: Any, name: str = "intersects") -> dict[str, Any] | None:
    if value is None or value == "":
        return None
    value = json_value(value, f"'{name}' must be a GeoJSON geometry object")
    check_json_depth(value, name)
    check_geometry(value, name)  # structure, nesting and vertices of every part, before shapely sees it
    try:
        shape = shapely.geometry.shape(value)
    except Exception as exc:
        raise SearchParamError(f"'{name}' is not a valid GeoJSON geometry: {exc}") from None
    if shape.is_empty:
        raise SearchParamError(f"'{name}' geometry is empty")
    outside = lonlat_problem(shape)
    if outside:
        raise SearchParamError(f"'{name}' {outside}")
    return value


def parse_limit(value: Any) -> int:
    if value is None or value == "":
        return DEFAULT_LIMIT
    try:
        limit = int(value) if not isinstance(value, bool) and not (isinstance(value, str) and len(value) > 20) \
            else None
    except (TypeError, ValueError, OverflowError):
        limit = None
    if limit is None or (isinstance(value, float) and value != int(value)):
        raise SearchParamError(f"'limit' must be an integer, got {str(value)[:40]!r}")
    if limit < 1:
        raise SearchParamError(f"'limit' must be at least 1, got {limit}")
    # STAC API: a limit above the maximum is served as the maximum, not refused.
    return min(limit, MAX_LIMIT)


