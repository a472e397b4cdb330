"""STAC API search parameters (GET query string or POST JSON body) -> :class:`SearchQuery`.

Every way a request can be wrong raises :class:`SearchParamError` with a message naming the
parameter; the API turns it into a 400 JSON body. Filter, Query-extension and free-text
parameters all end up in the same CQL2-JSON machinery.
"""
from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any, Mapping

import cql2
import orjson
import shapely.geometry

from catalog.store import SearchQuery, normalise_timestamp

DEFAULT_LIMIT = 10
MAX_LIMIT = 1000
MAX_IDS = 1000
MAX_VERTICES = 10_000
MAX_FILTER_CHARS = 20_000
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$")
GEOMETRY_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon",
                  "GeometryCollection")
QUERY_OPS = {"eq": "=", "neq": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}


class SearchParamError(ValueError):
    def __init__(self, description: str, code: str = "InvalidParameterValue"):
        super().__init__(description)
        self.description, self.code = description, code


def _list(value: Any, name: str) -> list[str] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",") if v.strip()]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = value
    else:
        raise SearchParamError(f"'{name}' must be a list of strings or a comma-separated string")
    return items


def parse_bbox(value: Any) -> list[float] | None:
    if value is None or value == "":
        return None
    try:
        numbers = [float(v) for v in (value.split(",") if isinstance(value, str) else value)]
    except (TypeError, ValueError):
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
        except ValueError as exc:
            raise SearchParamError(f"'datetime' value {part!r} is not a valid date-time: {exc}") from None
    if len(bounds) == 1:
        return bounds[0], bounds[0]
    start, end = bounds
    if start is None and end is None:
        raise SearchParamError("'datetime' interval must have at least one closed end")
    if start and end and start > end:
        raise SearchParamError("'datetime' interval starts after it ends")
    return start, end


def _count_vertices(coords: Any) -> int:
    if isinstance(coords, (list, tuple)) and coords and isinstance(coords[0], (int, float)):
        return 1
    if isinstance(coords, (list, tuple)):
        return sum(_count_vertices(c) for c in coords)
    return 0


def _json_value(value: Any, problem: str) -> Any:
    """A parameter that is JSON in a GET query string and already decoded in a POST body."""
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            raise SearchParamError(problem) from None
    return value


def parse_geometry(value: Any, name: str = "intersects") -> dict[str, Any] | None:
    if value is None or value == "":
        return None
    value = _json_value(value, f"'{name}' must be a GeoJSON geometry object")
    if not isinstance(value, dict) or value.get("type") not in GEOMETRY_TYPES:
        raise SearchParamError(f"'{name}' must be a GeoJSON geometry with a type of {', '.join(GEOMETRY_TYPES)}")
    key = "geometries" if value["type"] == "GeometryCollection" else "coordinates"
    if key not in value:
        raise SearchParamError(f"'{name}' geometry has no '{key}'")
    if _count_vertices(value.get("coordinates", [])) > MAX_VERTICES:
        raise SearchParamError(f"'{name}' geometry has more than {MAX_VERTICES} vertices", code="PayloadTooLarge")
    try:
        shape = shapely.geometry.shape(value)
    except Exception as exc:
        raise SearchParamError(f"'{name}' is not a valid GeoJSON geometry: {exc}") from None
    if shape.is_empty:
        raise SearchParamError(f"'{name}' geometry is empty")
    minx, miny, maxx, maxy = shape.bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise SearchParamError(f"'{name}' coordinates must be lon/lat within [-180, 180] x [-90, 90]")
    return value


def parse_limit(value: Any) -> int:
    if value is None or value == "":
        return DEFAULT_LIMIT
    try:
        limit = int(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        limit = None
    if limit is None or (isinstance(value, float) and value != int(value)):
        raise SearchParamError(f"'limit' must be an integer, got {value!r}")
    if limit < 1:
        raise SearchParamError(f"'limit' must be at least 1, got {limit}")
    # STAC API: a limit above the maximum is served as the maximum, not refused.
    return min(limit, MAX_LIMIT)


def parse_sortby(value: Any) -> list[tuple[str, bool]]:
    if value is None or value == "":
        return []
    fields: list[tuple[str, bool]] = []
    if isinstance(value, str):
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            ascending = not part.startswith("-")
            fields.append((part.lstrip("+- "), ascending))
    elif isinstance(value, list):
        for entry in value:
            if not isinstance(entry, dict) or not isinstance(entry.get("field"), str):
                raise SearchParamError("'sortby' entries must be objects like {\"field\": \"datetime\", "
                                       "\"direction\": \"desc\"}")
            direction = str(entry.get("direction", "asc")).lower()
            if direction not in ("asc", "desc"):
                raise SearchParamError("'sortby' direction must be 'asc' or 'desc'")
            fields.append((entry["field"], direction == "asc"))
    else:
        raise SearchParamError("'sortby' must be a string like '-datetime,id' or a list of objects")
    return [(f[len("properties."):] if f.startswith("properties.") else f, asc) for f, asc in fields]


def parse_fields(value: Any, present: bool = False) -> tuple[list[str] | None, list[str]] | None:
    """Fields extension -> (include, exclude), or None when not asked (``present``: the key was sent).

    ``include`` is None when the request names no include at all (everything but the excludes), and
    a list, possibly empty, when it does (empty: the default field set).
    """
    if value is None and present:
        raise SearchParamError("'fields' must be an object like {\"include\": [...], \"exclude\": [...]}, not null")
    if value is None:
        return None
    if isinstance(value, str):
        parts = [f.strip() for f in value.split(",") if f.strip()]
        include = [f.lstrip("+") for f in parts if not f.startswith("-")]
        exclude = [f[1:] for f in parts if f.startswith("-")]
        return (include if include or not exclude else None), exclude
    if isinstance(value, dict):
        include, exclude = value.get("include"), value.get("exclude") or []
        if include is not None and not isinstance(include, list) or not isinstance(exclude, list) \
                or not all(isinstance(f, str) for f in [*(include or []), *exclude]):
            raise SearchParamError("'fields' include/exclude must be lists of strings")
        if "include" not in value:
            include = None if exclude else []
        else:
            include = include or []
        return include, list(exclude)
    raise SearchParamError("'fields' must be a string like 'id,-properties.description' or "
                           "{\"include\": [...], \"exclude\": [...]}")


def _legacy_between(node: Any) -> Any:
    """Accept the pre-1.0 CQL2-JSON form between(prop, [lo, hi]) as between(prop, lo, hi)."""
    if isinstance(node, list):
        return [_legacy_between(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _legacy_between(v) for k, v in node.items()}
    args = node.get("args")
    if node.get("op") == "between" and isinstance(args, list) and len(args) == 2 \
            and isinstance(args[1], list) and len(args[1]) == 2:
        node["args"] = [args[0], *args[1]]
    return node


def parse_filter(value: Any, lang: Any) -> dict[str, Any] | None:
    """CQL2 text or JSON -> canonical CQL2-JSON (parsed and validated by the cql2 library).

    Results are cached: the cql2 binding compiles its JSON Schema validator on every call (~17 ms), and
    clients repeat the same filters while paging. Each caller gets a fresh copy of the cached JSON.
    """
    if lang not in (None, "", "cql2-text", "cql2-json"):
        raise SearchParamError(f"'filter-lang' must be 'cql2-text' or 'cql2-json', got {lang!r}")
    if value is None or value == "":
        return None
    key = value if isinstance(value, str) else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return orjson.loads(_canonical_filter(key, isinstance(value, str), lang))


@lru_cache(maxsize=512)
def _canonical_filter(key: str, is_text: bool, lang: Any) -> bytes:
    value: Any = key if is_text else orjson.loads(key)
    try:
        if isinstance(value, dict):
            if lang == "cql2-text":
                raise SearchParamError("'filter' is a JSON object but 'filter-lang' is cql2-text")
            expr = cql2.Expr(_legacy_between(value))
        elif isinstance(value, str):
            if len(value) > MAX_FILTER_CHARS:
                raise SearchParamError(f"'filter' is longer than {MAX_FILTER_CHARS} characters", code="PayloadTooLarge")
            if lang == "cql2-json" or value.lstrip().startswith("{"):
                expr = cql2.parse_json(value)
            else:
                expr = cql2.parse_text(value)
        else:
            raise SearchParamError("'filter' must be CQL2 text or a CQL2-JSON object")
        expr.validate()
        return orjson.dumps(expr.to_json())
    except SearchParamError:
        raise
    except Exception as exc:  # cql2 raises ParseError/ValidationError and ValueError subclasses
        message = re.sub(r"\s+", " ", str(exc)).strip()[:400]
        raise SearchParamError(f"'filter' is not valid CQL2: {message}") from None


def _coerce(value: Any, numeric: bool) -> Any:
    """Query-extension clients often send numbers as strings ("2024"); match the property's type."""
    if numeric and isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise SearchParamError(f"'query' value {value!r} must be a number for this property") from None
        return int(number) if number.is_integer() else number
    return value


def query_to_cql2(value: Any, property_types: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """The Query extension ({"prop": {"op": value}}) expressed as CQL2-JSON."""
    if value is None or value == "":
        return None
    value = _json_value(value, "'query' must be a JSON object")
    if not isinstance(value, dict):
        raise SearchParamError("'query' must be an object like {\"geostudies:year\": {\"gte\": 2024}}")
    args: list[dict[str, Any]] = []
    for prop, ops in value.items():
        if not isinstance(ops, dict) or not ops:
            raise SearchParamError(f"'query.{prop}' must be an object of operators (eq, neq, lt, lte, gt, gte, "
                                   "startsWith, endsWith, contains, in)")
        ref = {"property": prop}
        kind = (property_types or {}).get(prop.removeprefix("properties."))
        numeric = kind == "number"
        for op, operand in ops.items():
            if op in QUERY_OPS:
                args.append({"op": QUERY_OPS[op], "args": [ref, _coerce(operand, numeric)]})
            elif op in ("startsWith", "endsWith", "contains"):
                if not isinstance(operand, str):
                    raise SearchParamError(f"'query.{prop}.{op}' needs a string")
                escaped = operand.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                pattern = {"startsWith": f"{escaped}%", "endsWith": f"%{escaped}", "contains": f"%{escaped}%"}[op]
                args.append({"op": "like", "args": [ref, pattern]})
            elif op == "in":
                if not isinstance(operand, list):
                    raise SearchParamError(f"'query.{prop}.in' needs a list")
                values = [_coerce(v, numeric) for v in operand]
                # On an array property (disciplines, datasets) 'in' means: shares a value with the list.
                args.append({"op": "a_overlaps" if kind == "array" else "in", "args": [ref, values]})
            else:
                raise SearchParamError(f"'query.{prop}' has unknown operator {op!r}")
    if not args:
        return None
    return {"op": "and", "args": args} if len(args) > 1 else args[0]


def parse_q(value: Any) -> list[str] | None:
    if value is None or value == "":
        return None
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise SearchParamError("'q' must be a string or a list of strings")
        return [v for v in value if v.strip()]
    if isinstance(value, str):
        return [v for v in value.split(",") if v.strip()]
    raise SearchParamError("'q' must be a string or a list of strings")


KNOWN = {"bbox", "datetime", "intersects", "ids", "collections", "limit", "token", "q", "filter", "filter-lang",
         "filter-crs", "sortby", "fields", "query", "body", "target", "f"}


def parse_search(params: Mapping[str, Any], method: str = "GET",
                 property_types: Mapping[str, str] | None = None) -> SearchQuery:
    """Build a SearchQuery from request parameters; raises SearchParamError on any bad value.

    All parameters apply together (ids included), as STAC API 1.0.0 item search specifies.
    """
    if method == "POST":
        if params.get("bbox") is not None and not isinstance(params["bbox"], list):
            raise SearchParamError("'bbox' in a POST body must be a JSON array of numbers")
        if params.get("intersects") is not None and not isinstance(params["intersects"], dict):
            raise SearchParamError("'intersects' in a POST body must be a GeoJSON geometry object")
    ids = _list(params.get("ids"), "ids")
    if ids and len(ids) > MAX_IDS:
        raise SearchParamError(f"'ids' lists more than {MAX_IDS} ids", code="PayloadTooLarge")
    if params.get("filter-crs") not in (None, "", "http://www.opengis.net/def/crs/OGC/1.3/CRS84"):
        raise SearchParamError("'filter-crs' must be http://www.opengis.net/def/crs/OGC/1.3/CRS84")
    bbox = parse_bbox(params.get("bbox"))
    intersects = parse_geometry(params.get("intersects"))
    if bbox and intersects:
        raise SearchParamError("use either 'bbox' or 'intersects', not both")
    filters = [f for f in (parse_filter(params.get("filter"), params.get("filter-lang")),
                           query_to_cql2(params.get("query"), property_types)) if f]
    token = params.get("token")
    if token is not None and not isinstance(token, str):
        raise SearchParamError("'token' must be a string")
    target = params.get("target")
    if target == "":
        target = None
    if target is not None and (not isinstance(target, str) or not re.fullmatch(r"[a-z]{2,20}", target.lower())):
        raise SearchParamError("'target' must be a body name such as 'earth', 'moon' or 'mars'")
    return SearchQuery(
        collections=_list(params.get("collections"), "collections"), ids=ids, bbox=bbox, intersects=intersects,
        datetime=parse_datetime(params.get("datetime")), q=parse_q(params.get("q")),
        filter=(filters[0] if len(filters) == 1 else {"op": "and", "args": filters}) if filters else None,
        sortby=parse_sortby(params.get("sortby")), limit=parse_limit(params.get("limit")),
        token=token or None, target=target.lower() if target else None,
    )
