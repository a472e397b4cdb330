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
MAX_SAFE_INTEGER = 2**53 - 1  # the largest 'limit' taken (above MAX_LIMIT it is served as MAX_LIMIT)
MAX_IDS = MAX_LIST_ITEMS

# The forms of the query-string values, as ECMA-262 patterns: the OpenAPI document publishes them and the
# parsers below match with them, so the two say the same. Classes are explicit ([0-9], not \d, which is
# Unicode in Python) and no quantifier is unbounded where a value would overflow.
NUMBER = r"[-+]?(?:[0-9]{1,20}(?:\.[0-9]{0,20})?|\.[0-9]{1,20})(?:[eE][-+]?[0-9]{1,2})?"
_N = f" *{NUMBER} *"
BBOX_PATTERN = f"^{_N},{_N},{_N},{_N}(?:,{_N},{_N})?$"
_YEAR = "(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
_LEAP_YEAR = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
_MONTH_DAY = ("(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
              "|02-(?:0[1-9]|1[0-9]|2[0-8]))")
INSTANT = (f"(?:{_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
           "(?:\\.[0-9]{1,9})?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])")
DATETIME_PATTERN = f"^(?:{INSTANT}|{INSTANT}/(?:{INSTANT}|\\.\\.)?|(?:\\.\\.)?/{INSTANT})$"
RFC3339 = re.compile(INSTANT)  # used with fullmatch
_BBOX = re.compile(BBOX_PATTERN[1:-1])
_INTEGER = re.compile(r"-?[0-9]{1,30}")


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
    """4 or 6 numbers: a JSON array (POST) or comma-separated text of the BBOX_PATTERN form (GET)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        if not _BBOX.fullmatch(value):
            raise SearchParamError("'bbox' must be 4 or 6 comma-separated numbers: west,south,east,north (or "
                                   "west,south,min elevation,east,north,max elevation)")
        numbers = [float(v) for v in value.split(",")]
    elif isinstance(value, list) and len(value) in (4, 6) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        try:
            numbers = [float(v) for v in value]
        except OverflowError:  # an integer too large for a float
            numbers = [math.inf]
    else:
        raise SearchParamError("'bbox' must be 4 or 6 numbers: west,south,east,north")
    if not all(math.isfinite(v) for v in numbers):
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
        if part in ("", ".."):
            if len(parts) == 1:
                raise SearchParamError("'datetime' must not be empty or '..'")
            bounds.append(None)
            continue
        if not RFC3339.fullmatch(part):
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


def parse_small_limit(value: str | None, default: int, maximum: int) -> int:
    """``limit`` of a short list endpoint (related studies, place suggestions): digits from 1 to ``maximum``,
    refused above it (unlike an item search's, which is served at its maximum)."""
    if value in (None, ""):
        return default
    if not value.isdigit() or not 1 <= int(value) <= maximum:
        raise SearchParamError(f"'limit' must be a whole number from 1 to {maximum}, got {value!r}")
    return int(value)


def parse_limit(value: Any) -> int:
    """A whole number from 1 to MAX_SAFE_INTEGER (JSON integer in a body, digits in a query string); above
    MAX_LIMIT it is served as MAX_LIMIT, as the STAC API requires."""
    if value is None or value == "":
        return DEFAULT_LIMIT
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        limit = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        limit = value
    else:
        raise SearchParamError(f"'limit' must be a whole number, got {str(value)[:40]!r}")
    if limit < 1:
        raise SearchParamError(f"'limit' must be at least 1, got {limit}")
    if limit > MAX_SAFE_INTEGER:
        raise SearchParamError(f"'limit' must be at most {MAX_SAFE_INTEGER} (any value above {MAX_LIMIT} is "
                               f"served as {MAX_LIMIT})")
    # STAC API: a limit above the maximum is served as the maximum, not refused.
    return min(limit, MAX_LIMIT)
